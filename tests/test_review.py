"""The review's server, probed over HTTP in process: its token, the Host it answers, the photos
it serves (thumbnails of those given, nothing else) and a change saved to FILE."""

from __future__ import annotations

import http.client
import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import EXAMPLES, leftovers, read_jsonl, serving
from PIL import Image

from sacrop_cli.errors import SacropError
from sacrop_cli.record import new_record
from sacrop_cli.viz.review import THUMB_SIDE, ReviewServer
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


def test_the_url_holds_the_token_and_the_page_sets_the_cookie(served):
    assert served.url == f"http://127.0.0.1:{served.server_port}/?token={served.token}"
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
    assert (status, page["total"], page["offset"]) == (200, 3, 1)
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
