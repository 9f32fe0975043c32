"""``sacrop review`` as people run it: a process that prints its URL first, serves until Ctrl-C
and leaves FILE complete."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from helpers import REPO, read_jsonl

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
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/\?token=[\w-]{32}", url), url
        port, token = re.search(r":(\d+)/\?token=(.+)", url).groups()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/photos?token={token}") as r:
            page = json.load(r)
        change = json.dumps({"index": 2, "ratio": "4:3", "action": "rank", "rank": 2}).encode()
        post = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/change?token={token}",
            data=change,
            headers={"Content-Type": "application/json"},
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
