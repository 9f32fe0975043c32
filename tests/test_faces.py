"""The face detector: YuNet's outputs decoded by hand-made cases, and real faces found."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import EXAMPLES
from PIL import Image


def _outputs(width: int, height: int) -> dict[str, np.ndarray]:
    """YuNet outputs for an input of this size with nothing in them."""
    out = {}
    for s in (8, 16, 32):
        n = (width // s) * (height // s)
        out |= {
            f"cls_{s}": np.zeros((1, n, 1), np.float32),
            f"obj_{s}": np.zeros((1, n, 1), np.float32),
            f"bbox_{s}": np.zeros((1, n, 4), np.float32),
            f"kps_{s}": np.zeros((1, n, 10), np.float32),
        }
    return out


def test_decode_places_a_cell_and_its_offsets():
    from sacrop_cli.faces import decode

    out = _outputs(64, 32)  # stride 8: 8 columns, 4 rows
    cell = 2 * 8 + 3  # row 2, column 3
    out["cls_8"][0, cell, 0], out["obj_8"][0, cell, 0] = 0.81, 1.0  # score sqrt(0.81) = 0.9
    out["bbox_8"][0, cell] = [0.5, 0.25, np.log(2), np.log(4)]  # centre (28, 18), 16 x 32
    [face] = decode(out, 64, 32)
    assert face == pytest.approx([20.0, 2.0, 36.0, 34.0, 0.9], abs=1e-5)


def test_decode_thresholds_and_keeps_the_better_of_two_overlapping():
    from sacrop_cli.faces import SCORE_THRESHOLD, decode

    out = _outputs(64, 64)
    for cell, cls in ((9, 0.64), (10, 0.81), (40, (SCORE_THRESHOLD - 0.01) ** 2)):
        out["cls_8"][0, cell, 0], out["obj_8"][0, cell, 0] = cls, 1.0
        out["bbox_8"][0, cell, 2:] = np.log(3)  # 24 x 24: cells 9 and 10 overlap (IoU 0.5)
    faces = decode(out, 64, 64)
    assert faces[:, 4] == pytest.approx([0.9])  # cell 10 wins; cell 40 is under the threshold
    assert faces[0, :4] == pytest.approx([4.0, -4.0, 28.0, 20.0])  # row 1, column 2: (16, 8)
    assert decode(_outputs(64, 64), 64, 64).shape == (0, 5)


@pytest.fixture(scope="module")
def detector():
    from sacrop_cli.faces import FaceDetector

    return FaceDetector()


def test_faces_pasted_at_known_places_are_found_there_largest_first(detector):
    from sacrop_cli.boxes import box_iou

    with Image.open(EXAMPLES / "astronaut.jpg") as im:
        head = im.convert("RGB").crop((150, 30, 300, 210))
    canvas = Image.fromarray(np.random.default_rng(0).integers(90, 110, (600, 800, 3), np.uint8))
    canvas.paste(head.resize((90, 108)), (100, 300))  # at 0.6 of its size
    canvas.paste(head, (600, 200))
    # the astronaut's face is about (179, 64, 268, 175) in her photo: moved by (450, 170), and
    # scaled by 0.6 about (150, 30) then moved to (100, 300)
    expected = [(629, 234, 718, 345), (117, 320, 171, 387)]
    for seen in (canvas, canvas.resize((400, 300))):  # a reduced copy: full-size boxes still
        faces = detector.detect(seen, canvas.size)
        assert len(faces) == 2 and (faces[:, 4] > 0.85).all()
        for face, box in zip(faces, expected):
            assert box_iou(face[:4], box) > 0.8


def test_faces_of_real_photos(detector):
    from sacrop_cli.io.imageio import open_for_analysis

    # the dog at the upper window of friends.jpg, as the network's reduced decode shows it
    image, full = open_for_analysis(EXAMPLES / "friends.jpg", 256)
    [dog] = detector.detect(image, full)
    assert 380 < dog[0] < dog[2] < 540 and 400 < dog[1] < dog[3] < 600
    image, full = open_for_analysis(EXAMPLES / "coffee.jpg", 256)
    assert detector.detect(image, full).shape == (0, 5)


def test_a_detector_file_that_is_not_the_shipped_one_is_refused(tmp_path):
    from sacrop_cli.errors import CheckpointError
    from sacrop_cli.faces import FaceDetector

    fake = tmp_path / "yunet.onnx"
    fake.write_bytes(b"not a graph")
    with pytest.raises(CheckpointError, match=r"yunet\.onnx: not the shipped face detector"):
        FaceDetector(fake)


def test_face_list_rounds_for_json():
    from sacrop_cli.faces import face_list

    assert face_list(np.array([[10.4, 20.6, 30.5, 40.0, 0.876]])) == [[10, 21, 30, 40, 0.88]]
