"""Exceptions whose messages are shown to users as one line each."""

from __future__ import annotations


#: How to install the ``train`` extra (torch, onnx): from the package index, or from a checkout
#: of the source, where the package's name means nothing to pip.
INSTALL_TRAIN = 'pip install "sacrop[train]" (from a checkout: pip install ".[train]")'


class SacropError(Exception):
    """Base class: ``str(error)`` is a complete one-line message for the user."""


class ImageError(SacropError):
    """An input image cannot be read, decoded or cropped."""


class OutputError(SacropError):
    """A crop cannot be written (exists, unwritable folder, full disk)."""


class CheckpointError(SacropError):
    """A weights file is missing, damaged, unsafe or for another architecture."""


class DownloadError(SacropError):
    """A download failed: network, HTTP status or checksum."""


class DatasetError(SacropError):
    """A dataset folder or annotation file cannot be used."""


def one_line(err: BaseException) -> str:
    """An exception's message folded onto one line (its type's name when it has none)."""
    return " ".join(str(err).split()) or type(err).__name__
