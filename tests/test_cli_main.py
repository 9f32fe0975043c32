"""The command tree's help: every option of every command says what it does."""

from __future__ import annotations

import click
from helpers import run

from sacrop_cli.cli.main import main


def _commands(group: click.Group, prefix: str = "sacrop"):
    for name, command in sorted(group.commands.items()):
        yield f"{prefix} {name}", command
        if isinstance(command, click.Group):
            yield from _commands(command, f"{prefix} {name}")


def test_every_option_of_every_command_has_a_help_text():
    missing = [
        f"{path} {'/'.join(param.opts)}"
        for path, command in _commands(main)
        for param in command.params
        if isinstance(param, click.Option) and not (param.help or "").strip()
    ]
    assert missing == []


def test_help_texts_say_what_each_command_does():
    crop = run("crop", "--help").stdout
    for text in ("4x3", "16/9", "1.91:1", "1.5", "141 when standard output was closed"):
        assert text in " ".join(crop.split()), text
    train = " ".join(run("train", "--help").stdout.split())
    assert "-v a line as each stage starts" in train and "a line per photo" not in train
    assert "unlabelled" not in train and "--unlabeled" in train
