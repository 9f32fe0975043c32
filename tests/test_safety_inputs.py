"""Safe on real photo folders: bad, odd and hostile inputs.

A corpus generated here (no binaries committed) holds every kind of damaged, odd or hostile input
and goes through `sacrop crop` as ONE batch, then again as a rerun; then the pixel limit and a
palette's transparency. The random (seeded) model gives arbitrary boxes: these tests check
mechanics.
"""

from __future__ import annotations

import io
import os
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import piexif
import pytest
from helpers import STORE, files_under, leftovers, pattern, read_jsonl, run, snapshot, summary_count
from PIL import Image

TOO_SMALL = "image too small ({0}x{0}; both sides must be at least 32 pixels)"


def jpeg_bytes(image: Image.Image, **params: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=95, **params)
    return buf.getvalue()


def png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG that claims width x height in its header and holds no pixel data (a bomb's shape)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))


# -- the corpus: every case in one batch ---------------------------------------------------------


def build_corpus(root: Path) -> dict[str, str | None]:
    """Write the corpus under ``root``; return ``{relative path: expected error or None}``
    for every photo the scan should find (errors without the leading "<path>: ")."""
    root.mkdir(parents=True)
    expected: dict[str, str | None] = {}
    upright = pattern(160, 120)

    (root / "plain.jpg").write_bytes(jpeg_bytes(upright))
    expected["plain.jpg"] = None
    (root / "empty.jpg").write_bytes(b"")
    expected["empty.jpg"] = "empty file (0 bytes)"
    (root / "not-a-photo.jpg").write_text("these are my holiday notes\n")
    expected["not-a-photo.jpg"] = "cannot identify image file (not an image?)"
    whole = jpeg_bytes(upright)
    (root / "truncated.jpg").write_bytes(whole[: len(whole) // 2])
    expected["truncated.jpg"] = "truncated or corrupt image data"
    # An EXIF block whose first IFD claims entries that are not there.
    bad_exif = b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff\x01\x01"
    (root / "corrupt-exif.jpg").write_bytes(jpeg_bytes(upright, exif=bad_exif))
    expected["corrupt-exif.jpg"] = None
    for orientation in range(1, 9):
        stored = upright.transpose(STORE[orientation]) if orientation > 1 else upright
        exif = piexif.dump({"0th": {piexif.ImageIFD.Orientation: orientation}})
        (root / f"orientation-{orientation}.jpg").write_bytes(jpeg_bytes(stored, exif=exif))
        expected[f"orientation-{orientation}.jpg"] = None
    upright.convert("CMYK").save(root / "cmyk.jpg", quality=95)
    expected["cmyk.jpg"] = None
    ramp = (np.arange(80 * 100, dtype=np.uint32).reshape(80, 100) * 8).astype(np.uint16)
    Image.fromarray(ramp).save(root / "gray16.png")  # mode I;16
    expected["gray16.png"] = None
    upright.convert("L").save(root / "gray.png")
    expected["gray.png"] = None
    palette = Image.new("P", (96, 64), 0)
    palette.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    for x in range(0, 96, 8):  # stripes, so every crop has transparent and opaque pixels
        palette.paste(1, (x, 0, x + 4, 64))
    palette.save(root / "palette-alpha.png", transparency=0)
    expected["palette-alpha.png"] = None
    frames = [Image.new("RGB", (96, 64), colour) for colour in ("red", "blue", "green")]
    frames[0].save(root / "animated.gif", save_all=True, append_images=frames[1:])
    frames[0].save(root / "animated.webp", save_all=True, append_images=frames[1:], lossless=True)
    expected["animated.gif"] = expected["animated.webp"] = None
    Image.new("RGB", (1, 1)).save(root / "tiny.png")
    expected["tiny.png"] = TOO_SMALL.format(1)
    Image.new("RGB", (20, 20)).save(root / "small.png")
    expected["small.png"] = TOO_SMALL.format(20)
    pattern(20000, 100).save(root / "panorama.png")
    expected["panorama.png"] = None
    png_header_only(root / "bomb.png", 30000, 30000)
    expected["bomb.png"] = (
        "30000x30000 pixels exceeds the limit of 200000000 (use --max-pixels to raise it)"
    )
    (root / "sub").mkdir()
    os.symlink(root, root / "sub" / "loop")  # a symlink loop back to the top
    (root / "sub" / "été — plage 2023.jpg").write_bytes(jpeg_bytes(upright))
    expected["sub/été — plage 2023.jpg"] = None
    upright.save(root / "日本 写真.png")
    expected["日本 写真.png"] = None
    (root / "album.jpg").mkdir()  # a folder named like a photo
    (root / "album.jpg" / "inside.jpg").write_bytes(jpeg_bytes(upright))
    expected["album.jpg/inside.jpg"] = None
    upright.save(root / "clash.gif")  # its crops are PNGs: the same names as clash.png's
    upright.save(root / "clash.png")
    expected["clash.gif"] = expected["clash.png"] = None
    (root / "notes.txt").write_text("shot list")  # not an image: skipped and counted
    (root / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")  # hidden: ignored
    return expected


#: Crops written for each photo of the corpus with ``-r 4:3`` (paths relative to the output).
EXPECTED_OUTPUTS = sorted(
    [
        "plain.4x3.1.jpg",
        "corrupt-exif.4x3.1.jpg",
        *(f"orientation-{o}.4x3.1.jpg" for o in range(1, 9)),
        "cmyk.4x3.1.jpg",
        "gray16.4x3.1.png",
        "gray.4x3.1.png",
        "palette-alpha.4x3.1.png",
        "animated.4x3.1.png",
        "animated.4x3.1.webp",
        "panorama.4x3.1.png",
        "sub/été — plage 2023.4x3.1.jpg",
        "日本 写真.4x3.1.png",
        "album.jpg/inside.4x3.1.jpg",
        "clash.4x3.1.png",
        "clash-2.4x3.1.png",
    ]
)


def test_the_whole_corpus_in_one_batch(use_random_weights, tmp_path):
    src, out, manifest = tmp_path / "photos", tmp_path / "out", tmp_path / "m.jsonl"
    expected = build_corpus(src)
    before = snapshot(src)
    missing = tmp_path / "missing.jpg"

    result = run("crop", src, missing, "-r", "4:3", "-o", out, "--manifest", manifest)

    assert result.exit_code == 1, result.output
    records = {r["source"]: r for r in read_jsonl(manifest)}
    assert set(records) == {str(src / rel) for rel in expected} | {
        str(missing),
        str(src / "notes.txt"),
    }
    assert records[str(src / "notes.txt")]["status"] == "skipped"
    assert records[str(missing)]["error"] == f"{missing}: no such file or folder"
    for rel, problem in expected.items():
        record, path = records[str(src / rel)], src / rel
        if problem is None:
            assert (record["status"], record["error"]) == ("ok", None), rel
            assert [c["status"] for c in record["crops"]] == ["written"], rel
        else:
            assert record["status"] == "error" and record["crops"] == [], rel
            assert record["error"] == f"{path}: {problem}"
            assert f"error: {path}: {problem}\n" in result.stderr  # one line naming the file

    assert files_under(out) == EXPECTED_OUTPUTS
    assert leftovers(out) == [] and list(tmp_path.glob(".*")) == []  # nor the manifest's
    assert snapshot(src) == before  # every source byte-identical, not even touched
    errors = sum(p is not None for p in expected.values()) + 1
    assert (
        summary_count(result.stderr, "Photos"),
        summary_count(result.stderr, "Errors"),
        summary_count(result.stderr, "Skipped files (not images)"),
        summary_count(result.stderr, "Crops written"),
    ) == (len(expected), errors, 1, len(EXPECTED_OUTPUTS))
    for rel in ("animated.gif", "animated.webp"):
        assert (
            f"warning: {src / rel}: animated image (3 frames): only the first frame is used"
            in result.stderr
        )
    assert f"warning: {src / 'corrupt-exif.jpg'}: corrupt EXIF dropped" in result.stderr
    assert "UserWarning" not in result.stderr  # Pillow's own multi-line warnings stay quiet

    # What the crops hold.
    def crop_of(rel: str) -> tuple[Image.Image, list[int]]:
        [entry] = records[str(src / rel)]["crops"]
        with Image.open(entry["path"]) as im:
            im.load()
        return im, entry["box"]

    upright = pattern(160, 120)
    for o in range(1, 9):
        record = records[str(src / f"orientation-{o}.jpg")]
        assert (record["width"], record["height"]) == (160, 120)
        im, box = crop_of(f"orientation-{o}.jpg")
        wanted = np.asarray(upright.crop(box), dtype=np.int16)[..., :2]  # the smooth ramps
        assert np.abs(np.asarray(im, dtype=np.int16)[..., :2] - wanted).mean() < 3, o
        assert piexif.load(im.info["exif"])["0th"][piexif.ImageIFD.Orientation] == 1
    assert crop_of("cmyk.jpg")[0].mode == "RGB"
    assert crop_of("gray16.png")[0].mode == "L"
    alpha = np.asarray(crop_of("palette-alpha.png")[0].getchannel("A"))
    assert crop_of("palette-alpha.png")[0].mode == "RGBA" and set(np.unique(alpha)) == {0, 255}
    for rel in ("animated.gif", "animated.webp"):
        im, _ = crop_of(rel)
        assert np.abs(np.asarray(im.convert("RGB"), dtype=np.int16) - (255, 0, 0)).max() < 8, (
            rel
        )  # the first frame: red
    assert (
        records[str(src / "panorama.png")]["width"],
        records[str(src / "panorama.png")]["height"],
    ) == (20000, 100)
    assert crop_of("clash.gif")[0].format == "PNG"
    assert records[str(src / "clash.png")]["crops"][0]["path"] == str(out / "clash-2.4x3.1.png")

    # A rerun (the default, or --resume) keeps everything and writes nothing.
    written = snapshot(out)
    again = run("crop", src, "-r", "4:3", "-o", out, "--resume")
    assert again.exit_code == 1
    assert summary_count(again.stderr, "Crops written") == 0
    assert summary_count(again.stderr, "Already existing (kept)") == len(EXPECTED_OUTPUTS)
    assert snapshot(out) == written and snapshot(src) == before


def test_max_pixels_raises_the_limit(use_random_weights, tmp_path):
    bomb = tmp_path / "big.png"
    png_header_only(bomb, 20000, 20000)
    refused = run("crop", bomb, "-o", tmp_path / "out", "--max-pixels", "399999999", "-q")
    assert refused.stderr == (
        f"error: {bomb}: 20000x20000 pixels exceeds the limit of 399999999 "
        "(use --max-pixels to raise it)\n"
    )
    allowed = run("crop", bomb, "-o", tmp_path / "out", "--max-pixels", "400000000", "-q")
    # past the limit, decoding starts and finds no data
    assert allowed.stderr == f"error: {bomb}: truncated or corrupt image data\n"
    assert leftovers(tmp_path) == []


def test_palette_transparency_kept_in_webp(use_random_weights, tmp_path):
    src = tmp_path / "p.png"
    palette = Image.new("P", (64, 64), 0)
    palette.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    for x in range(0, 64, 8):
        palette.paste(1, (x, 0, x + 4, 64))
    palette.save(src, transparency=0)
    assert run("crop", src, "-o", tmp_path / "out", "--format", "webp").exit_code == 0
    with Image.open(tmp_path / "out" / "p.any.1.webp") as im:
        assert im.mode == "RGBA"
        assert np.asarray(im.getchannel("A")).min() < 8


def test_pillows_own_bomb_check_never_escapes(use_random_weights, tmp_path, monkeypatch):
    # Pillow's limit lowered under the photos' size: every Pillow call sacrop makes (decode,
    # crop, save, thumbnails) must run without it, and a file it cannot decode fails alone.
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.jpg").write_bytes(jpeg_bytes(pattern(640, 480)))
    png_header_only(src / "b.png", 16000, 12000)
    (src / "c.jpg").write_bytes(jpeg_bytes(pattern(640, 480)))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100_000)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        result = run(
            "crop",
            src,
            "-r",
            "4:3",
            "-o",
            tmp_path / "out",
            "-q",
            "--preview",
            tmp_path / "sheet.png",
            "--preview-dir",
            tmp_path / "each",
        )
    assert result.stderr == f"error: {src / 'b.png'}: truncated or corrupt image data\n"
    assert result.exit_code == 1
    assert files_under(tmp_path / "out") == ["a.4x3.1.jpg", "c.4x3.1.jpg"]
    assert (tmp_path / "sheet.png").exists()
    assert Image.MAX_IMAGE_PIXELS == 100_000


@pytest.mark.slow
def test_a_192_mp_photo_crops(use_random_weights, tmp_path):
    big = tmp_path / "big.png"
    Image.new("1", (16000, 12000), 1).save(big)  # 192 MP in a few kB
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        result = run("crop", big, "-r", "1.3:1", "-o", tmp_path / "out", "-q")
    assert (result.exit_code, result.stderr) == (0, "")
    [crop] = files_under(tmp_path / "out")
    width, height = struct.unpack(">II", (tmp_path / "out" / crop).read_bytes()[16:24])
    assert (width, height) == (15600, 12000)  # the PNG's header
