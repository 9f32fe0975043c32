"""The command line: click commands over the Python API, their shared options and console."""
