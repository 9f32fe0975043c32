"""The review's server, probed over HTTP in process: its token, the Host it answers, the photos
it serves (thumbnails of those given, nothing else) and a change saved to FILE."""

from __future__ import annotations

import http.client
import io
import json
import os
import re
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import EXAMPLES, leftovers, read_jsonl, serving
from PIL import Image

from sacrop_cli.errors import SacropError
from sacrop_cli.record import new_record
from sacrop_cli.viz import review
from sacrop_cli.viz.review import THUMB_SIDE, VIEW_SIDE, ReviewServer, _Handler
from sacrop_cli.viz.review_records import review_form


def record(source: Path, size: tuple[int, int]) -> dict:
    """A reviewable record: rank 1 the whole photo, rank 2 its centre quarter (4:3 photos)."""
    w, h = size
    made = new_record(source, size)
    made["crops"] = [
        {"ratio": "4:3", "rank": 1, "box": [0, 0, w, h], "score": 0.9, "note": None},
        {"ratio": "4:3", "rank": 2, "box": [w // 4, h // 4, w * 3 // 4, h * 3 // 4], "score": 0.5},
    ]
    for c in made["crops"]:
        c.update(note=None, path=None, status="dry-run")
    return review_form(made)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ReviewServer]:
    """A server on a free port over two photos (a missing third one failed), in a thread."""
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(EXAMPLES / "picos-de-europa.jpg", photos / "picos.jpg")  # 1600 x 1200
    shutil.copy(EXAMPLES / "coffee.jpg", photos / "coffee.jpg")  # 600 x 400
    records = [
        {**new_record(tmp_path / "gone.jpg"), "status": "error", "error": "gone.jpg: no such"},
        record(photos / "picos.jpg", (1600, 1200)),
        record(photos / "coffee.jpg", (600, 400)),
    ]
    with serving(records, tmp_path / "review.jsonl") as server:
        yield server


def request(
    server: ReviewServer,
    path: str,
    *,
    method: str = "GET",
    body: object = None,
    headers: dict[str, str] | None = None,
    token: bool = True,
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
    if token:
        path += ("&" if "?" in path else "?") + f"token={server.token}"
    data = None if body is None else json.dumps(body).encode()
    sent = {"Host": f"127.0.0.1:{server.server_port}", **(headers or {})}
    if data is not None:
        sent["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=sent)
    answer = conn.getresponse()
    result = answer.status, dict(answer.getheaders()), answer.read()
    conn.close()
    return result


def test_the_token_in_the_query_sets_the_cookie(served):
    assert len(served.token) >= 32
    status, headers, body = request(served, "/")
    assert status == 200 and b'<script src="/review.js"' in body
    assert headers["Set-Cookie"] == (
        f"sacrop_review_{served.server_port}={served.token}; Path=/; HttpOnly; SameSite=Strict"
    )
    assert headers["Content-Security-Policy"].startswith("default-src 'self'")


@pytest.mark.parametrize("path", ["/", "/review.js", "/api/photos", "/thumb/1.jpg", "/nothing"])
def test_without_the_token_everything_is_forbidden(served, path):
    assert request(served, path, token=False)[0] == 403
    assert request(served, path + "?token=wrong", token=False)[0] == 403
    wrong_cookie = {"Cookie": f"sacrop_review_{served.server_port}=wrong"}
    assert request(served, path, token=False, headers=wrong_cookie)[0] == 403


def test_the_cookie_alone_is_enough(served):
    cookie = {"Cookie": f"other=1; sacrop_review_{served.server_port}={served.token}"}
    status, headers, _ = request(served, "/review.js", token=False, headers=cookie)
    assert status == 200 and "Set-Cookie" not in headers


@pytest.mark.parametrize(
    "host", ["evil.example:{port}", "evil.example", "127.0.0.1:1", "", "[::1]"]
)
def test_a_foreign_host_is_forbidden_even_with_the_token(served, host):
    headers = {"Host": host.format(port=served.server_port)}
    assert request(served, "/api/photos", headers=headers)[0] == 403


@pytest.mark.parametrize("host", ["localhost:{port}", "LOCALHOST", "127.0.0.1"])
def test_local_names_are_served(served, host):
    headers = {"Host": host.format(port=served.server_port)}
    assert request(served, "/api/photos", headers=headers)[0] == 200


def test_photos_come_a_page_at_a_time(served):
    status, _, body = request(served, "/api/photos?offset=1&limit=1")
    page = json.loads(body)
    assert (status, page["total"], page["offset"], page["done"]) == (200, 3, 1, 0)
    assert page["file"] == str(served.session.path)
    [photo] = page["photos"]
    assert (photo["index"], Path(photo["source"]).name, photo["width"]) == (1, "picos.jpg", 1600)
    [entry] = photo["ratios"]
    assert (entry["ratio"], entry["aspect"], entry["crop"]["box"]) == (
        "4:3",
        4 / 3,
        [0, 0, 1600, 1200],
    )
    assert [p["rank"] for p in entry["proposals"]] == [1, 2]
    assert request(served, "/api/photos?offset=x")[0] == 400


def test_a_thumbnail_not_the_photo_goes_to_the_browser(served):
    status, headers, body = request(served, "/thumb/1.jpg")
    assert (status, headers["Content-Type"]) == (200, "image/jpeg")
    assert Image.open(io.BytesIO(body)).size == (THUMB_SIDE, THUMB_SIDE * 3 // 4)
    assert request(served, "/thumb/1.jpg")[2] == body  # kept
    # the selected photo's larger image: 1600 x 1200 is already at VIEW_SIDE
    status, headers, large = request(served, "/view/1.jpg")
    assert (status, headers["Content-Type"]) == (200, "image/jpeg")
    assert Image.open(io.BytesIO(large)).size == (VIEW_SIDE, VIEW_SIDE * 3 // 4)
    assert request(served, "/view/0.jpg")[0] == 404  # the photo that failed


@pytest.mark.parametrize(
    "path",
    [
        "/thumb/0.jpg",  # the photo that failed
        "/thumb/3.jpg",  # no such photo
        "/thumb/-1.jpg",
        "/thumb/..%2Fphotos%2Fpicos.jpg",
        "/photos/picos.jpg",
        "/../photos/coffee.jpg",
        "/review_page/index.html",
    ],
)
def test_nothing_but_the_given_photos_thumbnails_is_served(served, path):
    assert request(served, path)[0] == 404


def test_a_change_is_saved_to_file_before_the_answer(served):
    change = {"index": 2, "ratio": "4:3", "action": "box", "box": [10, 10, 110, 85]}
    status, _, body = request(served, "/api/change", method="POST", body=change)
    assert status == 200
    crop = read_jsonl(served.session.path)[2]["crops"][0]
    # 100 x 75 is 25 steps of 4 x 3, about its centre
    assert (crop["box"], crop["chosen"]) == ([10, 10, 110, 85], "box")
    assert json.loads(body)["ratios"][0]["crop"] == crop
    assert leftovers(served.session.path.parent) == []
    change = {"index": 1, "ratio": "4:3", "action": "rank", "rank": 2}
    assert request(served, "/api/change", method="POST", body=change)[0] == 200
    saved = read_jsonl(served.session.path)
    assert saved[1]["crops"][0]["box"] == [400, 300, 1200, 900]
    assert saved[2]["crops"][0]["box"] == [10, 10, 110, 85]  # the first change kept


def test_a_bad_change_is_400_with_why(served):
    before = served.session.path.read_bytes()
    change = {"index": 0, "action": "done", "done": True}  # the photo that failed
    status, _, body = request(served, "/api/change", method="POST", body=change)
    assert (status, json.loads(body)) == (400, {"error": "no such photo"})
    assert request(served, "/api/change", method="POST", body=[1, 2])[0] == 400
    assert served.session.path.read_bytes() == before


def test_a_change_from_another_origin_is_forbidden(served):
    change = {"index": 1, "action": "done", "done": True}
    origin = {"Origin": "http://evil.example"}
    assert request(served, "/api/change", method="POST", body=change, headers=origin)[0] == 403
    origin = {"Origin": f"http://localhost:{served.server_port}"}
    assert request(served, "/api/change", method="POST", body=change, headers=origin)[0] == 200


def test_a_port_in_use_is_one_error(served):
    with pytest.raises(SacropError) as err:
        ReviewServer(served.session, served.server_port)
    assert str(err.value).startswith(f"127.0.0.1:{served.server_port}: cannot serve the review: ")


def raw_request(server: ReviewServer, data: bytes) -> bytes:
    """What the server answers to ``data`` sent as it is, until it closes the connection."""
    with socket.create_connection(("127.0.0.1", server.server_port), timeout=10) as conn:
        conn.sendall(data)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


def test_the_url_holds_a_one_time_code_exchanged_for_the_cookie(served):
    """Issue 32, item 10: the long-lived token is never in an address sacrop hands out (a
    browser's command line is visible to every local user)."""
    url = served.url
    assert re.fullmatch(rf"http://127\.0\.0\.1:{served.server_port}/\?code=[\w-]{{32}}", url)
    assert served.token not in url and served.url != url  # each address its own code
    path = url.split(str(served.server_port), 1)[1]
    status, headers, _ = request(served, path, token=False)
    assert (status, headers["Location"]) == (303, "/")
    assert headers["Set-Cookie"] == (
        f"sacrop_review_{served.server_port}={served.token}; Path=/; HttpOnly; SameSite=Strict"
    )
    status, _, body = request(served, path, token=False)  # used: dead
    assert (status, body) == (403, b"forbidden: this address was used already (its code works "
                                    b"once)\n")  # fmt: skip
    assert request(served, "/?code=" + served.token, token=False)[0] == 403


def test_sacrops_cookie_is_read_whatever_other_cookies_there_are(served):
    """Issue 32, item 11: Python's cookie parser drops the whole header for these."""
    ours = f"sacrop_review_{served.server_port}={served.token}"
    for header in (
        f"theme=dark mode; {ours}",
        f'a={{"k":1}}; {ours}; b=\\x00',
        f"{ours};;=;x",
    ):
        assert request(served, "/review.js", token=False, headers={"Cookie": header})[0] == 200
    wrong = f"xsacrop_review_{served.server_port}={served.token}"
    assert request(served, "/review.js", token=False, headers={"Cookie": wrong})[0] == 403


@pytest.mark.parametrize(
    "path, status",
    [
        ("/thumb/%C2%B2.jpg", 404),
        ("/thumb/" + "9" * 5000 + ".jpg", 404),
        ("/thumb/-1.jpg", 404),
        ("/api/photos?offset=" + "9" * 5000, 400),
    ],
)
def test_a_bad_address_is_one_answer(served, path, status, capfd):
    """Issue 32, item 12: an answer, never a traceback on standard error."""
    assert request(served, path)[0] == status
    assert capfd.readouterr().err == ""


def test_a_digit_python_cannot_read_is_no_photo(served, capfd):
    """Issue 32, item 12: the request line is read as Latin-1, where byte B2 is "²", a digit
    for ``str.isdigit`` that ``int`` refuses."""
    port = served.server_port
    head = f"GET /thumb/\xb2.jpg?token={served.token} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"
    assert raw_request(served, head.encode("latin-1")).startswith(b"HTTP/1.0 404 ")
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize(
    "body, why",
    [
        (b"[" * 30_000 + b"]" * 30_000, "arrays or objects nested more than 16 deep"),
        (b'{"index": ' + b"9" * 5000 + b"}", "an integer of 5000 digits (at most 15)"),
        (b'{"index": true, "action": "done", "done": true}', "no such photo"),
        (b'{"index": 1.0, "action": "done", "done": true}', "no such photo"),
        (b'{"index": 1, "action": "done", "\xff": 1}', "not UTF-8 text (byte 0xff at column 33)"),
        (b'{"index": 1, "action": "rank", "ratio": "4:3", "rank": 1e400}',
         "the number 1e400 is out of range"),
    ],
)  # fmt: skip
def test_a_bad_change_is_one_400_and_nothing_is_changed(served, body, why, capfd):
    """Issue 32, item 12: ``"index": true`` is no photo 1; deep or huge bodies are refused."""
    before = served.session.path.read_bytes()
    port = served.server_port
    head = (
        f"POST /api/change?token={served.token} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    answer = raw_request(served, head.encode() + body)
    assert answer.startswith(b"HTTP/1.0 400 ")
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1]) == {"error": why}
    assert served.session.path.read_bytes() == before
    assert capfd.readouterr().err == ""


def test_an_idle_connection_is_closed(served, monkeypatch):
    """Issue 32, item 12: connections that send nothing do not hold a thread for ever."""
    assert _Handler.timeout == review.TIMEOUT and 0 < review.TIMEOUT <= 60
    monkeypatch.setattr(_Handler, "timeout", 0.2)
    with socket.create_connection(("127.0.0.1", served.server_port), timeout=10) as conn:
        conn.sendall(b"GET / HTTP/1.1\r\n")  # and nothing more
        assert conn.recv(100) == b""  # closed by the server, well before the client gives up


def test_a_linked_file_is_written_through_and_stays_a_link(tmp_path):
    """Issue 32, item 13: the file the link names is updated; the link stays one."""
    target = tmp_path / "store" / "review.jsonl"
    target.parent.mkdir()
    link = tmp_path / "review.jsonl"
    link.symlink_to(target)
    (tmp_path / "a.jpg").write_bytes((EXAMPLES / "coffee.jpg").read_bytes())
    with serving([record(tmp_path / "a.jpg", (600, 400))], link) as server:
        change = {"index": 0, "action": "done", "done": True}
        assert request(server, "/api/change", method="POST", body=change)[0] == 200
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert "reviewed" in read_jsonl(target)[0]
    assert leftovers(tmp_path) == [] and leftovers(target.parent) == []


def test_a_change_whose_save_failed_is_not_kept(served):
    """Issue 32, items 13 and 14: a read-only FILE is left as it is; the change that could not
    be saved is dropped, not written with the next one."""
    path = served.session.path
    before = path.read_bytes()
    path.chmod(0o444)
    change = {"index": 1, "ratio": "4:3", "action": "rank", "rank": 2}
    status, _, body = request(served, "/api/change", method="POST", body=change)
    assert (status, json.loads(body)) == (
        500,
        {"error": f"{path}: read-only; left as it is (make it writable to update it)"},
    )
    assert path.read_bytes() == before
    path.chmod(0o644)
    change = {"index": 2, "action": "done", "done": True}
    assert request(served, "/api/change", method="POST", body=change)[0] == 200
    saved = read_jsonl(path)
    assert saved[1]["crops"][0]["box"] == [0, 0, 1600, 1200]  # rank 1 still: not saved, dropped
    assert "chosen" not in saved[1]["crops"][0] and "reviewed" in saved[2]
    assert served.session.view(1)["ratios"][0]["crop"]["box"] == [0, 0, 1600, 1200]


def test_a_body_shorter_than_announced_is_408_once_the_time_is_up(served, monkeypatch, capfd):
    monkeypatch.setattr(_Handler, "timeout", 0.2)
    head = (
        f"POST /api/change?token={served.token} HTTP/1.1\r\nHost: 127.0.0.1:{served.server_port}"
        "\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    )
    answer = raw_request(served, head.encode() + b'{"index": 1')
    assert answer.startswith(b"HTTP/1.0 408 ")
    assert capfd.readouterr().err == ""


def test_idle_connections_beyond_the_limit_are_closed(served):
    """Issue 32, item 12: connections need no token to be opened: their threads are bounded."""
    assert review.MAX_CONNECTIONS == 64
    for _ in range(62):  # 2 slots left
        served._slots.acquire()
    idle = [socket.create_connection(("127.0.0.1", served.server_port), timeout=10)]
    idle.append(socket.create_connection(("127.0.0.1", served.server_port), timeout=10))
    for conn in idle:  # taken by the server (a request line begun), then left idle
        conn.sendall(b"GET ")
    try:
        time.sleep(0.2)  # both accepted and holding their slots
        with socket.create_connection(("127.0.0.1", served.server_port), timeout=10) as third:
            assert third.recv(100) == b""  # closed at once, no thread for it
    finally:
        for conn in idle:
            conn.close()
        for _ in range(62):
            served._slots.release()
    for _ in range(50):  # the slots come back as the idle ones end
        try:
            if request(served, "/review.js")[0] == 200:
                break
        except (http.client.HTTPException, ConnectionError):
            pass  # closed: not yet
        time.sleep(0.1)
    assert request(served, "/review.js")[0] == 200
