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


def test_no_function_takes_more_than_about_ten_parameters():
    """Related options travel as small dataclasses (RequestOptions, EncodingOptions, the CLI's option groups)."""
    import ast

    too_many = []
    for path in sorted((ROOT / "embedscope").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                args = node.args
                names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
                count = len([n for n in names if n not in ("self", "cls")])
                if count > 11:  # a model name plus ten options at most
                    too_many.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} takes {count}")
    assert not too_many, "\n".join(too_many)
