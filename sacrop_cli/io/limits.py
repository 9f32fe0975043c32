"""Limits every decoder checks, in a module without Pillow so that the command line can show
them: ``sacrop --help`` must start fast."""

DEFAULT_MAX_PIXELS = 200_000_000
"""Largest image (width x height) decoded by default: 200 MP covers every current camera while
refusing decompression bombs; a 200 MP RGB image needs about 600 MB of memory."""
