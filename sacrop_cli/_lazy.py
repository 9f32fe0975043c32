"""Modules loaded on first use, for the few places where an import would cost start-up time.

``sacrop --help`` must not load numpy, Pillow or ONNX Runtime, and cropping must not load torch,
yet the commands and the engine factory name the modules that do. They bind such a module with
:func:`lazy_module` under ``if not TYPE_CHECKING`` and import it plainly for type checkers and
import-linter, so every edge between the layers stays visible and checked.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_module(name: str) -> ModuleType:
    """The module ``name`` (absolute), executed when one of its attributes is first read."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module
