"""Parsing requested aspect ratios."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from sacrop_cli.ratios import Ratio, parse_ratio


@pytest.mark.parametrize(
    "text, ratio, label",
    [
        ("4:3", (4, 3), "4:3"),
        ("8:6", (4, 3), "4:3"),
        ("16x9", (16, 9), "16:9"),
        ("3/2", (3, 2), "3:2"),
        ("1.91:1", (191, 100), "1.91:1"),
        ("1.5", (3, 2), "1.5:1"),
        ("2.39 : 1", (239, 100), "2.39:1"),
        ("1.50:1.0", (3, 2), "1.5:1"),
        (".5", (1, 2), "0.5:1"),
        ((4, 3), (4, 3), "4:3"),
        ((1.91, 1), (191, 100), "1.91:1"),
    ],
)
def test_whole_and_decimal_ratios_are_kept_exactly(text, ratio, label):
    parsed = parse_ratio(text)
    assert ((parsed.w, parsed.h), parsed.label) == (ratio, label)


def test_ratios_compare_by_value():
    assert parse_ratio("1.5") == parse_ratio("3:2") == Ratio("fixed", 3, 2)
    assert parse_ratio("any") == parse_ratio("free") == Ratio("any")
    assert parse_ratio("Original").label == "original"


@pytest.mark.parametrize(
    "text, message",
    [
        ("0:1", "both sides of a ratio must be positive"),
        ("4:0", "both sides of a ratio must be positive"),
        ("wide", "is not a ratio"),
        ("-4:3", "is not a ratio"),
        ("101:1", "beyond 100:1"),
        ((4, 3, 1), "a pair of numbers"),
    ],
)
def test_bad_ratios_say_why(text, message):
    with pytest.raises(ValueError, match=message):
        parse_ratio(text)


@pytest.mark.parametrize(
    "text,expected",
    [
        ("4:3", Ratio("fixed", 4, 3)),
        ("8:6", Ratio("fixed", 4, 3)),
        ("16x9", Ratio("fixed", 16, 9)),
        ("ANY", Ratio("any")),
        ("original", Ratio("original")),
    ],
)
def test_parse_ratio(text, expected):
    assert parse_ratio(text) == expected


@pytest.mark.parametrize("text", ["4:0", "abc", "-1:2", "0:0", "4:", ""])
def test_parse_ratio_rejects(text):
    with pytest.raises(ValueError, match="ratio"):
        parse_ratio(text)


def test_oriented_follows_the_photo():
    assert parse_ratio("4:3").oriented(1065, 1600) == Ratio("fixed", 3, 4)
    assert parse_ratio("4:3").oriented(1600, 1065) == Ratio("fixed", 4, 3)
    assert parse_ratio("3:4").oriented(1600, 1065) == Ratio("fixed", 4, 3)
    assert parse_ratio("1.91:1").oriented(600, 900).label == "1:1.91"
    for same in ("1:1", "any", "original"):  # nothing to turn
        assert parse_ratio(same).oriented(600, 900) == parse_ratio(same)
    assert parse_ratio("16:9").oriented(500, 500) == Ratio("fixed", 16, 9)  # a square photo


@pytest.mark.parametrize(
    "text, message",
    [
        ("0:1", "'0:1': both sides of a ratio must be positive"),
        (
            "wide",
            "'wide' is not a ratio: use W:H with positive numbers (e.g. 4:3, 16:9, 1.91:1), "
            "'any' or 'original'",
        ),
        ("101:1", "'101:1': ratios beyond 100:1 are not supported"),
        ("1:101", "'1:101': ratios beyond 100:1 are not supported"),
        ("1.00001", "'1.00001': give at most four decimals"),
        ("1:1.0001", "'1:1.0001': give at most four decimals"),  # 10000/10001
        ((4, 3, 1), "(4, 3, 1) is not a ratio: a pair of numbers (W, H) is"),
        ((True, 3), "(True, 3) is not a ratio: a pair of numbers (W, H) is"),
        (("4", 3), "('4', 3) is not a ratio: a pair of numbers (W, H) is"),
    ],
)
def test_bad_ratios_are_one_exact_line(text, message):
    with pytest.raises(ValueError) as info:
        parse_ratio(text)
    assert str(info.value) == message


@pytest.mark.parametrize(
    "text, ratio, label",
    [
        ("100:1", (100, 1), "100:1"),  # the limits themselves pass
        ("1:100", (1, 100), "1:100"),
        ("1.0001", (10001, 10000), "1.0001:1"),
        ("1:60", (1, 60), "1:60"),
        ("010", (10, 1), "10:1"),  # a lone number is W:1, written plainly
        ("4:1.5", (8, 3), "4:1.5"),  # a decimal on the right keeps the written form
        ("0.50:1", (1, 2), "0.5:1"),
        ("orig", (0, 0), "original"),
    ],
)
def test_ratios_at_the_limits_and_their_labels(text, ratio, label):
    parsed = parse_ratio(text)
    assert ((parsed.w, parsed.h), parsed.label) == (ratio, label)


def test_a_turned_ratio_is_labelled_turned():
    assert parse_ratio("4:3").oriented(1065, 1600).label == "3:4"
    assert parse_ratio("1.91:1").oriented(600, 900).text == "1:1.91"
    assert parse_ratio("1.91:1").oriented(900, 600).label == "1.91:1"


# -- properties (hypothesis) --------------------------------------------------------------------


@given(st.integers(1, 500), st.integers(1, 500))
def test_a_whole_ratio_parses_to_lowest_terms_and_its_label_back(w, h):
    assume(max(w, h) / min(w, h) <= 100)
    ratio = parse_ratio(f"{w}:{h}")
    g = math.gcd(w, h)
    assert (ratio.kind, ratio.w, ratio.h) == ("fixed", w // g, h // g)
    assert parse_ratio(ratio.label) == ratio and parse_ratio(ratio.label).label == ratio.label
    assert parse_ratio((w, h)) == ratio
    own = (200, 100) if ratio.w >= ratio.h else (100, 200)  # a photo of the ratio's own turn
    assert ratio.oriented(*own) is ratio
    turned = ratio.oriented(*own[::-1])
    assert (turned.w, turned.h) == ((ratio.h, ratio.w) if ratio.w != ratio.h else (1, 1))
    back = turned.oriented(*own)
    assert (back, back.label) == (ratio, ratio.label)


decimal = st.decimals(min_value="0.01", max_value="99.99", places=2).map(str)


@given(decimal, st.sampled_from(["", ":1", ":2.5", ":1.25"]))
def test_a_decimal_ratio_keeps_its_written_form_and_parses_back(first, second):
    text = first + second
    value = Fraction(first) / Fraction(second[1:] or "1")
    assume(max(value, 1 / value) <= 100)
    ratio = parse_ratio(text)
    assert Fraction(ratio.w, ratio.h) == value
    again = parse_ratio(ratio.label)
    assert (again, again.label) == (ratio, ratio.label)
    # the label shows the numbers as written, without padding zeros
    left, right = ratio.label.split(":")
    assert (Fraction(left), Fraction(right)) == (Fraction(first), Fraction(second[1:] or "1"))
    assert not left.endswith(("0", ".")) or "." not in left
