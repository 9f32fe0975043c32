"""``sacrop review`` as people run it: a process that prints its URL first, serves until Ctrl-C
and leaves FILE complete."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from helpers import REPO, read_jsonl, run

from sacrop_cli.record import new_record


def crop_manifest(photo_dir: Path, path: Path) -> list[dict]:
    """What ``crop -r 4:3 -k 2 --dry-run --manifest`` could have written for the photos (so the
    review reuses it and loads no network)."""
    records = []
    for name, (w, h) in (
        ("chelsea-cat.jpg", (451, 300)),
        ("coffee.jpg", (600, 400)),
        ("sub/rocket.jpg", (640, 427)),
    ):
        record = new_record(photo_dir / name, (w, h))
        for rank, box in ((1, [0, 0, 400, 300]), (2, [20, 0, 420, 300])):
            record["crops"].append(
                {
                    "ratio": "4:3",
                    "rank": rank,
                    "box": box,
                    "score": 1 / rank,
                    "note": None,
                    "path": None,
                    "status": "dry-run",
                }
            )
        records.append(record)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return records


def exchange(url: str) -> dict[str, str] | None:
    """The Cookie header a first visit of ``url`` (its one-time code) sets; None when refused."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("GET", f"/?{parts.query}")
    answer = conn.getresponse()
    answer.read()
    conn.close()
    if answer.status != 303:
        return None
    assert answer.getheader("Location") == "/"
    return {"Cookie": answer.getheader("Set-Cookie").split(";")[0]}


@pytest.mark.slow
def test_the_url_first_then_ctrl_c_leaves_file_complete(photo_dir, tmp_path):
    manifest = tmp_path / "review.jsonl"
    given = crop_manifest(photo_dir, manifest)
    proc = subprocess.Popen(
        [sys.executable, "-m", "sacrop_cli", "review", photo_dir, tmp_path / "gone.jpg"]
        + ["-r", "4:3", "--manifest", manifest, "--no-browser"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = proc.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/\?code=[\w-]{32}", url), url
        port = re.search(r":(\d+)/", url)[1]
        cookie = exchange(url)  # the code for the cookie, once
        assert exchange(url) is None
        photos = urllib.request.Request(f"http://127.0.0.1:{port}/api/photos", headers=cookie)
        with urllib.request.urlopen(photos) as r:
            page = json.load(r)
        change = json.dumps({"index": 2, "ratio": "4:3", "action": "rank", "rank": 2}).encode()
        post = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/change",
            data=change,
            headers={"Content-Type": "application/json", **cookie},
        )
        with urllib.request.urlopen(post) as r:
            assert r.status == 200
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert page["total"] == 4  # the missing path is shown, with its error
    assert (proc.returncode, out) == (1, "")  # a given path failed
    assert f"error: {tmp_path / 'gone.jpg'}: no such file or folder" in err
    assert f"review ended; the choices are in {manifest}" in err
    saved = read_jsonl(manifest)
    assert [r["source"] for r in saved] == [str(tmp_path / "gone.jpg")] + [
        r["source"] for r in given
    ]
    assert saved[2]["proposals"] == given[1]["crops"]
    assert (saved[2]["crops"][0]["box"], saved[2]["crops"][0]["chosen"]) == (
        [20, 0, 420, 300],
        "rank",
    )
    assert saved[3]["crops"] == given[2]["crops"][:1]


@pytest.mark.slow
def test_a_browser_that_waits_blocks_nothing_and_gets_a_code_of_its_own(photo_dir, tmp_path):
    """Issue 32, item 10: ``$BROWSER`` may wait until its window closes; what it is given (on
    its command line, for every local user to read) is a one-time code, not the token."""
    manifest = tmp_path / "review.jsonl"
    crop_manifest(photo_dir, manifest)
    browser = tmp_path / "browser"
    browser.write_text(  # its own output elsewhere: the review's pipes close when it ends
        f'#!/bin/sh\necho $$ > {tmp_path / "pid"}\necho "$1" > {tmp_path / "given"}\n'
        "exec sleep 600 > /dev/null 2>&1\n"
    )
    browser.chmod(0o755)
    proc = subprocess.Popen(
        [sys.executable, "-m", "sacrop_cli", "review", photo_dir, "-r", "4:3"]
        + ["--manifest", manifest],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "BROWSER": str(browser)},
    )
    try:
        url = proc.stdout.readline().strip()
        cookie = exchange(url)  # the server answers while the browser waits
        assert cookie is not None
        for _ in range(100):
            if (tmp_path / "given").exists() and (tmp_path / "given").read_text():
                break
            time.sleep(0.1)
        given = (tmp_path / "given").read_text().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/\?code=[\w-]{32}", given), given
        assert given != url and cookie["Cookie"].split("=", 1)[1] not in given
        assert exchange(given) == cookie and exchange(given) is None
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
        if (tmp_path / "pid").exists():
            os.kill(int((tmp_path / "pid").read_text()), signal.SIGTERM)
    assert proc.returncode == 0


def test_a_file_that_cannot_be_saved_stops_the_review_before_any_analysis(
    photo_dir, tmp_path, monkeypatch
):
    """Issue 32, item 14: found at once, not after every photo was analysed."""
    from sacrop_cli.viz import review_records

    def analyse(*args, **kwargs):
        raise AssertionError("analysed before finding FILE could not be saved")

    monkeypatch.setattr(review_records, "analyse", analyse)
    (tmp_path / "a-file").write_text("")
    manifest = tmp_path / "a-file" / "review.jsonl"
    result = run("review", photo_dir, "--manifest", manifest, "--no-browser")
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {manifest}: cannot write: {tmp_path / 'a-file'} does not take new files\n"
    )


def test_review_takes_the_hints_crop_takes(photo_dir, tmp_path):
    from helpers import run

    result = run("review", "--help")
    for option in ("--keep", "--avoid", "--focus", "--hints"):
        assert option in result.output
    bad = run("review", photo_dir, "--manifest", tmp_path / "r.jsonl", "--focus", "1,2,3")
    assert bad.exit_code == 2 and "a point is two numbers x,y" in bad.output
