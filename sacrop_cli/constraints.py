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

A person's hints (:mod:`sacrop_cli.hints`) outrank these rules: a box's key is its face level
plus :data:`HINT_STEP` times its *hint key* (:meth:`CropRules.hint_keys`), so the face rules
only order the boxes that meet the hints as well as any box of the ratio can.

The "largest face" is the largest *confident* detection (:data:`CONFIDENT_SCORE`), and the
group is made of confident ones: a larger uncertain detection (often not a face at all) must
not take the place of a smaller clear face.
"""

from __future__ import annotations

import numpy as np

from sacrop_cli.candidates import ASPECT_BOUNDS
from sacrop_cli.hints import PixelHints
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
#: A detection scoring at least this is a clear face: the largest face and the group are chosen
#: among them (when there is one); the others still must not be cut.
CONFIDENT_SCORE = 0.8
#: One step of the hint key outranks every face level (0 to 5, plus the subject's step).
HINT_STEP = 10.0
#: A box that misses a hint is ordered by how far it misses it (see :meth:`CropRules.hint_keys`)
#: in steps of ``1 / HINT_GRAIN``: boxes within a step are of one key and the scorer decides.
HINT_GRAIN = 20
#: A crop holds the focus point in its middle: at least this share of its width (height) from its
#: left and right (top and bottom) edges, so that the crop is around the point (imgproxy's
#: ``fp``, thumbor's ``focal``, imgix's ``fp-x/fp-y``), not merely holding it at an edge.
FOCUS_MARGIN = 1 / 6
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


def _main_face_first(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Faces ``[N, 4+]`` (largest first; a fifth column is the detector's score) with the
    largest confident one moved first; which of them are confident; and which are the
    uncertain detections larger than it."""
    faces = faces.reshape(len(faces), -1) if faces.size else np.zeros((0, 4))
    scores = faces[:, 4] if faces.shape[1] > 4 else np.ones(len(faces))
    confident = scores >= CONFIDENT_SCORE
    larger = np.zeros(len(faces), bool)
    if confident.any() and not confident[0]:
        main = int(np.argmax(confident))  # the first confident one is the largest of them
        order = [main, *(i for i in range(len(faces)) if i != main)]
        faces, confident = faces[order], confident[order]
        larger[1 : main + 1] = True
    return faces[:, :4], confident if confident.any() else ~larger, larger


class CropRules:
    """The rules of one photo: its faces (``[N, 4+]``, largest first, full-resolution pixels,
    with the detector's score as a fifth column if known), its subject (a box, or None) and a
    person's hints (in pixels); keys of boxes, and boxes moved to meet them."""

    def __init__(
        self,
        faces: np.ndarray,
        width: int,
        height: int,
        subject: np.ndarray | None = None,
        hints: PixelHints | None = None,
    ) -> None:
        self.faces, confident, self.outranked = _main_face_first(np.asarray(faces, np.float64))
        self.heads = heads(self.faces, width, height)
        self.size = (width, height)
        self.subject = subject
        area = (self.faces[:, 2] - self.faces[:, 0]) * (self.faces[:, 3] - self.faces[:, 1])
        sizeable = area >= GROUP_AREA * area[0] if len(area) else confident
        self.group = confident & sizeable
        #: Every detection of the group's size, clear or not: windows are first moved to hold
        #: them all, as none may be cut.
        self.sizeable = sizeable
        hints = hints or PixelHints()
        self.keep = np.asarray(hints.keep, np.float64).reshape(-1, 4)
        self.avoid = np.asarray(hints.avoid, np.float64).reshape(-1, 4)
        self.focus = None if hints.focus is None else np.asarray(hints.focus, np.float64)

    def __bool__(self) -> bool:
        return len(self.faces) > 0 or self.subject is not None or self.hinted

    @property
    def hinted(self) -> bool:
        return len(self.keep) > 0 or len(self.avoid) > 0 or self.focus is not None

    def levels(self, boxes: np.ndarray) -> np.ndarray:
        """Each box's key: its level (0-4, see the module) plus, for level 4, a fraction below 1
        that orders boxes by faces kept whole (more is lower), plus :data:`SUBJECT_STEP` if it
        does not keep the subject whole, plus :data:`HINT_STEP` times its hint key: ``[B]``
        float, lower is better."""
        boxes = np.asarray(boxes).reshape(-1, 4)
        out = HINT_STEP * self.hint_keys(boxes) if self.hinted else np.zeros(len(boxes))
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

    def _hint_checks(self, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per box (``[B, 4]``): which keep regions it holds whole and which avoid regions it
        overlaps (``[B, K]``, ``[B, A]`` bool), and how far the focus is from its middle
        (``[B]``, pixels; 0 when it holds the point :data:`FOCUS_MARGIN` from its edges)."""
        b = boxes.astype(np.float64)[:, None, :]
        k, a = self.keep[None], self.avoid[None]
        held = (
            (b[..., 0] <= k[..., 0] + 1e-6)
            & (b[..., 1] <= k[..., 1] + 1e-6)
            & (b[..., 2] >= k[..., 2] - 1e-6)
            & (b[..., 3] >= k[..., 3] - 1e-6)
        )
        overlaps = (
            (b[..., 0] < a[..., 2])
            & (b[..., 2] > a[..., 0])
            & (b[..., 1] < a[..., 3])
            & (b[..., 3] > a[..., 1])
        )
        if self.focus is None:
            return held, overlaps, np.zeros(len(boxes))
        x1, y1, x2, y2 = (self.focus_region(boxes)[:, i] for i in range(4))
        fx, fy = self.focus
        dx = np.maximum(np.maximum(x1 - fx, fx - x2) - 1e-6, 0)
        dy = np.maximum(np.maximum(y1 - fy, fy - y2) - 1e-6, 0)
        return held, overlaps, np.hypot(dx, dy)

    def _outside(self, boxes: np.ndarray) -> np.ndarray:
        """Per box (``[B, 4]``), whether the focus point lies outside it (False without one)."""
        if self.focus is None:
            return np.zeros(len(boxes), bool)
        (fx, fy), b = self.focus, boxes
        return (fx < b[:, 0]) | (fx > b[:, 2]) | (fy < b[:, 1]) | (fy > b[:, 3])

    def focus_region(self, boxes: np.ndarray) -> np.ndarray:
        """The middle of each box (``[B, 4]``), where the focus point should lie: the box less
        :data:`FOCUS_MARGIN` of its side on every edge."""
        b = np.asarray(boxes, np.float64).reshape(-1, 4)
        mx, my = FOCUS_MARGIN * (b[:, 2] - b[:, 0]), FOCUS_MARGIN * (b[:, 3] - b[:, 1])
        return np.stack([b[:, 0] + mx, b[:, 1] + my, b[:, 2] - mx, b[:, 3] - my], 1)

    def hint_keys(self, boxes: np.ndarray) -> np.ndarray:
        """Each box's hint key, lower is better, 0 when it meets every hint: first the keep
        regions and the focus it misses (they say what the crop is of; a box missing the point
        altogether misses twice what one holding it off its middle does), then the avoid
        regions it overlaps, then, in steps of ``1 / HINT_GRAIN``, how far it misses them (the
        share of the keep regions outside it, of the avoid regions inside it, the focus'
        distance to its middle over the photo's longer side), so that the best effort is as
        near as the ratio allows."""
        boxes = np.asarray(boxes).reshape(-1, 4)
        held, overlaps, distance = self._hint_checks(boxes)
        holds = (~held).sum(1) + (distance > 0) + self._outside(boxes)
        misses = holds * (len(self.avoid) + 1) + overlaps.sum(1)
        far = (
            (1 - inside(boxes, self.keep)).sum(1)
            + inside(boxes, self.avoid).sum(1)
            + np.minimum(distance / max(self.size), 1)
        )
        count = len(self.keep) + len(self.avoid) + (self.focus is not None)
        far = np.minimum(np.floor(far / max(count, 1) * HINT_GRAIN), HINT_GRAIN - 1)
        return misses * HINT_GRAIN + far

    def hint_note(self, box: np.ndarray, ratio: Ratio) -> str | None:
        """What a crop's note says of the hints that ``box`` (the best of its ratio) misses."""
        if not self.hinted:
            return None
        held, overlaps, distance = self._hint_checks(np.asarray(box).reshape(1, 4))
        said = [
            f"no {ratio.label} window holds the keep region {_region(r)} whole"
            for r in self.keep[~held[0]]
        ]
        if distance[0] > 0:
            point = _region(self.focus)
            said.append(f"no {ratio.label} window holds the focus point {point} in its middle")
        said += [
            f"no {ratio.label} window leaves the avoid region {_region(r)} out"
            for r in self.avoid[overlaps[0]]
        ]
        return "; ".join(said) or None

    def hint_moves(self, boxes: np.ndarray, free: bool) -> np.ndarray:
        """Candidates for the hints: ``boxes`` moved as little as possible to hold the keep
        regions and the focus (in their middle: :data:`FOCUS_MARGIN`), and centred on the
        focus; then each of those (and ``boxes``) moved clear of each avoid region to its left,
        right, top or bottom, and, for a ``free`` ratio, also cut at the avoid region's edge
        (aspect within the grid's bounds); for a ``free`` ratio, ``boxes`` also grown to hold
        the keep regions and the focus. Moves that would leave the photo are dropped."""
        boxes = np.asarray(boxes, np.int64).reshape(-1, 4)
        if not self.hinted or not len(boxes):
            return boxes[:0]
        width, height = self.size
        w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        found = [boxes]
        t = self._held(boxes)
        if t is not None:
            fits = (w >= t[:, 2] - t[:, 0]) & (h >= t[:, 3] - t[:, 1])
            x1 = np.clip(np.clip(boxes[:, 0], t[:, 2] - w, t[:, 0]), 0, width - w)
            y1 = np.clip(np.clip(boxes[:, 1], t[:, 3] - h, t[:, 1]), 0, height - h)
            found.append(np.stack([x1, y1, x1 + w, y1 + h], 1)[fits].astype(np.int64))
            if free:
                low, high = np.minimum(boxes[:, :2], t[:, :2]), np.maximum(boxes[:, 2:], t[:, 2:])
                grown = np.c_[low, high]
                found.append(grown.astype(np.int64))
        if self.focus is not None:
            x1 = np.clip(np.rint(self.focus[0] - w / 2), 0, width - w)
            y1 = np.clip(np.rint(self.focus[1] - h / 2), 0, height - h)
            found.append(np.stack([x1, y1, x1 + w, y1 + h], 1).astype(np.int64))
        start = np.unique(np.concatenate(found), axis=0)
        sw, sh = start[:, 2] - start[:, 0], start[:, 3] - start[:, 1]
        for ax1, ay1, ax2, ay2 in self.avoid:
            left, top = int(np.ceil(ax2)), int(np.ceil(ay2))
            right, bottom = int(np.floor(ax1)), int(np.floor(ay1))
            x, y = start[:, 0], start[:, 1]
            found += [
                np.c_[np.full_like(x, left), y, left + sw, y + sh],
                np.c_[right - sw, y, np.full_like(x, right), y + sh],
                np.c_[x, np.full_like(y, top), x + sw, top + sh],
                np.c_[x, bottom - sh, x + sw, np.full_like(y, bottom)],
            ]
            if free:
                found += [
                    np.c_[np.maximum(x, left), start[:, 1:]],
                    np.c_[start[:, :2], np.minimum(start[:, 2], right), start[:, 3]],
                    np.c_[x, np.maximum(y, top), start[:, 2:]],
                    np.c_[start[:, :3], np.minimum(start[:, 3], bottom)],
                ]
        out = np.unique(np.concatenate(found[1:]), axis=0).astype(np.int64)
        ow, oh = out[:, 2] - out[:, 0], out[:, 3] - out[:, 1]
        ok = (out[:, :2] >= 0).all(1) & (out[:, 2] <= width) & (out[:, 3] <= height)
        ok &= (ow > 0) & (oh > 0)
        if free:
            aspect = ow / np.maximum(oh, 1)
            ok &= (aspect > ASPECT_BOUNDS[0]) & (aspect < ASPECT_BOUNDS[1])
        return out[ok]

    def _held(self, boxes: np.ndarray) -> np.ndarray | None:
        """Per box of ``boxes`` (``[B, 4]``), the region it must hold to meet the keep regions
        and the focus (the point with :data:`FOCUS_MARGIN` of the box's side around it), in
        whole pixels; None without either."""
        parts = []
        if len(self.keep):
            k = np.r_[self.keep[:, :2].min(0), self.keep[:, 2:].max(0)]
            parts.append(np.broadcast_to(k, (len(boxes), 4)))
        if self.focus is not None:
            fx, fy = self.focus
            mx = FOCUS_MARGIN * (boxes[:, 2] - boxes[:, 0])
            my = FOCUS_MARGIN * (boxes[:, 3] - boxes[:, 1])
            parts.append(np.stack([fx - mx, fy - my, fx + mx, fy + my], 1))
        if not parts:
            return None
        t = np.stack(parts)
        return np.c_[np.floor(t[..., :2].min(0)), np.ceil(t[..., 2:].max(0))]

    def anchored(self, boxes: np.ndarray) -> np.ndarray:
        """``boxes`` (same sizes) moved as little as possible to hold the heads of every
        detection of the group's size (clear or not: none may be cut), or else the group's heads
        (with those of uncertain detections larger than the main face, if any), or else the
        largest head, or else the largest face; boxes too small for all are dropped.
        Candidates from a grid may all miss a face; these give the search windows that don't.
        (The subject needs none: moving windows to it changed no measured figure and cost a
        tenth of the analysis.)"""
        boxes = np.asarray(boxes, np.int64).reshape(-1, 4)
        if not len(self.faces) or not len(boxes):
            return boxes[:0]
        w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]

        def around(held: np.ndarray) -> np.ndarray:
            return np.concatenate([held.min(0)[:2], held.max(0)[2:]])

        targets = [around(self.heads[self.group]), self.heads[0], self.faces[0]]
        if self.outranked.any():  # first, with the larger uncertain detections: none cut
            targets.insert(0, around(self.heads[self.group | self.outranked]))
        if (self.sizeable & ~self.group).any():  # first of all, every sizeable detection
            targets.insert(0, around(self.heads[self.sizeable]))
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


def _region(values: np.ndarray) -> str:
    return ",".join(f"{v:g}" for v in np.round(values, 1))


def note(level: float, ratio: Ratio) -> str | None:
    """What the results say of the face rules for a crop of key ``level`` (None when every face
    rule was met)."""
    text = NOTES.get(int(level % HINT_STEP))
    return text.format(ratio=ratio.label) if text else None
