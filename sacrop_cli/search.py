"""The crop search, in three named steps over a typed pool of boxes per photo and ratio.

:func:`build` scores the candidates and keeps those of the best face level; :func:`refine`
climbs the best of them to better-scoring neighbours; :func:`pick` chooses rank 1 (the whole
photo may take it for the free ratio) and the alternatives. Scoring is a callable, so the steps
run on any engine, or on a stand-in in tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from sacrop_cli.candidates import alternatives, candidates_for, neighbours
from sacrop_cli.constraints import SUBJECT_STEP, CropRules, note
from sacrop_cli.ratios import Ratio

#: Scores of ``boxes[i]`` (``[N_i, 4]`` full-resolution pixels) on photo ``i``.
Score = Callable[[Sequence[np.ndarray]], list[np.ndarray]]

#: At most this many refinement steps per top crop (see :func:`refine`).
REFINE_ROUNDS = 3
#: With ``any``, the whole photo is the best crop when it scores this much above the best
#: candidate (normalised MOS units). The network prefers large crops and FCDB's human crops are
#: never the whole photo, so offered plainly it would win a third of the time; with this margin
#: it wins when it clearly does (see docs/method.md).
WHOLE_PHOTO_MARGIN = 0.2
#: Keys this close are of one face level: all of them may be alternatives.
_SAME_LEVEL = 1.5 * SUBJECT_STEP


@dataclass(frozen=True)
class Crop:
    ratio: str
    rank: int
    box: tuple[int, int, int, int]
    score: float
    #: Why a rule (a face, a hint) could not be met by any window of the ratio.
    note: str | None = None


@dataclass(frozen=True)
class Pool:
    """The boxes of one photo and ratio that compete, with their scores and keys.

    A key is the box's face level (see :mod:`sacrop_cli.constraints`), plus a step if it misses
    the subject, plus the hints it misses (which outrank both); ``level`` is the best key of
    any box of the ratio, which rank 1 has; the other ranks may miss the subject. ``first`` is
    rank 1's index. For the free ratio, ``whole`` is
    the whole photo (``[1, 4]``) and ``whole_score`` its score, which :func:`pick` weighs.
    """

    ratio: Ratio
    boxes: np.ndarray
    scores: np.ndarray
    keys: np.ndarray
    level: float
    first: int
    whole: np.ndarray | None = None
    whole_score: np.ndarray | None = None

    def ranked(self) -> np.ndarray:
        """Scores that order the boxes of the best key before the others."""
        return np.where(self.keys <= self.level + 1e-9, self.scores, self.scores - 1e6)

    def picks(self, k: int) -> list[int]:
        """Rank 1's index, then up to ``k - 1`` distinct alternatives."""
        return [self.first, *alternatives(self.boxes, self.ranked(), self.first, k - 1)]


def _best(scores: np.ndarray, keys: np.ndarray, best_key: float) -> int:
    """The index of the best-scoring box of the best key (ties: the first)."""
    return int(np.argmax(np.where(keys <= best_key + 1e-9, scores, -np.inf)))


def _with_anchored(boxes: np.ndarray, rules: CropRules, ratio: Ratio) -> np.ndarray:
    """The candidates, and copies of them moved to hold the faces and to meet the hints (when
    there are any)."""
    moved = np.concatenate([rules.anchored(boxes), rules.hint_moves(boxes, ratio.kind == "any")])
    return np.unique(np.concatenate([boxes, moved]), axis=0) if len(moved) else boxes


def build(
    score: Score, ratios: Sequence[Sequence[Ratio]], rules: Sequence[CropRules]
) -> list[list[Pool]]:
    """Per photo ``i`` and ratio of ``ratios[i]``: the candidates (joined by copies moved to hold
    the faces and meet the hints) of the best key any box of the ratio reaches (the hints
    first, then the face level), scored in one call."""
    cands = [
        [_with_anchored(candidates_for(r, *rule.size), rule, r) for r in rs]
        for rs, rule in zip(ratios, rules)
    ]
    wholes = [
        np.array([[0, 0, *rule.size]] if any(r.kind == "any" for r in rs) else []).reshape(-1, 4)
        for rs, rule in zip(ratios, rules)
    ]
    flat = score([np.concatenate([*c, w]) for c, w in zip(cands, wholes)])
    pools = []
    for rs, c, s, whole, rule in zip(ratios, cands, flat, wholes, rules):
        whole_score = s[len(s) - len(whole) :]
        s = s[: len(s) - len(whole)]
        pool = []
        for r, boxes, scores in zip(rs, c, np.split(s, np.cumsum([len(b) for b in c])[:-1])):
            keys = rule.levels(boxes)
            ok = keys <= keys.min() + _SAME_LEVEL
            level = float(keys.min())
            boxes, scores, keys = boxes[ok], scores[ok], keys[ok]
            any_ratio = r.kind == "any"
            pool.append(
                Pool(
                    r,
                    boxes,
                    scores,
                    keys,
                    level,
                    _best(scores, keys, level),
                    whole if any_ratio else None,
                    whole_score if any_ratio else None,
                )
            )
        pools.append(pool)
    return pools


def refine(
    score: Score, pools: list[list[Pool]], k: int, rules: Sequence[CropRules]
) -> list[list[Pool]]:
    """Hill-climb rank 1 of each pool and its ``k - 1`` alternatives to the best-scoring of their
    :func:`~sacrop_cli.candidates.neighbours` while one scores higher, for at most
    :data:`REFINE_ROUNDS` steps, never to a box of a worse key than it may have (rank 1: the
    best key; the others: the pool's face level). The grid is coarse (a twelfth of the photo)
    and the network, trained on the human crops as well as the grid, ranks boxes between its
    points. The climbed boxes join the front of their pool, rank 1's first."""
    # climbers: (photo, ratio, rank) -> current box, score and key; dropped once no step helps
    current = {}
    for p, photo_pools in enumerate(pools):
        for r, pool in enumerate(photo_pools):
            for j, i in enumerate(pool.picks(k)):
                current[p, r, j] = (pool.boxes[i], float(pool.scores[i]), float(pool.keys[i]))
    active = sorted(current)
    for _ in range(REFINE_ROUNDS):
        if not active:
            break
        steps = {}  # the neighbours each climber may step to, and their keys
        for p, r, j in active:
            rule, pool = rules[p], pools[p][r]
            near = neighbours(current[p, r, j][0], pool.ratio, *rule.size)
            keys = rule.levels(near)
            ok = keys <= pool.level + (0 if j == 0 else _SAME_LEVEL) + 1e-9
            steps[p, r, j] = (near[ok], keys[ok])
        scores = score(
            [
                np.concatenate(
                    [steps[key][0] for key in active if key[0] == p] or [np.zeros((0, 4))]
                )
                for p in range(len(pools))
            ]
        )
        offsets = [0] * len(pools)
        moved = []
        for key in active:
            p, (boxes, keys) = key[0], steps[key]
            s = scores[p][offsets[p] : offsets[p] + len(boxes)]
            offsets[p] += len(boxes)
            if len(s) and s.max() > current[key][1]:
                best = int(np.argmax(s))
                current[key] = (boxes[best], float(s[best]), float(keys[best]))
                moved.append(key)
        active = moved
    out = []
    for p, photo_pools in enumerate(pools):
        refined = []
        for r, pool in enumerate(photo_pools):
            climbed = [current[key] for key in sorted(current) if key[:2] == (p, r)]
            boxes = np.asarray([c[0] for c in climbed], pool.boxes.dtype).reshape(-1, 4)
            refined.append(
                replace(
                    pool,
                    boxes=np.concatenate([boxes, pool.boxes]),
                    scores=np.concatenate([np.float32([c[1] for c in climbed]), pool.scores]),
                    keys=np.concatenate([[c[2] for c in climbed], pool.keys]),
                    first=0,
                )
            )
        out.append(refined)
    return out


def pick(pool: Pool, rules: CropRules, k: int) -> list[Crop]:
    """Rank 1 and up to ``k - 1`` alternatives of a pool. For the free ratio the whole photo
    replaces rank 1 when it scores :data:`WHOLE_PHOTO_MARGIN` higher (a well-framed photo can
    stay as it is) and meets the rules as well, or when it alone keeps the faces whole. The
    note says which rule (face or hint) no window of the ratio could meet."""
    if pool.whole is not None and pool.whole_score is not None:
        whole, whole_score = pool.whole, pool.whole_score
        whole_key = float(rules.levels(whole)[0])  # it cuts no face (it may miss a hint)
        if whole_key + SUBJECT_STEP < pool.level:  # it alone meets the rules
            pool = replace(
                pool,
                boxes=whole.astype(pool.boxes.dtype),
                scores=whole_score,
                keys=np.array([whole_key]),
                level=whole_key,
                first=0,
            )
        elif (
            whole_key <= pool.level + 1e-9
            and whole_score[0] > pool.scores[pool.first] + WHOLE_PHOTO_MARGIN
        ):
            pool = replace(
                pool,
                boxes=np.concatenate([pool.boxes, whole.astype(pool.boxes.dtype)]),
                scores=np.concatenate([pool.scores, whole_score.astype(pool.scores.dtype)]),
                keys=np.concatenate([pool.keys, [whole_key]]),
                level=whole_key,
                first=len(pool.scores),
            )
    label = pool.ratio.label
    said = [note(pool.level, pool.ratio), rules.hint_note(pool.boxes[pool.first], pool.ratio)]
    why = "; ".join(n for n in said if n) or None
    return [
        Crop(label, rank, tuple(int(v) for v in pool.boxes[i]), float(pool.scores[i]), why)
        for rank, i in enumerate(pool.picks(k), start=1)
    ]
