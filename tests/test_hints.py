"""A person's hints: numbers in pixels or percent, regions and points, resolved per photo."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from sacrop_cli.hints import Coord, Hints, PixelHints, parse_coord, parse_point, parse_region


def test_a_percentage_is_of_the_photos_side_a_number_is_pixels():
    assert parse_coord("12.5%") == Coord(12.5, True)
    assert parse_coord(" 40 ") == Coord(40.0, False) == parse_coord(40)
    assert Coord(12.5, True).pixels(600) == 75.0 and Coord(40, False).pixels(600) == 40


@pytest.mark.parametrize(
    "text, message",
    [
        ("ten", "'ten' is not a number of pixels or a percentage"),
        ("-5", "'-5': coordinates are finite and not negative"),
        ("120%", "'120%': a percentage is at most 100%"),
        ("nan", "'nan': coordinates are finite and not negative"),
    ],
)
def test_a_bad_number_says_why(text, message):
    with pytest.raises(ValueError) as err:
        parse_coord(text)
    assert str(err.value) == message


def test_regions_and_points_mix_pixels_and_percentages():
    assert parse_region("10%,20%,400,60%") == (
        Coord(10, True),
        Coord(20, True),
        Coord(400, False),
        Coord(60, True),
    )
    assert parse_point([320, "40%"]) == (Coord(320), Coord(40, True))
    with pytest.raises(ValueError, match="a region is four numbers x1,y1,x2,y2"):
        parse_region("1,2,3")
    with pytest.raises(ValueError, match="x2 and y2 exceed"):
        parse_region("50%,0,40%,10")
    with pytest.raises(ValueError, match="a point is two numbers x,y"):
        parse_point("1,2,3")


def test_hints_in_pixels_of_a_photo():
    hints = Hints.of(
        keep="10%,20%,40%,60%", avoid=[(0, 0, 100, 80), "90%,90%,100%,100%"], focus="50%,25%"
    )
    assert hints.in_pixels(600, 400) == PixelHints(
        keep=((60.0, 80.0, 240.0, 240.0),),
        avoid=((0, 0, 100, 80), (540.0, 360.0, 600.0, 400.0)),
        focus=(300.0, 100.0),
    )
    # the same hints on a portrait photo
    assert hints.in_pixels(400, 600).keep == ((40.0, 120.0, 160.0, 360.0),)
    # a pixel region partly outside is clipped; one wholly outside is an error
    assert Hints.of(keep="500,300,700,450").in_pixels(600, 400).keep == ((500, 300, 600, 400),)
    with pytest.raises(ValueError) as err:
        Hints.of(avoid="700,0,800,50").in_pixels(600, 400)
    assert str(err.value) == "the avoid region 700,0,800,50 is outside the 600x400 photo or empty"
    with pytest.raises(ValueError, match="the focus point 601,5 is outside the 600x400 photo"):
        Hints.of(focus="601,5").in_pixels(600, 400)


def test_no_hints_are_false_and_combine_to_the_others():
    assert not Hints() and not Hints.of() and Hints.of(focus="1,1")
    given = Hints.of(keep="0,0,10,10", focus="5,5")
    own = Hints.of(keep="20,20,30,30", avoid="50,50,60,60", focus="7,7")
    both = given.combined(own)
    assert both.keep == given.keep + own.keep and both.avoid == own.avoid
    assert both.focus == own.focus and given.combined(Hints.of(keep="1,1,2,2")).focus == given.focus
    assert given.combined(None) is given


def test_a_hints_file_line():
    line = {"source": "a.jpg", "keep": [["10%", 0, 50, 50]], "focus": [3, "4%"]}
    assert Hints.from_json(line) == Hints.of(keep=[("10%", 0, 50, 50)], focus=(3, "4%"))
    for bad, message in [
        ([1, 2], "not a JSON object"),
        ({"keep": [0, 0, 5, 5]}, "keep is a list of regions: [[x1, y1, x2, y2]]"),
        ({"avoid": "0,0,5,5"}, "avoid is a list of regions [x1, y1, x2, y2]"),
        ({"focus": [1]}, "focus: not a point [x, y]"),
        ({"keeep": []}, "unknown field(s) keeep"),
    ]:
        with pytest.raises(ValueError) as err:
            Hints.from_json(bad)
        assert str(err.value) == message


UNORDERED = "a region's x2 and y2 exceed its x1 and y1"
OUTSIDE = "is outside the 200x100 photo or empty"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: parse_coord(True), "True is not a number"),
        (lambda: parse_coord(None), "None is not a number"),
        (lambda: parse_coord("100.5%"), "'100.5%': a percentage is at most 100%"),
        (lambda: parse_region("1,2,3"), "1,2,3: a region is four numbers x1,y1,x2,y2"),
        (lambda: parse_region("10,20,10,40"), f"10,20,10,40: {UNORDERED}"),
        (lambda: parse_region((10, 20, 5, 40)), f"10,20,5,40: {UNORDERED}"),
        (lambda: parse_point([1, 2, 3]), "1,2,3: a point is two numbers x,y"),
        (lambda: Hints.from_json({"b": 1, "a": 2}), "unknown field(s) a, b"),
    ],
)  # fmt: skip
def test_what_a_hint_cannot_be_is_one_exact_line(call, message):
    with pytest.raises(ValueError) as info:
        call()
    assert str(info.value) == message


def test_the_limits_of_a_coordinate_are_allowed():
    assert parse_coord("100%") == Coord(100.0, True) and str(Coord(100.0, True)) == "100%"
    assert parse_coord(0) == Coord(0.0) and str(Coord(12.5)) == "12.5"
    assert parse_region(" 10, 20 , 30,40 ") == (Coord(10), Coord(20), Coord(30), Coord(40))


def test_one_region_or_several_of_numbers_or_strings():
    one = (Coord(10), Coord(20), Coord(30), Coord(40))
    assert Hints.of(keep=[10, 20, 30, 40]).keep == (one,)
    assert Hints.of(keep=("10", "20", "30", "40")).keep == (one,)
    four = Hints.of(keep=["10,20,30,40", "1,2,3,4", "5,6,7,8", "9,9,10,10"]).keep
    assert four[0] == one and len(four) == 4
    assert Hints.of(keep=[(10, 20, 30, 40), (1, 2, 3, 4)]).keep[0] == one
    assert Hints.from_json({"avoid": [[10, 20, 30, 40]]}) == Hints(avoid=(one,))
    assert bool(Hints.of(keep="1,2,3,4")) and bool(Hints.of(avoid="1,2,3,4"))


@pytest.mark.parametrize(
    ("hints", "message"),
    [
        # a pixel x1 of 0 and an x2 of 0%: not ordered when read, empty in pixels
        (Hints.of(keep="0,0,0%,10"), f"the keep region 0,0,0%,10 {OUTSIDE}"),
        (Hints.of(avoid="0,0,10,0%"), f"the avoid region 0,0,10,0% {OUTSIDE}"),
        (Hints.of(keep="0,5,10,5%"), f"the keep region 0,5,10,5% {OUTSIDE}"),
        (Hints.of(focus="201,50"), "the focus point 201,50 is outside the 200x100 photo"),
        (Hints.of(focus="50,101"), "the focus point 50,101 is outside the 200x100 photo"),
    ],
)  # fmt: skip
def test_a_hint_empty_or_outside_the_photo_is_an_error(hints, message):
    with pytest.raises(ValueError) as info:
        hints.in_pixels(200, 100)
    assert str(info.value) == message


def test_a_focus_on_the_photos_edges_is_inside():
    assert Hints.of(focus="0,0").in_pixels(200, 100).focus == (0.0, 0.0)
    assert Hints.of(focus="100%,100%").in_pixels(200, 100).focus == (200.0, 100.0)
    assert Hints.of(focus="200,100").in_pixels(200, 100).focus == (200.0, 100.0)


# -- properties (hypothesis) --------------------------------------------------------------------

pixels = st.integers(0, 10_000).map(float) | st.floats(0, 10_000).map(lambda v: round(v, 2))
percent = st.floats(0, 100).map(lambda v: round(v, 2))
coord = st.one_of(pixels.map(Coord), percent.map(lambda v: Coord(v, True)))


@given(coord)
def test_a_coordinate_written_out_parses_back(c):
    assert parse_coord(str(c)) == c


@given(st.tuples(coord, coord, coord, coord))
def test_a_region_written_out_parses_back(region):
    x1, y1, x2, y2 = region
    assume(x1.percent != x2.percent or x1.value < x2.value)
    assume(y1.percent != y2.percent or y1.value < y2.value)
    text = ",".join(map(str, region))
    assert parse_region(text) == region
    assert Hints.of(keep=text, avoid=[text, text]).keep == (region,)
    assert Hints.from_json({"keep": [list(map(str, region))], "focus": text.split(",")[:2]}) == (
        Hints(keep=(region,), focus=region[:2])
    )


def test_a_photo_takes_at_most_max_regions():
    """Issue 32, item 8: the search's work grows with the regions: capped per photo."""
    many = [(0, 0, 5, 5)] * 600
    assert len(Hints.of(keep=many, avoid=many[:400]).keep) == 600
    with pytest.raises(ValueError) as err:
        Hints.of(keep=many, avoid=many[:401])
    assert str(err.value) == (
        "1,001 keep and avoid regions for a photo, more than the 1,000 it takes"
    )
    with pytest.raises(ValueError, match="1,200 keep and avoid regions"):
        Hints.of(keep=many).combined(Hints.of(avoid=many))
    with pytest.raises(ValueError) as err:
        Hints.from_json({"avoid": [[0, 0, 5, 5]] * 200_000})
    assert str(err.value) == "avoid: 200,000 items, not 0 to 1,000"
