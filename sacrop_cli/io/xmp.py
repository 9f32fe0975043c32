"""XMP sidecars: sacrop's suggestions for raw developers and asset managers, the photo untouched.

The first ratio's best crop goes in as a Camera Raw crop (``crs:``), which Lightroom, Camera Raw
and darktable's Lightroom import apply; every suggestion goes in as an IPTC Image Region, which
asset managers list. An existing sidecar is updated, never replaced: sacrop owns only the crop
fields and the regions whose ``rId`` starts with ``sacrop-``, so ratings, keywords, develop
settings and other tools' regions survive a rerun.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from sacrop_cli._version import __version__
from sacrop_cli.errors import OutputError, one_line
from sacrop_cli.io.atomic import atomic_write, check_replaceable

# Conventional prefixes, so that the files read like Adobe's (ElementTree would say ns0, ns1).
NAMESPACES = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "crs": "http://ns.adobe.com/camera-raw-settings/1.0/",
    "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
    "Iptc4xmpCore": "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "xmpMM": "http://ns.adobe.com/xap/1.0/mm/",
    "stEvt": "http://ns.adobe.com/xap/1.0/sType/ResourceEvent#",
    "photoshop": "http://ns.adobe.com/photoshop/1.0/",
    "tiff": "http://ns.adobe.com/tiff/1.0/",
    "exif": "http://ns.adobe.com/exif/1.0/",
    "aux": "http://ns.adobe.com/exif/1.0/aux/",
    "lr": "http://ns.adobe.com/lightroom/1.0/",
}
for _prefix, _uri in NAMESPACES.items():
    ET.register_namespace(_prefix, _uri)

_X, _RDF, _CRS, _IPTC, _XMP, _TIFF = (
    f"{{{NAMESPACES[prefix]}}}" for prefix in ("x", "rdf", "crs", "Iptc4xmpExt", "xmp", "tiff")
)
_XML = "{http://www.w3.org/XML/1998/namespace}"
_DESC, _LI, _ABOUT, _PARSE_TYPE = (_RDF + n for n in ("Description", "li", "about", "parseType"))
_CROP_FIELDS = (
    "HasCrop", "CropLeft", "CropTop", "CropRight", "CropBottom", "CropAngle", "CropConstrainToWarp",
    "AlreadyApplied",
)  # fmt: skip
_WORDS = ("HasCrop", "AlreadyApplied")  # the crop fields that are not numbers
#: The frame the crop's fractions are of, which darktable's Lightroom import reads from the
#: sidecar itself (without them it computes a crop of NaNs): stored size and EXIF orientation.
_FRAME_FIELDS = ("ImageWidth", "ImageLength", "Orientation")
_OWN_ID = "sacrop-"
_ROLES = "http://cv.iptc.org/newscodes/imageregionrole/"

# EXIF orientation -> (swap, flip_x, flip_y): where a point (u, v) of the upright photo, in
# fractions, lies in the stored pixels. Swap first: stored (x, y) = (v, u); then flip_x makes
# x 1 - x and flip_y makes y 1 - y. Camera Raw's crop is in the stored frame (see write_sidecar).
_STORED_FRAME = {
    1: (False, False, False),
    2: (False, True, False),
    3: (False, True, True),
    4: (False, False, True),
    5: (True, False, False),
    6: (True, False, True),
    7: (True, True, True),
    8: (True, True, False),
}


#: The largest sidecar read (bytes): Lightroom's, with a long history, are well under it.
MAX_SIDECAR_BYTES = 16 * 1024 * 1024
#: The deepest nesting of elements read (XMP's is about 10).
MAX_SIDECAR_DEPTH = 100


class SidecarError(OutputError):
    """An existing sidecar that is not XMP, too large or too deep, read-only, or a symbolic
    link: rewriting it would destroy what someone else wrote, or write elsewhere."""


@dataclass(frozen=True)
class Region:
    """One crop suggestion (the fields of :class:`sacrop_cli.api.Crop`)."""

    ratio: str  # "4:3"
    rank: int
    box: tuple[int, int, int, int]  # upright pixels, x2 and y2 exclusive
    score: float


#: ``--xmp-name``: ``stem`` (``IMG_1.xmp``) or ``full`` (``IMG_1.CR2.xmp``).
XMP_NAMES = ("stem", "full")


def sidecar_name(photo_name: str, style: str = "stem") -> str:
    """``IMG_1.CR2`` -> ``IMG_1.xmp`` (``stem``): Adobe's convention, which Lightroom and
    darktable's Lightroom import look for; or ``IMG_1.CR2.xmp`` (``full``), the name digiKam
    and darktable's own sidecars use."""
    if style == "full":
        return f"{photo_name}.xmp"
    return str(PurePath(photo_name).with_suffix(".xmp"))


def stored_size(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    """The stored (unrotated) width and height of an upright ``size`` photo: swapped for the
    orientations that turn it a quarter (5 to 8)."""
    return (size[1], size[0]) if orientation >= 5 else size


def stored_crop(
    box: tuple[int, int, int, int], size: tuple[int, int], orientation: int
) -> tuple[float, float, float, float]:
    """``(left, top, right, bottom)`` fractions of the stored (unrotated) pixels for an upright
    ``box`` of an upright ``size`` photo whose EXIF orientation is ``orientation``."""
    if orientation not in _STORED_FRAME:
        raise ValueError(f"EXIF orientation {orientation!r} is not 1..8")
    left, top, right, bottom = _fractions(box, size)
    swap, flip_x, flip_y = _STORED_FRAME[orientation]
    xs, ys = ((top, bottom), (left, right)) if swap else ((left, right), (top, bottom))
    if flip_x:
        xs = (1 - xs[1], 1 - xs[0])
    if flip_y:
        ys = (1 - ys[1], 1 - ys[0])
    return xs[0], ys[0], xs[1], ys[1]


def inset_crop(
    crop: tuple[float, float, float, float], inset: tuple[float, float, float, float]
) -> tuple[float, float, float, float]:
    """A ``crop`` of the stored frame (fractions) said in fractions of its part ``inset``; what
    lies outside the inset is cut off, as the readers never show it."""
    left, top, right, bottom = inset
    xs = [min(max((v - left) / (right - left), 0.0), 1.0) for v in crop[0::2]]
    ys = [min(max((v - top) / (bottom - top), 0.0), 1.0) for v in crop[1::2]]
    return xs[0], ys[0], xs[1], ys[1]


def write_sidecar(
    path: Path | str,
    *,
    size: tuple[int, int],
    orientation: int,
    develop_crop: tuple[int, int, int, int] | None,
    regions: Sequence[Region],
    inset: tuple[float, float, float, float] | None = None,
) -> Path:
    """Write or update the sidecar ``path`` with ``develop_crop`` and ``regions`` (upright pixel
    boxes of an upright ``size`` photo); returns ``path``.

    ``develop_crop`` replaces the Camera Raw crop, converted to the stored pixels' frame that
    Camera Raw uses for a photo with an EXIF ``orientation`` (darktable's Lightroom import
    undoes exactly this), with that frame (``tiff:ImageWidth``, ``tiff:ImageLength``,
    ``tiff:Orientation``: see :func:`_set_frame`); None leaves any crop there alone.
    ``inset`` (fractions of the stored frame: a DNG's DefaultCrop) is the part of the stored
    pixels raw developers show: the crop is said in its frame (see :func:`inset_crop`).
    ``regions`` replace sacrop's earlier regions, in the upright frame, as displayed. The file
    is replaced atomically (left alone when nothing in it changes); a sidecar that is not XMP
    is left as it is and SidecarError raised, other write problems raise OutputError.
    """
    path = Path(path)
    if path.is_symlink():
        raise SidecarError(
            f"{path}: a symbolic link; sacrop does not write through it (left as it is)"
        )
    check_replaceable(path)
    data = _read(path)
    root = _new_packet() if data is None else _parse(path, data)
    descriptions = _descriptions(root)
    if develop_crop is not None:
        crop, frame = stored_crop(develop_crop, size, orientation), stored_size(size, orientation)
        if inset is not None:
            crop = inset_crop(crop, inset)
            left, top, right, bottom = inset
            frame = (round(frame[0] * (right - left)), round(frame[1] * (bottom - top)))
        _set_crop(descriptions, crop)
        _set_frame(descriptions, frame, orientation)
    _set_regions(descriptions, [_region_element(r, size) for r in regions])
    ET.indent(root, space=" ")
    text = ET.tostring(root, encoding="unicode") + "\n"
    if data == text.encode():
        return path  # a rerun: nothing new, the file left as it is
    return atomic_write(path, lambda fh: fh.write(text.encode()), durable=data is not None)


def read_crop(path: Path | str) -> dict:
    """What a sidecar says about crops, whoever wrote it: ``{"crop": {"HasCrop": "True",
    "CropLeft": 0.1, ...}, "frame": {"ImageWidth": 6000, "ImageLength": 4000, "Orientation":
    6}, "regions": [{"id", "name", "roles", "shape", "unit", "x", "y", "w", "h"}, ...]}``
    (crop numbers as floats, frame ones as integers; absent fields left out)."""
    path = Path(path)
    data = _read(path)
    if data is None:
        raise OutputError(f"{path}: cannot read: No such file or directory")
    root = _parse(path, data)
    crop: dict[str, str | float] = {}
    frame: dict[str, int] = {}
    regions = []
    for desc in _descriptions(root):
        for name in _CROP_FIELDS:
            value = _value(desc, _CRS + name)
            if value is not None:
                crop[name] = value if name in _WORDS else float(value)
        for name in _FRAME_FIELDS:
            value = _value(desc, _TIFF + name)
            if value is not None:
                frame[name] = int(value)
        for bag in desc.findall(_IPTC + "ImageRegion/*"):
            regions += [_read_region(li) for li in bag.findall(_LI)]
    return {"crop": crop, "frame": frame, "regions": regions}


def _fractions(box: tuple[int, int, int, int], size: tuple[int, int]) -> tuple[float, ...]:
    width, height = size
    x1, y1, x2, y2 = box
    if width <= 0 or height <= 0 or not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
        raise ValueError(f"box {box} is not inside a {width}x{height} photo")
    return x1 / width, y1 / height, x2 / width, y2 / height


def _number(value: float) -> str:
    return f"{value:.6f}"


def _new_packet() -> ET.Element:
    root = ET.Element(_X + "xmpmeta", {_X + "xmptk": f"sacrop {__version__}"})
    ET.SubElement(root, _RDF + "RDF")
    return root


def _descriptions(root: ET.Element) -> list[ET.Element]:
    """The top-level rdf:Descriptions, where properties of the photo live (one made if none)."""
    rdf = root.find(_RDF + "RDF")
    assert rdf is not None  # every root comes from _new_packet or _parse, which check
    return rdf.findall(_DESC) or [ET.SubElement(rdf, _DESC, {_ABOUT: ""})]


class _Builder(ET.TreeBuilder):
    """ElementTree's builder that counts the depth (refusing beyond :data:`MAX_SIDECAR_DEPTH`:
    deeper trees exhaust the recursion of everything that walks them) and keeps the prefixes."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path, self.depth = path, 0
        self.prefixes: list[tuple[str, str]] = []

    def start(self, tag: str, attrs: dict[str, str]) -> ET.Element:
        self.depth += 1
        if self.depth > MAX_SIDECAR_DEPTH:
            raise SidecarError(
                f"{self.path}: not used: elements nested more than {MAX_SIDECAR_DEPTH} deep"
            )
        return super().start(tag, attrs)

    def end(self, tag: str) -> ET.Element:
        self.depth -= 1
        return super().end(tag)

    def start_ns(self, prefix: str, uri: str) -> None:
        self.prefixes.append((prefix, uri))


def _read(path: Path) -> bytes | None:
    """The sidecar's bytes (None: there is none), refused beyond :data:`MAX_SIDECAR_BYTES`."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > MAX_SIDECAR_BYTES:
                raise SidecarError(
                    f"{path}: not used: {size:,} bytes, more than the {MAX_SIDECAR_BYTES:,} "
                    "a sidecar may have"
                )
            return fh.read(MAX_SIDECAR_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as err:
        raise OutputError(f"{path}: cannot read: {err.strerror or err}") from None


def _parse(path: Path, data: bytes) -> ET.Element:
    """The x:xmpmeta element of ``data``, read without DTDs or entities (a sidecar may come
    from anywhere) and no deeper than :data:`MAX_SIDECAR_DEPTH`; the file's own prefixes are
    kept for namespaces sacrop has none for. Fed to expat in one piece: a token (a huge
    attribute) split across pieces is scanned again at each one."""
    builder = _Builder(path)
    try:
        parser = SafeET.DefusedXMLParser(target=builder, forbid_dtd=True)
        parser.feed(data)
        root = parser.close()
    except DefusedXmlException:  # where entity bombs and external entities would hide
        raise SidecarError(f"{path}: not valid XMP: it has a DTD, which XMP never has") from None
    except (ET.ParseError, LookupError) as err:  # LookupError: an unknown encoding
        raise SidecarError(f"{path}: not valid XMP: {one_line(err)}") from None
    if root.tag != _X + "xmpmeta" or root.find(_RDF + "RDF") is None:
        raise SidecarError(f"{path}: not valid XMP: no x:xmpmeta with an rdf:RDF in it")
    for prefix, uri in builder.prefixes:
        new = prefix not in NAMESPACES and uri not in NAMESPACES.values()
        if new and prefix and not re.fullmatch(r"ns\d+", prefix):
            ET.register_namespace(prefix, uri)
    return root


def _value(node: ET.Element, tag: str) -> str | None:
    """A simple property written either way RDF allows: as an attribute or as an element."""
    if tag in node.attrib:
        return node.attrib[tag]
    child = node.find(tag)
    return None if child is None else (child.text or "").strip()


def _struct(node: ET.Element) -> ET.Element:
    """The element holding a struct's fields: ``rdf:parseType="Resource"``, property attributes
    or a nested rdf:Description."""
    desc = node.find(_DESC)
    return node if desc is None else desc


def _set_crop(descriptions: list[ET.Element], fractions: tuple[float, ...]) -> None:
    """Drop every crop field, wherever and however written, then add sacrop's as attributes
    (as Lightroom Classic writes them) to the description that has Camera Raw settings."""
    owned = {_CRS + name for name in _CROP_FIELDS}
    for desc in descriptions:
        for tag in owned & set(desc.attrib):
            del desc.attrib[tag]
        for child in [c for c in desc if c.tag in owned]:
            desc.remove(child)
    crs = [
        d for d in descriptions if any(t.startswith(_CRS) for t in [*d.attrib, *(c.tag for c in d)])
    ]
    target = (crs or descriptions)[0]
    values = ("True", *(_number(v) for v in fractions), "0", "0", "False")  # _CROP_FIELDS' order
    for name, value in zip(_CROP_FIELDS, values):
        target.set(_CRS + name, value)


def _set_frame(
    descriptions: list[ET.Element], size: tuple[int, int], orientation: int
) -> None:
    """Say which frame the crop's fractions are of: the ``size`` of the stored pixels and the
    EXIF ``orientation``, beside the crop. A sidecar's own values are kept when they describe
    the same photo (the same orientation and the same shape: another tool may count a RAW's
    pixels a little differently, and darktable only needs the shape); else they are replaced,
    wherever and however written."""
    tags = [_TIFF + name for name in _FRAME_FIELDS]
    found = [next((v for d in descriptions if (v := _value(d, t))), None) for t in tags]
    values: tuple = (*size, orientation)
    try:
        width, length, turn = (int(v) for v in found)  # type: ignore[arg-type]
        shape = abs(width * size[1] - length * size[0]) <= 0.01 * width * size[1]
        if turn == orientation and min(width, length) > 0 and shape:
            values = (width, length, turn)
    except (TypeError, ValueError):
        pass
    for desc in descriptions:
        for tag in tags:
            desc.attrib.pop(tag, None)
            for child in desc.findall(tag):
                desc.remove(child)
    target = next(d for d in descriptions if d.get(_CRS + "HasCrop") is not None)
    for tag, value in zip(tags, values):  # after the crop, as every rerun writes them
        target.set(tag, str(value))


def _set_regions(descriptions: list[ET.Element], new: list[ET.Element]) -> None:
    """Replace the regions sacrop wrote before with ``new``; other regions stay, in order."""
    kept = None
    for desc in descriptions:
        for prop in desc.findall(_IPTC + "ImageRegion"):
            for bag in list(prop):
                for li in bag.findall(_LI):
                    if (_value(_struct(li), _IPTC + "rId") or "").startswith(_OWN_ID):
                        bag.remove(li)
                if not len(bag):
                    prop.remove(bag)
                elif kept is None:
                    kept = bag
            if not len(prop):
                desc.remove(prop)
    if new:
        if kept is None:
            kept = _sub(_sub(descriptions[0], _IPTC + "ImageRegion"), _RDF + "Bag")
        kept.extend(new)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    child = ET.SubElement(parent, tag, attrib)
    child.text = text
    return child


def _lang_alt(parent: ET.Element, tag: str, text: str) -> None:
    alt = _sub(_sub(parent, tag), _RDF + "Alt")
    _sub(alt, _LI, text, **{_XML + "lang": "x-default"})


def _region_element(region: Region, size: tuple[int, int]) -> ET.Element:
    """One IPTC Image Region; the score goes in the Name since the standard has no field for it
    and a made-up namespace would be invisible to every other tool."""
    left, top, right, bottom = _fractions(region.box, size)
    x1, y1, x2, y2 = region.box
    shape = "square" if x2 - x1 == y2 - y1 else "landscape" if x2 - x1 > y2 - y1 else "portrait"
    li = ET.Element(_LI, {_PARSE_TYPE: "Resource"})
    _sub(li, _IPTC + "rId", f"{_OWN_ID}{region.ratio.replace(':', 'x')}-{region.rank}")
    name = f"sacrop {region.ratio} crop, rank {region.rank} (score {region.score:.4f})"
    _lang_alt(li, _IPTC + "Name", name)
    boundary = _sub(li, _IPTC + "RegionBoundary", **{_PARSE_TYPE: "Resource"})
    _sub(boundary, _IPTC + "rbShape", "rectangle")
    _sub(boundary, _IPTC + "rbUnit", "relative")
    for field, value in zip(("rbX", "rbY", "rbW", "rbH"), (left, top, right - left, bottom - top)):
        _sub(boundary, _IPTC + field, _number(value))
    role = _sub(_sub(_sub(li, _IPTC + "rRole"), _RDF + "Bag"), _LI, **{_PARSE_TYPE: "Resource"})
    _sub(_sub(_sub(role, _XMP + "Identifier"), _RDF + "Bag"), _LI, f"{_ROLES}{shape}Cropping")
    _lang_alt(role, _IPTC + "Name", f"{shape} format cropping")
    return li


def _read_region(li: ET.Element) -> dict:
    node = _struct(li)
    region: dict = {"id": _value(node, _IPTC + "rId")}
    name = node.find(f"{_IPTC}Name/{_RDF}Alt/{_LI}")
    region["name"] = None if name is None else name.text
    region["roles"] = [uri.text for uri in node.iterfind(f"{_IPTC}rRole//{_XMP}Identifier/*/{_LI}")]
    boundary = node.find(_IPTC + "RegionBoundary")
    if boundary is not None:
        fields = _struct(boundary)
        for key, tag in (("shape", "rbShape"), ("unit", "rbUnit")):
            region[key] = _value(fields, _IPTC + tag)
        for key, tag in (("x", "rbX"), ("y", "rbY"), ("w", "rbW"), ("h", "rbH")):
            value = _value(fields, _IPTC + tag)
            if value is not None:
                region[key] = float(value)
    return region
