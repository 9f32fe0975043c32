"""The crop job: every option of a run in one frozen object."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from sacrop_cli.ratios import parse_ratio
from sacrop_cli.run.job import DEFAULT_OUT_DIR, CropJob


def test_ratios_become_labels_once_each_in_the_order_given():
    job = CropJob(ratios=["4:3", parse_ratio("1:1"), "4/3", "4x3"], top_k=2)
    assert job.ratios == ("4:3", "1:1")
    assert CropJob(ratios="16:9").ratios == ("16:9",)


def test_defaults_and_none_mean_the_defaults():
    job = CropJob(out_dir=None, max_pixels=None)
    assert (job.ratios, job.top_k, job.out_dir) == (("any",), 1, DEFAULT_OUT_DIR)
    assert job.max_pixels == 200_000_000


def test_an_unknown_format_is_refused():
    with pytest.raises(ValueError, match="format must be one of"):
        CropJob(format="gif")


def test_the_job_is_frozen_and_gives_the_writers_their_options():
    job = CropJob(out_dir=Path("out"), format="png", quality=80, max_size=(64, 64))
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.top_k = 3  # type: ignore[misc]
    assert job.save_options() == {
        "format": "png",
        "quality": 80,
        "max_size": (64, 64),
        "overwrite": False,
        "background": "white",
    }


def test_a_photos_hints_are_the_jobs_and_its_own():
    from sacrop_cli.hints import Hints

    job = CropJob(
        hints=Hints.of(keep="0,0,10,10", focus="1,1"),
        photo_hints={"a.jpg": Hints.of(avoid="5,5,6,6", focus="2,2")},
    )
    assert job.hints_for("a.jpg") == Hints.of(keep="0,0,10,10", avoid="5,5,6,6", focus="2,2")
    assert job.hints_for("b.jpg") == job.hints and not CropJob().hints_for("a.jpg")


def test_the_background_colour_is_checked_when_the_job_is_made():
    assert CropJob(background="#102030").save_options()["background"] == "#102030"
    with pytest.raises(ValueError, match="^unknown colour 'nocolour'"):
        CropJob(background="nocolour")
