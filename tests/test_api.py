"""The Python API on real photos with a random (seeded) model: mechanics, not taste."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import EXAMPLES, DistanceEngine
from PIL import Image


@pytest.fixture(scope="module")
def cropper(random_weights: Path):
    from sacrop_cli.api import Cropper

    return Cropper(weights=random_weights, device="cpu")


def test_crop_returns_top_k_per_ratio_best_first(cropper):
    from sacrop_cli.api import Crop

    crops = cropper.crop(EXAMPLES / "coffee.jpg", ratios=["4:3", "1:1"], top_k=2)
    assert all(isinstance(c, Crop) for c in crops)
    assert [(c.ratio, c.rank) for c in crops] == [("4:3", 1), ("4:3", 2), ("1:1", 1), ("1:1", 2)]
    # best first, where rank 1 keeps the subject (the peak of the activation map) and rank 2
    # may not: then rank 2 may score higher
    from sacrop_cli.constraints import inside, subject_box

    photo = cropper.load(EXAMPLES / "coffee.jpg")
    subject = subject_box(cropper.encode([photo]).maps()[0][1], 600, 400)
    for first, second in (crops[0:2], crops[2:4]):
        keeps = [inside(np.asarray([c.box]), subject[None])[0, 0] >= 0.95 for c in (first, second)]
        assert keeps[0] and first.box != second.box
        assert first.score >= second.score or not keeps[1]
    for c in crops:
        x1, y1, x2, y2 = c.box
        assert 0 <= x1 < x2 <= 600 and 0 <= y1 < y2 <= 400
        rw, rh = (4, 3) if c.ratio == "4:3" else (1, 1)
        assert abs((y2 - y1) - (x2 - x1) * rh / rw) <= 0.5


def test_score_equals_the_crop_scores(cropper):
    path = str(EXAMPLES / "coffee.jpg")  # a str works as well as a Path
    crops = cropper.crop(path, ratios=["4:3", "1:1"], top_k=2)
    scores = cropper.score(path, [c.box for c in crops])
    assert scores == pytest.approx([c.score for c in crops], abs=1e-5)


def test_a_pil_image_gives_the_same_crops_as_its_png_file(cropper, tmp_path):
    png = tmp_path / "rocket.png"
    with Image.open(EXAMPLES / "rocket.jpg") as im:
        im.save(png)
    from_path = cropper.crop(png, ratios=["4:3", "any"], top_k=2)
    with Image.open(png) as im:
        from_image = cropper.crop(im, ratios=["4:3", "any"], top_k=2)
    assert [(c.ratio, c.rank, c.box) for c in from_image] == [
        (c.ratio, c.rank, c.box) for c in from_path
    ]
    assert [c.score for c in from_image] == pytest.approx([c.score for c in from_path], abs=1e-6)


@pytest.mark.parametrize("box", [(0, 0, 601, 400), (-1, 0, 100, 100), (10, 10, 10, 50)])
def test_a_box_outside_or_empty_raises_value_error(cropper, box):
    with pytest.raises(ValueError, match="outside the 600x400 image"):
        cropper.score(EXAMPLES / "coffee.jpg", [box])


@pytest.mark.parametrize(
    "refine, expected", [(False, (75, 50, 525, 350)), (True, (58, 50, 525, 361))]
)
def test_refinement_climbs_from_the_best_grid_box(refine, expected):
    from sacrop_cli.api import Cropper

    # coffee.jpg is 600 x 400, analysed at 384 x 256 (scale 0.64). The nearest grid box to the
    # target is (75, 50, 525, 350), 17 + 11 pixels away; a step is 17 x 11 pixels (1/36), so the
    # climb moves x1 out, then y2 down, then no step helps.
    cropper = Cropper(engine=DistanceEngine((58, 50, 525, 361), 0.64), refine=refine)
    [crop] = cropper.crop(EXAMPLES / "coffee.jpg", ratios=["any"])
    assert crop.box == expected
    assert crop.score == pytest.approx(-28.0 if not refine else 0.0, abs=1e-3)


def test_refined_top_k_stay_distinct():
    from sacrop_cli.api import Cropper
    from sacrop_cli.boxes import box_iou_matrix as iou_matrix
    from sacrop_cli.candidates import ALTERNATIVE_IOU

    # every climber heads for the same target: the second result must still be another crop
    cropper = Cropper(engine=DistanceEngine((58, 50, 525, 361), 0.64))
    crops = cropper.crop(EXAMPLES / "coffee.jpg", ratios=["any", "3:2"], top_k=3)
    for ratio in ("any", "3:2"):
        boxes = np.array([c.box for c in crops if c.ratio == ratio])
        assert len(boxes) == 3
        ious = iou_matrix(boxes, boxes)
        assert (ious[np.triu_indices(3, 1)] <= ALTERNATIVE_IOU).all()
    assert crops[0].box == (58, 50, 525, 361)


def test_photos_of_one_size_share_a_pass_of_the_heads_with_the_same_scores(cropper):
    from sacrop_cli.api import Analysis

    with Image.open(EXAMPLES / "coffee.jpg") as im:
        a = Analysis(im.convert("RGB"), im.size)
        b = Analysis(im.transpose(Image.Transpose.FLIP_LEFT_RIGHT).convert("RGB"), im.size)
    boxes = [np.array([[0, 0, 300, 200], [100, 50, 500, 350]]), np.array([[10, 10, 600, 400]])]
    together = cropper.encode([a, b])
    assert len(together.groups) == 1  # one heads pass for both
    apart = [cropper.encode([p]).scores([bx])[0] for p, bx in zip((a, b), boxes)]
    for got, want in zip(together.scores(boxes), apart):
        assert got == pytest.approx(want, abs=1e-5)


def test_rank_one_does_not_depend_on_top_k():
    from sacrop_cli.api import Cropper

    cropper = Cropper()  # the shipped weights: real score landscapes
    for photo in ("friends.jpg", "wine.jpg", "sunset.jpg"):
        for ratio in ("any", "1:1", "16:9"):
            best = [cropper.crop(EXAMPLES / photo, [ratio], top_k=k)[0] for k in (1, 2, 3)]
            assert best[0] == best[1] == best[2], (photo, ratio)


def test_ratios_as_one_string_a_pair_or_a_list():
    from sacrop_cli.api import as_ratios
    from sacrop_cli.ratios import Ratio

    assert as_ratios("4:3") == as_ratios((4, 3)) == as_ratios([(4, 3)]) == [Ratio("fixed", 4, 3)]
    assert as_ratios(["4:3", "any", (8, 6), "1.91:1"]) == [
        Ratio("fixed", 4, 3),
        Ratio("any"),
        Ratio("fixed", 191, 100),
    ]


def test_an_image_opened_from_a_jpeg_scores_as_its_path(cropper):
    path = EXAMPLES / "wine.jpg"  # 1068 x 1600: decoded at a quarter of its size
    box = [(0, 0, 800, 1000)]
    with Image.open(path) as im:
        assert cropper.score(im, box) == cropper.score(path, box)


def test_crop_images_returns_full_resolution_crops_that_save_with_their_exif(cropper, tmp_path):
    import piexif

    src = tmp_path / "rated.jpg"
    with Image.open(EXAMPLES / "coffee.jpg") as im:
        im.save(src, exif=piexif.dump({"0th": {piexif.ImageIFD.Make: b"Canon"}}))
    [cropped] = cropper.crop_images(src, "4:3")
    assert cropped.crop == cropper.crop(src, "4:3")[0]
    x1, y1, x2, y2 = cropped.crop.box
    assert cropped.image.size == (x2 - x1, y2 - y1)
    out = cropped.save(tmp_path / "c.jpg")
    exif = piexif.load(str(out))
    assert exif["0th"][piexif.ImageIFD.Make] == b"Canon"
    assert exif["Exif"][piexif.ExifIFD.PixelXDimension] == x2 - x1
    with Image.open(src) as im:  # an image in memory too
        [from_image] = cropper.crop_images(im.convert("RGB"), "4:3")
    assert from_image.image.size == (x2 - x1, y2 - y1)


def test_a_photo_whose_best_crop_is_all_of_it_stays_whole():
    from sacrop_cli.api import Cropper

    # the network's favourite is the whole 600 x 400 photo, which no grid box reaches
    cropper = Cropper(engine=DistanceEngine((0, 0, 600, 400), 0.64))
    [whole, other] = cropper.crop(EXAMPLES / "coffee.jpg", ratios="any", top_k=2)
    assert (whole.box, whole.score, whole.rank) == (
        (0, 0, 600, 400),
        pytest.approx(0.0, abs=1e-3),
        1,
    )
    assert other.box != whole.box
    # offered only for the free ratio: 4:3 keeps its own windows
    [four_three] = cropper.crop(EXAMPLES / "coffee.jpg", ratios="4:3")
    assert four_three.box != (0, 0, 600, 400)


def test_orient_auto_turns_fixed_ratios_to_the_photo():
    from sacrop_cli.api import Cropper

    cropper = Cropper(engine=DistanceEngine((100, 300, 700, 1100), 1.0))
    photo = Image.new("RGB", (800, 1200))  # portrait
    [fixed] = cropper.crop(photo, ratios="4:3")
    [auto] = cropper.crop(photo, ratios="4:3", orient=True)
    assert (fixed.ratio, auto.ratio) == ("4:3", "3:4")
    x1, y1, x2, y2 = auto.box
    assert abs((y2 - y1) - (x2 - x1) * 4 / 3) <= 0.5  # 3:4 to the nearest pixel
    x1, y1, x2, y2 = fixed.box
    assert abs((y2 - y1) - (x2 - x1) * 3 / 4) <= 0.5


class _FixedFaces:
    """A face detector that finds the given faces in every photo."""

    def __init__(self, faces) -> None:
        self.faces = np.asarray(faces, np.float64)

    def detect(self, image, full_size):
        return self.faces


def _cuts(box, face) -> bool:
    from sacrop_cli.constraints import inside

    share = inside(np.asarray([box]), np.asarray([face]))[0, 0]
    return 0.0 < share < 1.0


def test_no_crop_cuts_a_face_the_unconstrained_best_would_cut():
    from sacrop_cli.api import Cropper
    from sacrop_cli.constraints import heads, inside

    face = (500, 100, 560, 170)  # straddles the favourite crop's right edge (x = 525)
    cropper = Cropper(engine=DistanceEngine((58, 50, 525, 361), 0.64))
    ratios = ["any", "4:3", "1:1", "9:16"]
    free = cropper.crop(EXAMPLES / "coffee.jpg", ratios, top_k=2)
    assert free[0].box == (58, 50, 525, 361) and _cuts(free[0].box, face)
    cropper.detector = _FixedFaces([[*face, 0.9]])
    crops = cropper.crop(EXAMPLES / "coffee.jpg", ratios, top_k=2)
    head = heads(np.asarray([face]), 600, 400)[0]
    assert [(c.ratio, c.rank) for c in crops][:3] == [("any", 1), ("any", 2), ("4:3", 1)]
    for c in crops:  # every rank of every ratio keeps the head whole, refined or not
        assert inside(np.asarray([c.box]), head[None])[0, 0] >= 0.95, c
        assert c.note is None
    # the nearest box to the favourite that holds the head: its right edge moved out to 575
    assert crops[0].box == (58, 50, 575, 361)
    cropper.refine = False
    for c in cropper.crop(EXAMPLES / "coffee.jpg", ratios, top_k=2):
        assert inside(np.asarray([c.box]), head[None])[0, 0] >= 0.95, c


def test_the_group_is_kept_when_it_fits_else_the_largest_face():
    from sacrop_cli.api import Cropper

    cropper = Cropper(engine=DistanceEngine((200, 100, 400, 300), 0.64))
    faces = [[100, 150, 160, 220, 0.9], [420, 150, 470, 210, 0.9]]  # 60 x 70 and 50 x 60
    cropper.detector = _FixedFaces(faces)
    [square, tall] = cropper.crop(EXAMPLES / "coffee.jpg", ["1:1", "9:16"])
    # heads: (85, 115, 175, 230.5) and (407.5, 120, 482.5, 219)
    x1, _, x2, _ = square.box  # a 400 x 400 window holds both (85..482.5 wide)
    assert x1 <= 85 and x2 >= 482
    x1, _, x2, _ = tall.box  # a 225 x 400 window cannot: the largest face's head is kept
    assert x1 <= 85 and 175 <= x2 <= 408  # and the other head is left out whole


def test_a_face_no_window_can_hold_is_said_in_a_note():
    from sacrop_cli.api import Cropper

    cropper = Cropper(engine=DistanceEngine((58, 50, 525, 361), 0.64))
    cropper.detector = _FixedFaces([[20, 20, 580, 380, 0.9]])  # nearly all of the photo
    [free, tall] = cropper.crop(EXAMPLES / "coffee.jpg", ["any", "9:16"])
    assert (free.box, free.note) == ((0, 0, 600, 400), None)  # only the whole photo keeps it
    assert tall.note == "every 9:16 window cuts a face; this one keeps the most faces whole"


def test_faces_off_leaves_the_scorer_alone():
    from sacrop_cli.api import Cropper

    cropper = Cropper(faces=False)
    assert cropper.detector is None and cropper.load(EXAMPLES / "friends.jpg").faces is None


def test_the_dogs_at_the_window_keep_their_heads():
    """The issue's example: the upper dog's face found and its head kept whole in a 16:9 crop;
    without the rules the best 16:9 window cuts it."""
    from sacrop_cli.api import Cropper

    with_faces, without = Cropper(), Cropper(faces=False)
    faces = with_faces.load(EXAMPLES / "friends.jpg").faces
    [kept] = with_faces.crop(EXAMPLES / "friends.jpg", "16:9")
    [cut] = without.crop(EXAMPLES / "friends.jpg", "16:9")
    assert kept.box == (0, 360, 1065, 959) and cut.box == (0, 456, 1065, 1055)
    assert not any(_cuts(kept.box, f[:4]) for f in faces)
    assert any(_cuts(cut.box, f[:4]) for f in faces)


def test_the_api_takes_hints_for_one_photo_or_many():
    from sacrop_cli.api import Cropper
    from sacrop_cli.hints import Hints

    cropper = Cropper(engine=DistanceEngine((58, 50, 525, 361), 0.64))
    crops = cropper.crop(EXAMPLES / "coffee.jpg", ["any", "4:3"], 2, keep="400,100,590,200")
    assert [(c.ratio, c.rank) for c in crops] == [("any", 1), ("any", 2), ("4:3", 1), ("4:3", 2)]
    assert all(c.box[0] <= 400 and c.box[2] >= 590 and c.box[3] >= 200 for c in crops)
    assert crops[2].box == (57, 0, 590, 400)
    photos = [cropper.load(EXAMPLES / "coffee.jpg")] * 2
    [first, second] = cropper.best_crops(
        photos, "1:1", focus=("75%", "50%"), hints=[None, Hints.of(avoid="0,0,100%,50%")]
    )
    # (450, 200) in the middle two thirds: x from 117 + 400 / 6 to 517 - 400 / 6
    assert first[0].box == (117, 0, 517, 400) and first[0].note is None
    # the focus is kept, the avoid region (the top half) cannot be left out by a 1:1 window
    assert second[0].note == "no 1:1 window leaves the avoid region 0,0,600,200 out"
    with pytest.raises(ValueError, match="the keep region 700,0,710,10 is outside"):
        cropper.crop(EXAMPLES / "coffee.jpg", "1:1", keep=[(700, 0, 710, 10)])
    with pytest.raises(ValueError, match="'x' is not a number"):
        cropper.crop(EXAMPLES / "coffee.jpg", "1:1", focus="x,1")


def test_a_number_is_a_ratio_as_on_the_command_line(distance_cropper):
    cropper = distance_cropper((60, 40, 540, 360))  # a 3:2 target
    by_number = cropper.crop(EXAMPLES / "coffee.jpg", 1.5, top_k=2)
    by_text = cropper.crop(EXAMPLES / "coffee.jpg", ["1.5:1"], top_k=2)
    assert [(c.ratio, c.rank, c.box) for c in by_number] == [
        (c.ratio, c.rank, c.box) for c in by_text
    ]
    assert by_number[0].ratio == "1.5:1" and by_number[0].box == (62, 42, 538, 359)
    assert by_number[0].score == -7.0  # 2 + 2 + 2 + 1 pixels from the target


def test_encode_takes_paths_and_best_crops_takes_ratio_texts(distance_cropper):
    from sacrop_cli.ratios import Ratio

    cropper = distance_cropper((60, 40, 540, 400))  # a 4:3 target
    path = EXAMPLES / "coffee.jpg"
    by_path = cropper.encode([str(path)])
    by_analysis = cropper.encode([cropper.load(path)])
    box = [np.array([[0, 0, 300, 200]])]  # 60 + 40 + 240 + 200 pixels from the target
    assert by_path.scores(box)[0].tolist() == by_analysis.scores(box)[0].tolist() == [-540.0]
    want = by_analysis.best_crops([[Ratio("fixed", 4, 3)]])
    assert by_path.best_crops(["4:3"]) == by_path.best_crops("4:3") == want
    assert want[0][0].box == (57, 40, 537, 400) and want[0][0].score == -6.0
    assert cropper.best_crops([path], "1:1") == cropper.best_crops([cropper.load(path)], ["1:1"])


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda c: c.encode("coffee.jpg"), "pass a list of photos .* not one str"),
        (lambda c: c.encode([42]), "42 is not a photo: pass a path, a PIL image"),
        (lambda c: c.crop(EXAMPLES / "coffee.jpg", None), "None is not a ratio: pass a ratio"),
        (lambda c: c.crop(EXAMPLES / "coffee.jpg", [{4: 3}]), r"\{4: 3\} is not a ratio"),
        (
            lambda c: c.encode([EXAMPLES / "coffee.jpg"]).best_crops([["4:3"], ["1:1"]]),
            "2 lists of ratios for 1 photo",
        ),
    ],
)
def test_what_the_api_cannot_take_is_a_type_error_saying_what_to_pass(
    distance_cropper, call, message
):
    with pytest.raises(TypeError, match=message):
        call(distance_cropper((58, 50, 525, 361)))


def test_the_package_shows_only_its_public_names():
    import sacrop_cli

    assert sacrop_cli.__all__ == ["Crop", "CroppedImage", "Cropper", "__version__"]
    assert dir(sacrop_cli) == sacrop_cli.__all__
    from sacrop_cli import _version, api

    assert (sacrop_cli.Crop, sacrop_cli.CroppedImage, sacrop_cli.Cropper) == (
        api.Crop,
        api.CroppedImage,
        api.Cropper,
    )
    assert sacrop_cli.__version__ == _version.__version__
    with pytest.raises(AttributeError, match="^module 'sacrop_cli' has no attribute 'Photo'$"):
        sacrop_cli.Photo  # noqa: B018


def test_a_transparent_crop_saved_as_jpeg_is_on_the_background(tmp_path):
    from sacrop_cli.api import Cropper

    pixels = np.zeros((48, 64, 4), np.uint8)
    pixels[..., 0] = 255  # red, all of it under alpha 0
    Image.fromarray(pixels, "RGBA").save(tmp_path / "clear.png")
    cropper = Cropper(engine=DistanceEngine((8, 8, 56, 40), 1.0))
    [cropped] = cropper.crop_images(tmp_path / "clear.png", "any")
    white = cropped.save(tmp_path / "white.jpg")
    black = cropped.save(tmp_path / "black.jpg", background="black")
    with Image.open(white) as w, Image.open(black) as b:
        assert np.asarray(w).min() >= 253 and np.asarray(b).max() <= 2


def test_a_model_spec_is_checked_once_and_frozen():
    import dataclasses
    import pickle

    from sacrop_cli.api import ModelSpec
    from sacrop_cli.errors import SacropError

    spec = ModelSpec(Path("w.onnx"), precision="int8", faces=False)
    assert (spec.weights, spec.precision, spec.faces) == ("w.onnx", "int8", False)
    assert pickle.loads(pickle.dumps(spec)) == spec  # as it crosses to a Ray worker
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.faces = True  # type: ignore[misc]
    for bad, message in (
        ({"engine": "tpu"}, "unknown engine 'tpu'; choose one of auto, onnx, torch"),
        ({"device": "gpu"}, "unknown device 'gpu'; choose one of auto, cpu, cuda"),
        ({"precision": "fp16"}, "unknown precision 'fp16'; choose one of fp32, int8"),
        ({"threads": 0}, "threads must be at least 1, not 0"),
    ):
        with pytest.raises(SacropError) as info:
            ModelSpec(**bad)
        assert str(info.value) == message


def test_a_model_spec_loads_the_cropper_its_keywords_make(random_weights):
    from sacrop_cli.api import Cropper, ModelSpec

    spec = ModelSpec(str(random_weights), device="cpu", refine=False, faces=False)
    loaded, made = spec.load(), Cropper(random_weights, "cpu", refine=False, faces=False)
    assert loaded.spec == made.spec == spec
    assert (loaded.refine, loaded.detector, loaded.weights_path) == (False, None, made.weights_path)
    assert loaded.crop(EXAMPLES / "coffee.jpg", "4:3") == made.crop(EXAMPLES / "coffee.jpg", "4:3")
