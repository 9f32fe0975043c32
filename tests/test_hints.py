"""A person's hints: numbers in pixels or percent, regions and points, resolved per photo."""

from __future__ import annotations

import pytest

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
