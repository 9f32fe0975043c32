"""What a crop must not cut and should keep: the faces and the subject of a photo, as rules of
the crop search.

The learned scorer was trained on about a thousand photos and does not know faces; cropping
services people trust treat them as hard constraints, and so does sacrop. Each face counts twice:
as the detector's box, and as its *head* (the box widened for hair, ears and chin). A crop
*cuts* a region when it holds some of it but not all (up to :data:`TOLERANCE` of its area either
way is forgiven: a pixel row of hair is not a cut).

Every box gets a *level*, lower is better; the search keeps only the boxes of the best level any
box of the ratio reaches, so a constraint gives way only when no window of that ratio can meet it:

0. cuts no head, keeps every head of the *group* (the faces at least :data:`GROUP_AREA` of the
   largest one's area) whole;
1. cuts no head, keeps the largest head whole;
2. cuts no face, keeps the largest face whole (its head does not fit);
3. cuts no face (the largest face does not fit: a note says so);
4. cuts a face (every window does: the ones that keep the most faces whole are kept).

Within a level, the boxes that keep the *subject* whole come first (:data:`SUBJECT_STEP`): the
box around the peak of the network's own high-level activation map, its "salient objects" map
(:func:`subject_box`). The scorer sees that map too, but it is trained on a thousand photos;
this keeps a window of a narrow ratio from halving the subject when one can hold it.
"""

from __future__ import annotations

import numpy as np

from sacrop_cli.ratios import Ratio

#: A head around a face box: (left, top, right, bottom) margins, in face widths and heights.
HEAD_MARGINS = (0.25, 0.5, 0.25, 0.15)
#: The share of a region's area that may lie on the wrong side of a crop's edge.
TOLERANCE = 0.05
#: Faces at least this share of the largest face's area belong to the group kept together.
GROUP_AREA = 0.25
#: The subject: the cells of the high-level activation map connected to its peak and at least
#: this share of it (the map is a coarse grid: lower thresholds take in most of the photo).
SUBJECT_THRESHOLD = 0.85
#: Within a face level, boxes that keep the subject whole come first, by this much of a level.
SUBJECT_STEP = 1e-3
#: The levels whose crops carry a note in the results (see the module's docstring).
NOTES = {
    3: "no {ratio} window holds the largest face whole",
    4: "every {ratio} window cuts a face; this one keeps the most faces whole",
}


def heads(faces: np.ndarray, width: int, height: int) -> np.ndarray:
    """The head around each face box ``[N, 4]`` (see :data:`HEAD_MARGINS`), within the photo."""
    faces = np.asarray(faces, np.float64).reshape(-1, 4)
    fw, fh = faces[:, 2] - faces[:, 0], faces[:, 3] - faces[:, 1]
    left, top, right, bottom = HEAD_MARGINS
    out = np.stack(
        [
            faces[:, 0] - left * fw,
            faces[:, 1] - top * fh,
            faces[:, 2] + right * fw,
            faces[:, 3] + bottom * fh,
        ],
        1,
    )
    return np.clip(out, 0, [width, height, width, height])


def inside(boxes: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """The share of each region's area inside each box: ``[B, 4]`` x ``[N, 4]`` -> ``[B, N]``."""
    b = np.asarray(boxes, np.float64).reshape(-1, 1, 4)
    r = np.asarray(regions, np.float64).reshape(1, -1, 4)
    iw = np.clip(np.minimum(b[..., 2], r[..., 2]) - np.maximum(b[..., 0], r[..., 0]), 0, None)
    ih = np.clip(np.minimum(b[..., 3], r[..., 3]) - np.maximum(b[..., 1], r[..., 1]), 0, None)
    area = (r[..., 2] - r[..., 0]) * (r[..., 3] - r[..., 1])
    return iw * ih / np.maximum(area, 1e-9)


def _cuts(share: np.ndarray) -> np.ndarray:
    return ((share > TOLERANCE) & (share < 1 - TOLERANCE)).any(1)


def _whole(share: np.ndarray) -> np.ndarray:
    return share >= 1 - TOLERANCE


def subject_box(amap: np.ndarray, width: int, height: int) -> np.ndarray:
    """The subject in an activation map ``[rows, cols]`` over the photo: the box (photo pixels)
    around the cells connected to the peak that reach :data:`SUBJECT_THRESHOLD` of it."""
    rows, cols = amap.shape
    on = amap >= SUBJECT_THRESHOLD * amap.max()
    start = np.unravel_index(int(np.argmax(amap)), amap.shape)
    seen, todo = {start}, [start]
    while todo:
        r, c = todo.pop()
        for near in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            if 0 <= near[0] < rows and 0 <= near[1] < cols and on[near] and near not in seen:
                seen.add(near)
                todo.append(near)
    ys, xs = zip(*seen)
    return np.array(
        [
            min(xs) * width / cols,
            min(ys) * height / rows,
            (max(xs) + 1) * width / cols,
            (max(ys) + 1) * height / rows,
        ]
    )


class CropRules:
    """The rules of one photo: its faces (``[N, 4+]``, largest first, full-resolution pixels) and
    its subject (a box, or None); levels of boxes, and boxes moved to meet them."""

    def __init__(
        self, faces: np.ndarray, width: int, height: int, subject: np.ndarray | None = None
    ) -> None:
        faces = np.asarray(faces, np.float64)
        self.faces = faces.reshape(len(faces), -1)[:, :4] if faces.size else np.zeros((0, 4))
        self.heads = heads(self.faces, width, height)
        self.size = (width, height)
        self.subject = subject
        area = (self.faces[:, 2] - self.faces[:, 0]) * (self.faces[:, 3] - self.faces[:, 1])
        self.group = area >= GROUP_AREA * area.max() if len(area) else area.astype(bool)

    def __bool__(self) -> bool:
        return len(self.faces) > 0 or self.subject is not None

    def levels(self, boxes: np.ndarray) -> np.ndarray:
        """Each box's level (0-4, see the module) plus, for level 4, a fraction below 1 that
        orders boxes by faces kept whole (more is lower), plus :data:`SUBJECT_STEP` if it does
        not keep the subject whole: ``[B]`` float, lower is better."""
        boxes = np.asarray(boxes).reshape(-1, 4)
        out = np.zeros(len(boxes))
        if self.subject is not None:
            out += SUBJECT_STEP * ~_whole(inside(boxes, self.subject[None]))[:, 0]
        if not len(self.faces):
            return out
        head, face = inside(boxes, self.heads), inside(boxes, self.faces)
        no_head_cut, no_face_cut = ~_cuts(head), ~_cuts(face)
        level = 4 + 1 - (_whole(face).sum(1) + 1) / (len(self.faces) + 1)
        level = np.where(no_face_cut, 3, level)
        level = np.where(no_face_cut & _whole(face[:, 0]), 2, level)
        level = np.where(no_head_cut & _whole(head[:, 0]), 1, level)
        return out + np.where(no_head_cut & _whole(head[:, self.group]).all(1), 0, level)

    def anchored(self, boxes: np.ndarray) -> np.ndarray:
        """``boxes`` (same sizes) moved as little as possible to hold the group's heads, or else
        the largest head, or else the largest face; boxes too small for all three are dropped.
        Candidates from a grid may all miss a face; these give the search windows that don't.
        (The subject needs none: moving windows to it changed no measured figure and cost a
        tenth of the analysis.)"""
        boxes = np.asarray(boxes, np.int64).reshape(-1, 4)
        if not len(self.faces) or not len(boxes):
            return boxes[:0]
        w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        group = self.heads[self.group]
        targets = [
            np.concatenate([group.min(0)[:2], group.max(0)[2:]]),
            self.heads[0],
            self.faces[0],
        ]
        out, placed = boxes.copy(), np.zeros(len(boxes), bool)
        for t in targets:
            fits = ~placed & (w >= t[2] - t[0]) & (h >= t[3] - t[1])
            x1 = np.clip(boxes[:, 0], np.ceil(t[2]) - w, np.floor(t[0]))
            y1 = np.clip(boxes[:, 1], np.ceil(t[3]) - h, np.floor(t[1]))
            x1 = np.clip(x1, 0, self.size[0] - w)
            y1 = np.clip(y1, 0, self.size[1] - h)
            out[fits] = np.stack([x1, y1, x1 + w, y1 + h], 1)[fits]
            placed |= fits
        return np.unique(out[placed], axis=0)


def note(level: float, ratio: Ratio) -> str | None:
    """What the results say about a crop of ``level`` (None when every face rule was met)."""
    text = NOTES.get(int(level))
    return text.format(ratio=ratio.label) if text else None
