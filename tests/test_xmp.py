"""XMP sidecars: Camera Raw crops in the stored frame, IPTC regions upright, other data kept."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from helpers import (
    APT_TOOLS,
    EXAMPLES,
    STORE,
    exif_bytes,
    exiftool,
    make_dng,
    read_jsonl,
    require_tool,
    run,
)
from PIL import Image, ImageOps

from sacrop_cli.errors import OutputError
from sacrop_cli.io import xmp
from sacrop_cli.io.xmp import (
    Region,
    SidecarError,
    inset_crop,
    read_crop,
    sidecar_name,
    stored_crop,
    write_sidecar,
)

ROLES = "http://cv.iptc.org/newscodes/imageregionrole/"
SIZE = (400, 300)  # upright, landscape
REGIONS = [
    Region("4:3", 1, (0, 0, 400, 300), 0.8123),
    Region("4:3", 2, (100, 75, 300, 225), 0.61),
    Region("1:1", 1, (40, 0, 340, 300), 0.5),
    Region("3:4", 1, (100, 30, 280, 270), 0.25),
]


def test_the_sidecar_is_named_like_adobes_or_like_darktables() -> None:
    assert sidecar_name("IMG_1.CR2") == "IMG_1.xmp"
    assert sidecar_name("photos/a.b.jpeg") == "photos/a.b.xmp"
    assert sidecar_name("scan") == "scan.xmp"
    assert sidecar_name("IMG_1.CR2", "full") == "IMG_1.CR2.xmp"
    assert sidecar_name("photos/a.b.jpeg", "full") == "photos/a.b.jpeg.xmp"


def test_a_new_sidecar_has_the_crop_and_one_region_per_suggestion(tmp_path: Path) -> None:
    path = write_sidecar(
        tmp_path / "a.xmp",
        size=SIZE,
        orientation=1,
        develop_crop=(100, 30, 300, 180),
        regions=REGIONS,
    )
    assert os.listdir(tmp_path) == ["a.xmp"]  # no temporary file left
    got = read_crop(path)
    assert got["crop"] == {
        "HasCrop": "True",
        "CropLeft": 0.25,
        "CropTop": 0.1,
        "CropRight": 0.75,
        "CropBottom": 0.6,
        "CropAngle": 0.0,
        "CropConstrainToWarp": 0.0,
        "AlreadyApplied": "False",
    }
    assert [(r["id"], r["name"], r["roles"]) for r in got["regions"]] == [
        ("sacrop-4x3-1", "sacrop 4:3 crop, rank 1 (score 0.8123)", [ROLES + "landscapeCropping"]),
        ("sacrop-4x3-2", "sacrop 4:3 crop, rank 2 (score 0.6100)", [ROLES + "landscapeCropping"]),
        ("sacrop-1x1-1", "sacrop 1:1 crop, rank 1 (score 0.5000)", [ROLES + "squareCropping"]),
        ("sacrop-3x4-1", "sacrop 3:4 crop, rank 1 (score 0.2500)", [ROLES + "portraitCropping"]),
    ]
    assert [(r["x"], r["y"], r["w"], r["h"]) for r in got["regions"]] == [
        (0.0, 0.0, 1.0, 1.0),
        (0.25, 0.25, 0.5, 0.5),
        (0.1, 0.0, 0.75, 1.0),
        (0.25, 0.1, 0.45, 0.8),
    ]
    assert {(r["shape"], r["unit"]) for r in got["regions"]} == {("rectangle", "relative")}
    assert got["frame"] == {"ImageWidth": 400, "ImageLength": 300, "Orientation": 1}

    tags = exiftool(path)
    assert tags["HasCrop"] is True and tags["CropAngle"] == 0 and tags["CropConstrainToWarp"] == 0
    assert tags["AlreadyApplied"] is False
    assert (tags["ImageWidth"], tags["ImageHeight"], tags["Orientation"]) == (400, 300, 1)
    box = [tags[f"Crop{side}"] for side in ("Left", "Top", "Right", "Bottom")]
    assert box == pytest.approx([100 / 400, 30 / 300, 300 / 400, 180 / 300], abs=1e-6)
    regions = tags["ImageRegion"]
    assert [r["RId"] for r in regions] == [r["id"] for r in got["regions"]]
    assert [r["Name"] for r in regions] == [r["name"] for r in got["regions"]]
    assert regions[2]["RRole"] == [
        {"Identifier": [ROLES + "squareCropping"], "Name": "square format cropping"}
    ]
    assert regions[3]["RegionBoundary"] == {
        "RbShape": "rectangle",
        "RbUnit": "relative",
        "RbX": 0.25,
        "RbY": 0.1,
        "RbW": 0.45,
        "RbH": 0.8,
    }


# The upright photo is 400 x 600 (a portrait) and the crop (80, 60, 280, 420), so upright
# (left, top, right, bottom) = (0.2, 0.1, 0.7, 0.7). Camera Raw wants the stored pixels' frame:
# 6 (stored turned 90° clockwise to display): the stored left column is the upright top row and
#   the stored top row the upright right column, so left = 0.1, top = 1 - 0.7, right = 0.7,
#   bottom = 1 - 0.2.
# 8 (turned 90° counter-clockwise): the stored left column is the upright bottom row and the
#   stored top row the upright left column, so left = 1 - 0.7, top = 0.2, right = 1 - 0.1,
#   bottom = 0.7.
# 3 (turned 180°): every edge mirrored: left = 1 - 0.7, top = 1 - 0.7, right = 1 - 0.2,
#   bottom = 1 - 0.1. The mirrored ones (2, 4, 5, 7) follow the same reasoning.
STORED = {
    1: (0.2, 0.1, 0.7, 0.7),
    2: (0.3, 0.1, 0.8, 0.7),
    3: (0.3, 0.3, 0.8, 0.9),
    4: (0.2, 0.3, 0.7, 0.9),
    5: (0.1, 0.2, 0.7, 0.7),
    6: (0.1, 0.3, 0.7, 0.8),
    7: (0.3, 0.3, 0.9, 0.8),
    8: (0.3, 0.2, 0.9, 0.7),
}
UPRIGHT, BOX = (400, 600), (80, 60, 280, 420)


@pytest.mark.parametrize("orientation", sorted(STORED))
def test_the_camera_raw_crop_is_in_the_stored_frame(orientation: int) -> None:
    assert stored_crop(BOX, UPRIGHT, orientation) == pytest.approx(STORED[orientation], abs=1e-12)


@pytest.mark.parametrize("orientation", sorted(STORED))
def test_pillow_turns_the_stored_crop_back_into_the_upright_box(orientation: int) -> None:
    """Paint the crop on stored pixels, let Pillow apply the EXIF orientation: the upright box."""
    width, height = UPRIGHT if orientation < 5 else UPRIGHT[::-1]
    left, top, right, bottom = stored_crop(BOX, UPRIGHT, orientation)
    stored = Image.new("L", (width, height))
    stored.paste(
        255,
        (round(left * width), round(top * height), round(right * width), round(bottom * height)),
    )
    stored.getexif()[0x0112] = orientation
    assert ImageOps.exif_transpose(stored).getbbox() == BOX


@pytest.mark.parametrize("orientation", [6, 8])
def test_rotated_photos_get_stored_crops_and_upright_regions(
    tmp_path: Path, orientation: int
) -> None:
    regions = [Region("3:4", 1, BOX, 0.9), Region("16:9", 1, (0, 0, 400, 225), 0.4)]
    path = write_sidecar(
        tmp_path / "r.xmp",
        size=UPRIGHT,
        orientation=orientation,
        develop_crop=BOX,
        regions=regions,
    )
    got = read_crop(path)
    crop = tuple(got["crop"][f"Crop{side}"] for side in ("Left", "Top", "Right", "Bottom"))
    assert crop == STORED[orientation]
    # the stored frame: the upright 400 x 600 portrait is stored 600 x 400
    assert got["frame"] == {"ImageWidth": 600, "ImageLength": 400, "Orientation": orientation}
    assert [(r["x"], r["y"], r["w"], r["h"]) for r in got["regions"]] == [
        (0.2, 0.1, 0.5, 0.6),
        (0.0, 0.0, 1.0, 0.375),
    ]
    assert [r["roles"] for r in got["regions"]] == [
        [ROLES + "portraitCropping"],
        [ROLES + "landscapeCropping"],
    ]
    tags = exiftool(path)
    box = tuple(tags[f"Crop{side}"] for side in ("Left", "Top", "Right", "Bottom"))
    assert box == STORED[orientation]
    assert tags["ImageRegion"][0]["RegionBoundary"]["RbX"] == 0.2


def test_a_crop_is_said_in_the_frame_of_a_dngs_default_crop(tmp_path: Path) -> None:
    # the readers show (0.1, 0.2)-(0.9, 0.7) of the stored pixels: 0.8 x 0.5 of them
    inset = (0.1, 0.2, 0.9, 0.7)
    assert inset_crop((0.3, 0.3, 0.5, 0.6), inset) == pytest.approx((0.25, 0.2, 0.5, 0.8))
    assert inset_crop((0.0, 0.1, 1.0, 0.8), inset) == (0.0, 0.0, 1.0, 1.0)  # cut to it
    path = write_sidecar(
        tmp_path / "d.xmp",
        size=(400, 600),  # upright, stored 600 x 400 (orientation 6)
        orientation=6,
        develop_crop=(120, 60, 240, 300),  # stored: (0.1, 0.4, 0.5, 0.7)
        regions=[],
        inset=inset,
    )
    got = read_crop(path)
    crop = tuple(got["crop"][f"Crop{side}"] for side in ("Left", "Top", "Right", "Bottom"))
    assert crop == pytest.approx((0.0, 0.4, 0.5, 1.0), abs=1e-6)
    assert got["frame"] == {"ImageWidth": 480, "ImageLength": 200, "Orientation": 6}


def foreign_sidecar(crop_as_elements: bool) -> str:
    """A sidecar another tool wrote: rating, keywords, develop settings, someone's face region,
    a region sacrop wrote long ago, an old crop and a namespace sacrop does not know."""
    if crop_as_elements:
        attributes = ""
        elements = "<crs:HasCrop>True</crs:HasCrop><crs:CropLeft>0.5</crs:CropLeft>"
    else:
        attributes = 'crs:HasCrop="True" crs:CropLeft="0.5" crs:CropAngle="1.5"'
        elements = ""
    return f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Adobe XMP Core 7.0">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/"
    xmlns:acme="http://example.com/ns/acme/1.0/"
    xmp:Rating="4" crs:Exposure2012="+0.35" acme:Reviewed="yes" {attributes}>
   <dc:subject><rdf:Bag><rdf:li>dog</rdf:li><rdf:li>beach</rdf:li></rdf:Bag></dc:subject>
   {elements}
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/">
   <Iptc4xmpExt:ImageRegion><rdf:Bag>
    <rdf:li rdf:parseType="Resource">
     <Iptc4xmpExt:rId>face-1</Iptc4xmpExt:rId>
     <Iptc4xmpExt:RegionBoundary rdf:parseType="Resource">
      <Iptc4xmpExt:rbShape>rectangle</Iptc4xmpExt:rbShape>
      <Iptc4xmpExt:rbUnit>relative</Iptc4xmpExt:rbUnit>
      <Iptc4xmpExt:rbX>0.4</Iptc4xmpExt:rbX><Iptc4xmpExt:rbY>0.2</Iptc4xmpExt:rbY>
      <Iptc4xmpExt:rbW>0.1</Iptc4xmpExt:rbW><Iptc4xmpExt:rbH>0.15</Iptc4xmpExt:rbH>
     </Iptc4xmpExt:RegionBoundary>
    </rdf:li>
    <rdf:li><rdf:Description Iptc4xmpExt:rId="sacrop-16x9-1"/></rdf:li>
   </rdf:Bag></Iptc4xmpExt:ImageRegion>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""


@pytest.mark.parametrize("crop_as_elements", [False, True], ids=["attributes", "elements"])
def test_an_existing_sidecar_keeps_everything_but_sacrops_fields(
    tmp_path: Path, crop_as_elements: bool
) -> None:
    path = tmp_path / "IMG_1.xmp"
    path.write_text(foreign_sidecar(crop_as_elements), encoding="utf-8")
    crop = (100, 30, 300, 180)
    first = write_sidecar(path, size=SIZE, orientation=1, develop_crop=crop, regions=REGIONS[:2])
    again = write_sidecar(path, size=SIZE, orientation=1, develop_crop=crop, regions=REGIONS[:2])
    assert again.read_bytes() == first.read_bytes()  # a rerun replaces, never adds
    first = again.read_bytes()
    assert os.listdir(tmp_path) == ["IMG_1.xmp"]
    assert b'xmlns:acme="http://example.com/ns/acme/1.0/"' in first
    assert b'acme:Reviewed="yes"' in first

    got = read_crop(path)
    assert got["crop"] == {
        "HasCrop": "True",
        "CropLeft": 0.25,
        "CropTop": 0.1,
        "CropRight": 0.75,
        "CropBottom": 0.6,
        "CropAngle": 0.0,
        "CropConstrainToWarp": 0.0,
        "AlreadyApplied": "False",
    }
    assert [r["id"] for r in got["regions"]] == ["face-1", "sacrop-4x3-1", "sacrop-4x3-2"]

    tags = exiftool(path)
    assert tags["Rating"] == 4 and tags["Subject"] == ["dog", "beach"]
    assert tags["Exposure2012"] == "+0.35"  # as written
    assert (tags["CropLeft"], tags["CropAngle"]) == (0.25, 0)
    face, *ours = tags["ImageRegion"]
    assert face == {
        "RId": "face-1",
        "RegionBoundary": {
            "RbShape": "rectangle",
            "RbUnit": "relative",
            "RbX": 0.4,
            "RbY": 0.2,
            "RbW": 0.1,
            "RbH": 0.15,
        },
    }
    assert [r["RId"] for r in ours] == ["sacrop-4x3-1", "sacrop-4x3-2"]


def frame_sidecar(width: str, length: str, orientation: str, as_elements: bool = False) -> str:
    """A sidecar another tool wrote with the frame of its crop."""
    tiff = 'xmlns:tiff="http://ns.adobe.com/tiff/1.0/"'
    if as_elements:
        fields = (
            f"><tiff:ImageWidth>{width}</tiff:ImageWidth>"
            f"<tiff:ImageLength>{length}</tiff:ImageLength>"
            f"<tiff:Orientation>{orientation}</tiff:Orientation></rdf:Description>"
        )
    else:
        fields = (
            f' tiff:ImageWidth="{width}" tiff:ImageLength="{length}"'
            f' tiff:Orientation="{orientation}"/>'
        )
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF'
        ' xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" {tiff} xmp:Rating="2"'
        ' xmlns:xmp="http://ns.adobe.com/xap/1.0/"' + fields + "</rdf:RDF></x:xmpmeta>"
    )


@pytest.mark.parametrize(
    "existing, as_elements, frame",
    [
        # the same photo (600 x 400 stored, turned 6), counted at twice the size: kept
        (("1200", "800", "6"), False, (1200, 800, 6)),
        (("1200", "800", "6"), True, (1200, 800, 6)),
        # another shape, another orientation, not numbers: sacrop's own
        (("640", "480", "6"), False, (600, 400, 6)),
        (("600", "400", "1"), True, (600, 400, 6)),
        (("0", "0", "6"), False, (600, 400, 6)),
        (("wide", "400", "6"), False, (600, 400, 6)),
    ],
    ids=["same", "same-elements", "other-shape", "other-orientation", "zero", "not-numbers"],
)
def test_a_sidecars_own_frame_is_kept_when_it_describes_the_photo(
    tmp_path: Path, existing: tuple[str, str, str], as_elements: bool, frame: tuple
) -> None:
    path = tmp_path / "IMG_2.xmp"
    path.write_text(frame_sidecar(*existing, as_elements), encoding="utf-8")
    write_sidecar(path, size=UPRIGHT, orientation=6, develop_crop=BOX, regions=[])
    got = read_crop(path)
    assert got["frame"] == dict(zip(("ImageWidth", "ImageLength", "Orientation"), frame))
    assert exiftool(path)["Rating"] == 2
    assert len(re.findall("(?<!/)tiff:ImageWidth", path.read_text())) == 1  # replaced, never added


def test_without_a_crop_the_one_there_stays(tmp_path: Path) -> None:
    path = tmp_path / "a.xmp"
    path.write_text(foreign_sidecar(crop_as_elements=False), encoding="utf-8")
    write_sidecar(path, size=SIZE, orientation=1, develop_crop=None, regions=[])
    got = read_crop(path)
    assert got["crop"] == {"HasCrop": "True", "CropLeft": 0.5, "CropAngle": 1.5}
    assert [r["id"] for r in got["regions"]] == ["face-1"]


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE x:xmpmeta [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF
 xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">&d;</rdf:RDF></x:xmpmeta>"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE x:xmpmeta [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF
 xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">&secret;</rdf:RDF></x:xmpmeta>"""


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00garbage", "not well-formed"),
        (b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF></x:xmpmeta>", "unbound prefix"),
        (b"<html><body/></html>", "no x:xmpmeta with an rdf:RDF in it"),
        (b"", "no element found"),
        (b"<?xml version='1.0' encoding='klingon'?><a/>", "unknown encoding: klingon"),
        (BOMB, "it has a DTD, which XMP never has$"),
        (EXTERNAL, "it has a DTD, which XMP never has$"),
    ],
    ids=["garbage", "bad-xml", "not-xmp", "empty", "encoding", "entity-bomb", "external-entity"],
)
def test_a_sidecar_that_is_not_xmp_is_left_alone(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    path = tmp_path / "a.xmp"
    path.write_bytes(content)
    with pytest.raises(SidecarError, match=f"^{path}: not valid XMP: .*{reason}") as caught:
        write_sidecar(path, size=SIZE, orientation=1, develop_crop=(0, 0, 4, 3), regions=REGIONS)
    assert "\n" not in str(caught.value) and isinstance(caught.value, OutputError)
    assert path.read_bytes() == content and os.listdir(tmp_path) == ["a.xmp"]


def test_an_unreadable_sidecar_is_a_one_line_output_error(tmp_path: Path) -> None:
    (tmp_path / "a.xmp").mkdir()
    with pytest.raises(OutputError, match=f"^{tmp_path / 'a.xmp'}: cannot read: Is a directory$"):
        write_sidecar(tmp_path / "a.xmp", size=SIZE, orientation=1, develop_crop=None, regions=[])


def test_impossible_boxes_and_orientations_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="orientation 9"):
        stored_crop((0, 0, 4, 3), SIZE, 9)
    with pytest.raises(ValueError, match=r"\(0, 0, 401, 300\) is not inside a 400x300 photo"):
        write_sidecar(
            tmp_path / "a.xmp",
            size=SIZE,
            orientation=1,
            develop_crop=(0, 0, 401, 300),
            regions=[],
        )
    assert os.listdir(tmp_path) == []


def xmp_packet(inner: str = "") -> bytes:
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="">{inner}</rdf:Description></rdf:RDF></x:xmpmeta>'
    ).encode()


def test_a_sidecar_nested_too_deep_is_one_line_and_left_alone(tmp_path: Path) -> None:
    """Issue 32, item 4: 1,000 nested elements were a RecursionError that stopped the batch."""
    path = tmp_path / "a.xmp"
    content = xmp_packet("<a>" * 1000 + "</a>" * 1000)
    path.write_bytes(content)
    with pytest.raises(SidecarError) as caught:
        write_sidecar(path, size=SIZE, orientation=1, develop_crop=(0, 0, 4, 3), regions=REGIONS)
    assert str(caught.value) == f"{path}: not used: elements nested more than 100 deep"
    assert path.read_bytes() == content
    path.write_bytes(xmp_packet("<a>" * 90 + "</a>" * 90))  # deep, but within the limit
    write_sidecar(path, size=SIZE, orientation=1, develop_crop=(0, 0, 4, 3), regions=REGIONS)
    assert read_crop(path)["crop"]["CropRight"] == 0.01


def test_a_sidecar_too_large_is_one_line_and_left_alone(tmp_path: Path, monkeypatch) -> None:
    """Issue 32, item 7: sidecar size is capped (a 100 MB attribute never parsed)."""
    monkeypatch.setattr(xmp, "MAX_SIDECAR_BYTES", 1000)
    path = tmp_path / "a.xmp"
    content = xmp_packet(f'<xmp:Label xmlns:xmp="http://ns.adobe.com/xap/1.0/">{"x" * 1000}'
                         "</xmp:Label>")  # fmt: skip
    path.write_bytes(content)
    with pytest.raises(SidecarError) as caught:
        read_crop(path)
    assert str(caught.value) == (
        f"{path}: not used: {len(content):,} bytes, more than the 1,000 a sidecar may have"
    )


def test_a_sidecar_is_parsed_in_one_piece(tmp_path: Path, monkeypatch) -> None:
    """Issue 32, item 7: expat scans a token split across pieces again at each piece, so a huge
    attribute fed in pieces takes time growing with its square: one feed of the whole file."""
    fed = []

    class Counting(xmp.SafeET.DefusedXMLParser):
        def feed(self, data):
            fed.append(len(data))
            return super().feed(data)

    monkeypatch.setattr(xmp.SafeET, "DefusedXMLParser", Counting)
    path = tmp_path / "a.xmp"
    content = xmp_packet(f'<a xmlns="urn:a" b="{"x" * 3_000_000}"/>')
    path.write_bytes(content)
    write_sidecar(path, size=SIZE, orientation=1, develop_crop=(0, 0, 4, 3), regions=REGIONS)
    assert fed == [len(content)]
    assert b'b="' + b"x" * 3_000_000 + b'"' in path.read_bytes()


def test_a_linked_sidecar_is_refused_and_link_and_target_stay(tmp_path: Path) -> None:
    """Issue 32, item 13: a rename would replace the link by a file, the target left stale; a
    target may lie outside the output folder: refused, one line."""
    target = tmp_path / "store" / "a.xmp"
    target.parent.mkdir()
    target.write_bytes(xmp_packet())
    link = tmp_path / "out" / "a.xmp"
    link.parent.mkdir()
    link.symlink_to(target)
    with pytest.raises(SidecarError) as caught:
        write_sidecar(link, size=SIZE, orientation=1, develop_crop=(0, 0, 4, 3), regions=REGIONS)
    assert str(caught.value) == (
        f"{link}: a symbolic link; sacrop does not write through it (left as it is)"
    )
    assert link.is_symlink() and target.read_bytes() == xmp_packet()


def test_a_read_only_sidecar_is_left_as_it_is(tmp_path: Path) -> None:
    """Issue 32, item 13: replacing needs only the folder's permission; the file's is kept."""
    path = tmp_path / "a.xmp"
    path.write_bytes(xmp_packet())
    path.chmod(0o444)
    with pytest.raises(OutputError) as caught:
        write_sidecar(path, size=SIZE, orientation=1, develop_crop=(0, 0, 4, 3), regions=REGIONS)
    assert str(caught.value) == (
        f"{path}: read-only; left as it is (make it writable to update it)"
    )
    assert path.read_bytes() == xmp_packet() and os.listdir(tmp_path) == ["a.xmp"]


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    """How far two pictures' patterns differ: the mean absolute difference of their grey
    levels, both 64 x 64 and scaled to mean 0 and deviation 1 (darktable's own tones aside)."""

    def pattern(im: Image.Image) -> np.ndarray:
        grey = np.asarray(im.convert("L").resize((64, 64), Image.Resampling.BOX), np.float64)
        return (grey - grey.mean()) / max(grey.std(), 1e-9)

    return float(np.abs(pattern(a) - pattern(b)).mean())


def darktable_export(photo: Path, tmp_path: Path) -> Image.Image:
    """What ``darktable-cli PHOTO OUT --core`` exports, the sidecar beside PHOTO applied (a
    fresh configuration: no library remembers an earlier edit)."""
    config, out = tmp_path / f"dt-{photo.stem}", tmp_path / f"dt-{photo.stem}.jpg"
    done = subprocess.run(
        ["darktable-cli", str(photo), str(out), "--core", "--configdir", str(config)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0 and out.exists(), done.stdout + done.stderr
    assert "invalid crop data" not in done.stdout + done.stderr
    with Image.open(out) as im:
        return im.convert("RGB")


@pytest.mark.slow
@pytest.mark.parametrize("ratio", ["4:3", "3:4"])
def test_darktable_exports_sacrops_crop(tmp_path: Path, ratio: str) -> None:
    """The real reader: darktable's Lightroom import applies the sidecar's crop to JPEGs stored
    turned (orientations 1, 6, 8) and to a DNG; the export is sacrop's crop, within darktable's
    rounding of a pixel and the colours of its own develop."""
    require_tool("darktable-cli", APT_TOOLS)
    shoot = tmp_path / "shoot"
    shoot.mkdir()
    with Image.open(EXAMPLES / "coffee.jpg") as im:
        upright = im.convert("RGB")
    for orientation in (1, 6, 8):
        stored = upright.transpose(STORE[orientation]) if orientation in STORE else upright
        stored.save(shoot / f"o{orientation}.jpg", quality=95, exif=exif_bytes(orientation))
    make_dng(shoot / "raw.dng", upright, orientation=6)
    manifest = tmp_path / "m.jsonl"
    result = run("crop", shoot, "-r", ratio, "-o", shoot, "--xmp", "--manifest", manifest)
    assert result.exit_code == 0, result.stderr
    records = read_jsonl(manifest)
    assert sorted(Path(r["source"]).name for r in records) == [
        "o1.jpg", "o6.jpg", "o8.jpg", "raw.dng"
    ]  # fmt: skip
    for record in records:
        crop = record["crops"][0]
        x1, y1, x2, y2 = crop["box"]
        exported = darktable_export(Path(record["source"]), tmp_path)
        assert exported.width == pytest.approx(x2 - x1, rel=0.01), record["source"]
        assert exported.height == pytest.approx(y2 - y1, rel=0.01), record["source"]
        with Image.open(crop["path"]) as im:
            ours = im.convert("RGB")
        same = mean_difference(exported, ours)
        assert same <= 0.3, record["source"]  # darktable's develop of the DNG: up to 0.14
        # the crop turned the wrong way would differ several times more
        assert 3 * same < mean_difference(exported, ImageOps.mirror(ours)), record["source"]
        assert 3 * same < mean_difference(exported, ours.rotate(180)), record["source"]
