"""Import a handler from ``lambda_src/<function>/`` the way the Lambda runtime does."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

LAMBDA_SRC = Path(__file__).resolve().parent.parent / "lambda_src"


def load_handler(function: str, module: str = "app") -> ModuleType:
    """Load ``lambda_src/<function>/<module>.py`` as a fresh module.

    The function's folder is first on ``sys.path`` while the module runs (as the asset root is
    on Lambda) and is taken off afterwards, so a handler's ``app`` never shadows the CDK app's.
    The module is executed anew each call, so module-level clients pick up the current environment.
    """
    folder = LAMBDA_SRC / function
    path = folder / f"{module}.py"
    if not path.is_file():
        raise FileNotFoundError(path)
    spec = importlib.util.spec_from_file_location(f"lambda_src_{function}_{module}", path)
    assert spec and spec.loader
    loaded = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(folder))
    try:
        spec.loader.exec_module(loaded)
    finally:
        sys.path.remove(str(folder))
    return loaded
