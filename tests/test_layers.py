"""The package's import layers, checked with import-linter (contracts in pyproject.toml, [tool.importlinter]).

The order, lowest first: data -> models -> cache -> index -> runs -> metrics/stats -> report/webui -> cli.
A module may import from its own layer and the layers below it, never from above; nothing outside cli/
imports cli/. docs/development.md states the same order.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_layers_hold():
    pytest.importorskip("importlinter", reason="import-linter is not installed (pip install import-linter)")
    # A fresh process with this tree first on the path, so the contracts are checked against this checkout.
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    code = ("import sys; from importlinter.cli import lint_imports; "
            "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Contracts: 2 kept, 0 broken" in result.stdout, result.stdout[-2000:]
