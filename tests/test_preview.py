"""Preview sheets (`sacrop crop --preview`) and `sacrop explain`, with a random (seeded) model.

The sheets are checked against the manifest of the same run: every input is listed, failed ones
with their error, and every crop's box, rank and score; the HTML must be a well-formed tree and
render in a real browser (chromium, when installed).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from helpers import APT_TOOLS, EXAMPLES, read_jsonl, require_tool, run
from PIL import Image, ImageColor

from sacrop_cli.viz import drawing, sheet_png
from sacrop_cli.viz import sheets as preview

VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}


class Sheet(HTMLParser):
    """Parses a sheet: checks that every opened non-void tag is closed, in order, and collects
    the photos (``<article>``) with their boxes on the photo and their crop thumbnails."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.doctype = False
        self.photos: list[dict] = []
        self.sections: list[str] = []
        self.links: list[str] = []
        self.images = 0
        self.feed(text)
        self.close()
        if self.stack:
            self.problems.append(f"never closed: {self.stack}")

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl.lower() == "doctype html"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag not in VOID:
            self.stack.append(tag)
        classes = (a.get("class") or "").split()
        if tag == "article":
            self.photos.append(
                {
                    "source": a["data-source"],
                    "status": a["data-status"],
                    "error": a.get("data-error"),
                    "boxes": [],
                    "crops": [],
                    "faces": [],
                }
            )
        elif tag == "section":
            self.sections.append(a["id"])
        elif tag == "a":
            self.links.append(a["href"])
        elif tag == "img":
            self.images += 1
            assert a["src"].startswith("data:image/jpeg;base64,") and a["loading"] == "lazy"
        if "face" in classes:
            self.photos[-1]["faces"].append([int(v) for v in a["data-box"].split(",")])
        if "box" in classes or "crop" in classes:
            entry = (
                a["data-ratio"],
                int(a["data-rank"]),
                [int(v) for v in a["data-box"].split(",")],
                float(a["data-score"]),
            )
            self.photos[-1]["boxes" if "box" in classes else "crops"].append(entry)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            self.problems.append(f"</{tag}> closes a void element")
        elif not self.stack or self.stack[-1] != tag:
            self.problems.append(
                f"</{tag}> closes <{self.stack[-1] if self.stack else None}> "
                f"at line {self.getpos()[0]}"
            )
        else:
            self.stack.pop()


def crops_of(record: dict) -> list[tuple]:
    return [(c["ratio"], c["rank"], c["box"], c["score"]) for c in record["crops"]]


def grey_thumbnail(record: dict) -> Image.Image:
    """A stand-in for the decoded thumbnail: the right size, no file needed."""
    return Image.new("RGB", drawing.thumb_size(record["width"], record["height"]), "#8a8")


def fake_records(n: int) -> list[dict]:
    out = []
    for i in range(n):
        if i % 4 == 3:
            out.append(
                {
                    "source": f"p/{i}.jpg",
                    "width": None,
                    "height": None,
                    "status": "error",
                    "error": f"p/{i}.jpg: cannot identify image file (not an image?)",
                    "crops": [],
                }
            )
        else:
            out.append(
                {
                    "source": f"p/{i}.jpg",
                    "width": 600,
                    "height": 400,
                    "status": "ok",
                    "error": None,
                    "crops": [
                        {
                            "ratio": "4:3",
                            "rank": 1,
                            "box": [0, 0, 532, 400],
                            "score": 0.5,
                            "path": None,
                            "status": "dry-run",
                        },
                        {
                            "ratio": "1:1",
                            "rank": 1,
                            "box": [100, 0, 500, 400],
                            "score": 0.25,
                            "path": None,
                            "status": "dry-run",
                        },
                    ],
                }
            )
    return out


@pytest.fixture(scope="module")
def crop_run(random_weights: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One `sacrop crop --dry-run --preview sheet.html --preview-dir` over three photos, a file
    that is not an image and a path that does not exist."""
    tmp = tmp_path_factory.mktemp("preview")
    photos = tmp / "photos"
    (photos / "sub").mkdir(parents=True)
    for name, dst in (
        ("chelsea-cat.jpg", "chelsea-cat.jpg"),
        ("coffee.jpg", "coffee.jpg"),
        ("rocket.jpg", "sub/rocket.jpg"),
    ):
        shutil.copy(EXAMPLES / name, photos / dst)
    (photos / "broken.jpg").write_bytes(b"not a JPEG")
    result = run(
        "crop",
        photos,
        tmp / "missing.jpg",
        "-r",
        "4:3",
        "-r",
        "1:1",
        "--dry-run",
        "--weights",
        random_weights,
        "--manifest",
        tmp / "m.jsonl",
        "--preview",
        tmp / "sheet.html",
        "--preview-dir",
        tmp / "previews",
    )
    return {"tmp": tmp, "result": result, "records": read_jsonl(tmp / "m.jsonl")}


# -- HTML --------------------------------------------------------------------------------------


def test_html_sheet_lists_every_input_with_the_manifest_boxes(crop_run):
    assert crop_run["result"].exit_code == 1  # the broken and the missing file
    records = crop_run["records"]
    sheet = Sheet((crop_run["tmp"] / "sheet.html").read_text(encoding="utf-8"))
    assert [p["source"] for p in sheet.photos] == [r["source"] for r in records]
    assert [Path(r["source"]).name for r in records] == [
        "missing.jpg",
        "broken.jpg",
        "chelsea-cat.jpg",
        "coffee.jpg",
        "rocket.jpg",
    ]
    for photo, record in zip(sheet.photos, records):
        assert (photo["status"], photo["error"]) == (record["status"], record["error"])
        assert sorted(photo["boxes"]) == sorted(crops_of(record))  # drawn on the photo
        assert photo["crops"] == crops_of(record)  # and as thumbnails, in manifest order
    assert sheet.photos[0]["error"].endswith("missing.jpg: no such file or folder")
    assert "broken.jpg: cannot identify image file (not an image?)" in sheet.photos[1]["error"]
    assert [len(p["crops"]) for p in sheet.photos] == [0, 0, 2, 2, 2]
    assert sheet.images == 3 + 6  # a thumbnail per photo and per crop, all embedded


def test_html_sheet_is_a_well_formed_tree(crop_run):
    text = (crop_run["tmp"] / "sheet.html").read_text(encoding="utf-8")
    sheet = Sheet(text)
    assert sheet.doctype and sheet.problems == []
    assert "http://" not in text and "https://" not in text  # self-contained
    assert sheet.sections == ["page-1"]


def test_html_sheet_pages_hundreds_of_photos():
    records = fake_records(120)
    out = io.StringIO()
    preview.write_html(records, out, grey_thumbnail, page_size=50)
    sheet = Sheet(out.getvalue())
    assert sheet.problems == []
    assert sheet.sections == ["page-1", "page-2", "page-3"]
    assert [p["source"] for p in sheet.photos] == [f"p/{i}.jpg" for i in range(120)]
    assert sum(p["status"] == "error" for p in sheet.photos) == 30
    assert sheet.images == 90 * 3
    # every page is linked from the top, and every failed photo from the error list
    assert sheet.links[:3] == ["#page-1", "#page-2", "#page-3"]
    assert sheet.links[3:6] == ["#page-1", "#page-1", "#page-1"]  # p/3, p/7, p/11
    assert sheet.links[3 + 30 - 1] == "#page-3"  # p/119


def test_a_photo_unreadable_at_preview_time_is_listed_with_its_boxes():
    [record] = fake_records(1)

    def gone(rec: dict) -> Image.Image:
        raise OSError(f"{rec['source']}: vanished")

    out = io.StringIO()
    preview.write_html([record], out, gone)
    [photo] = Sheet(out.getvalue()).photos
    assert photo["crops"] == crops_of(record) and photo["boxes"] == []
    assert "no thumbnail: p/0.jpg: vanished" in out.getvalue()


def test_faces_are_drawn_on_both_sheets():
    [record] = fake_records(1)
    record["faces"] = [[300, 100, 360, 170, 0.93]]
    out = io.StringIO()
    preview.write_html([record], out, grey_thumbnail)
    assert Sheet(out.getvalue()).photos[0]["faces"] == [[300, 100, 360, 170]]
    drawn = np.asarray(preview.render_png([record], grey_thumbnail, title=None))
    plain = np.asarray(preview.render_png([{**record, "faces": None}], grey_thumbnail, title=None))
    # the thumbnail is 320 x 213 for 600 x 400 (scale 0.533), 16 px from the left: the face's
    # rectangle spans x = 16 + 160 .. 16 + 192, its outer black edge one pixel wider
    columns = np.flatnonzero((drawn != plain).any(axis=(0, 2)))
    assert (columns.min(), columns.max()) == (16 + 160 - 1, 16 + 192 - 1 + 1)


# -- PNG ---------------------------------------------------------------------------------------


def test_png_sheet_has_the_expected_size(crop_run, tmp_path):
    records = crop_run["records"]
    out = tmp_path / "sheet.png"
    assert preview.write_preview(records, out, preview.thumbnail_loader()) == []
    with Image.open(out) as im:
        # width: margin 16, thumbnail 320, gap 12, two crop cells of 140 with a gap, margin 16;
        # height: margin, title 30, two failed rows (header 22 + error line 18), three photo rows
        # (header 22 + thumbnails of 320x213, 320x213 and 320x214), 4 gaps of 12, margin
        assert im.size == (
            16 + 320 + 12 + 140 + 12 + 140 + 16,
            16 + 30 + 2 * 40 + 3 * 22 + 213 + 213 + 214 + 4 * 12 + 16,
        )
        assert im.mode == "RGB"


def test_preview_dir_has_one_png_per_input(crop_run):
    folder = crop_run["tmp"] / "previews"
    names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png"))
    # mirrored below the sources' common folder, here the one holding photos/ and missing.jpg
    assert names == [
        "missing.preview.png",
        "photos/broken.preview.png",
        "photos/chelsea-cat.preview.png",
        "photos/coffee.preview.png",
        "photos/sub/rocket.preview.png",
    ]
    with Image.open(folder / "missing.preview.png") as im:
        assert im.size == (16 + 320 + 12 + 140 + 16, 16 + 22 + 18 + 16)
    with Image.open(folder / "photos" / "coffee.preview.png") as im:
        assert im.size == (16 + 320 + 12 + 2 * 140 + 12 + 16, 16 + 22 + 213 + 16)
    assert not list(folder.rglob("*.tmp"))


def test_preview_names_mirror_folders_and_never_collide():
    records = [{"source": s} for s in ("a/x.jpg", "a/x.png", "a/b/x.jpg", "a/y.jpg")]
    assert [p.as_posix() for p in preview.preview_names(records)] == [
        "x.preview.png",
        "x-2.preview.png",
        "b/x.preview.png",
        "y.preview.png",
    ]


def test_png_sheet_of_many_photos_is_capped_with_a_warning(tmp_path, monkeypatch):
    monkeypatch.setattr(preview, "MAX_PNG_PHOTOS", 3)  # the warning
    monkeypatch.setattr(sheet_png, "MAX_PNG_PHOTOS", 3)  # the rows drawn
    warnings = preview.write_preview(fake_records(5), tmp_path / "s.png", grey_thumbnail)
    assert warnings == [
        f"{tmp_path / 's.png'}: the PNG sheet shows the first 3 of 5 photos; "
        "use an .html sheet or --preview-dir for all of them"
    ]
    with Image.open(tmp_path / "s.png") as im:  # 3 rows, then a line saying what was left out
        assert im.height == 16 + 30 + 3 * (22 + 213) + 2 * 12 + 12 + 18 + 16


def test_labels_of_overlapping_boxes_do_not_cover_each_other():
    corners = drawing.place_labels([(0, 0, 100, 100)] * 3, [(40, 15)] * 3, (200, 200))
    assert corners == [(0, 0), (0, 15), (0, 30)]
    # no room left inside a box: the label overlaps rather than leaving the picture
    assert drawing.place_labels([(190, 190, 200, 200)], [(40, 15)], (200, 200)) == [(160, 185)]


def test_preview_option_needs_html_or_png(tmp_path):
    result = run("crop", EXAMPLES / "coffee.jpg", "--preview", tmp_path / "sheet.pdf")
    assert result.exit_code == 2
    assert "sheet.pdf: the sheet's name must end in .html or .png" in result.output


# -- in a browser ------------------------------------------------------------------------------


def test_html_sheet_renders_in_a_headless_browser(tmp_path):
    chromium = require_tool("chromium", APT_TOOLS)
    sheet = tmp_path / "sheet.html"
    preview.write_preview(fake_records(8), sheet, grey_thumbnail)
    shot = tmp_path / "s.png"
    proc = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1200,900",
            f"--screenshot={shot}",
            sheet.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
    with Image.open(shot) as im:
        assert im.size == (1200, 900)
        pixels = np.asarray(im.convert("RGB")).astype(np.int64)

    def area(colour: str, tolerance: int = 0) -> int:
        """Pixels of the screenshot within ``tolerance`` of ``colour`` on every channel."""
        rgb = np.asarray(ImageColor.getrgb(colour))
        return int((np.abs(pixels - rgb) <= tolerance).all(-1).sum())

    assert pixels[2, 2].tolist() == [244, 244, 244]  # the page's background, #f4f4f4
    assert area("#fff") > 100_000  # the photos' cards
    assert area("#8a8", tolerance=2) > 100_000  # the thumbnails, once encoded
    # the boxes of the two ratios in the first two colours, the failed photos' red
    assert area(drawing.PALETTE[0]) > 1000 and area(drawing.PALETTE[1]) > 1000
    assert area(drawing.PALETTE[2]) == 0
    assert area("#c62828") > 100


def _with_a_skipped_input() -> list[dict]:
    skipped = {
        "source": "p/readme.txt",
        "width": None,
        "height": None,
        "status": "skipped",
        "error": "p/readme.txt: skipped (not a photo: unsupported file extension)",
        "crops": [],
    }
    return [*fake_records(4), skipped]  # 3 photos cropped, 1 failed, 1 file skipped


def test_skipped_inputs_are_counted_apart_from_photos_on_both_sheets(tmp_path):
    records = _with_a_skipped_input()
    png, html_path = tmp_path / "sheet.png", tmp_path / "sheet.html"
    preview.write_preview(records, png, grey_thumbnail)
    with Image.open(png) as im:
        assert im.text["Title"] == "sacrop preview: 4 photo(s), 1 failed, 1 other file(s) skipped"
        # the title and four rows (three photos, one failed): no row for the skipped file
        assert im.height == 16 + 30 + 3 * (22 + 213) + (22 + 18) + 3 * 12 + 16
    preview.write_preview(records, html_path, grey_thumbnail)
    sheet = Sheet(html_path.read_text())
    assert [p["source"] for p in sheet.photos] == [r["source"] for r in records[:4]]
    assert "4 photo(s), 3 cropped, 1 failed, 1 other file(s) skipped." in html_path.read_text()


def test_preview_dir_has_no_preview_for_a_skipped_input(tmp_path):
    written = preview.write_preview_dir(_with_a_skipped_input(), tmp_path, grey_thumbnail)
    assert sorted(p.name for p in written) == [f"{i}.preview.png" for i in range(4)]
    assert not (tmp_path / "readme.preview.png").exists()


def test_the_sheets_font_draws_accented_greek_and_cyrillic_letters():
    font = drawing.load_font(14)
    missing = font.getmask("\ue000")  # a private-use character: the font's "missing" box

    def drawn_as_missing(char: str) -> bool:
        mask = font.getmask(char)
        return mask.size == missing.size and bytes(mask) == bytes(missing)

    assert drawing.FONT.is_file() and drawing.FONT.with_name("LICENSE-DejaVu").is_file()
    assert [c for c in "éñøЖжαΩ" if drawn_as_missing(c)] == []
