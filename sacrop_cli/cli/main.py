"""The ``sacrop`` command: a thin click layer over the Python API.

Sub-commands live beside this module in :mod:`sacrop_cli.cli`; none of them loads
numpy, Pillow or torch at import time, so ``sacrop --help`` and ``sacrop --version`` start
fast.
"""

from __future__ import annotations

import warnings

import click

from sacrop_cli._version import __version__
from sacrop_cli.cli.apply import apply
from sacrop_cli.cli.crop import crop
from sacrop_cli.cli.eval import evaluate
from sacrop_cli.cli.explain import explain
from sacrop_cli.cli.review import review
from sacrop_cli.cli.score import score
from sacrop_cli.cli.train import train
from sacrop_cli.cli.weights import weights


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="sacrop")
def main() -> None:
    """Find the best crops of your photos, for any aspect ratio.

    \b
    Examples:
      sacrop crop photos/ --ratio 4:3 -o crops/      best 4:3 crop of every photo
      sacrop crop IMG_0001.jpg --ratio 1:1 --top-k 3 --dry-run --json
      sacrop apply picks.jsonl -o crops/             the crops a manifest lists
      sacrop score IMG_0001.jpg --box 0,0,800,600
      sacrop explain IMG_0001.jpg --ratio 4:3 -o why.png
      sacrop review photos/ --ratio 4:3 --manifest review.jsonl   correct them in the browser
      sacrop weights list
    """
    # Pillow warns on stderr, in its own words, about damaged files (e.g. "Corrupt EXIF data"):
    # sacrop reports those itself, one line naming the file.
    warnings.filterwarnings("ignore", category=UserWarning, module="PIL")


main.add_command(crop)
main.add_command(apply)
main.add_command(score)
main.add_command(explain)
main.add_command(train)
main.add_command(evaluate)
main.add_command(weights)
main.add_command(review)
