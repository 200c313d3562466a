"""The library reports through logging; only the command line (cli/, report/console) and the `main()` of a
`python -m` entry point write to the console themselves."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "embedscope"
CONSOLE = {"cli", "report/console.py"}


def library_modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if not any(relative == c or relative.startswith(c + "/") for c in CONSOLE):
            yield relative, ast.parse(path.read_text(encoding="utf-8"))


def prints_outside_main(tree: ast.AST) -> list[int]:
    found = []

    def walk(node, function: str | None):
        for child in ast.iter_child_nodes(node):
            name = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            if isinstance(child, ast.Call) and isinstance(child.func, ast.Name) and child.func.id == "print" \
                    and name != "main":
                found.append(child.lineno)
            walk(child, name)

    walk(tree, None)
    return found


def print_as_default(tree: ast.AST) -> list[int]:
    """Functions whose default for an argument is the print builtin (log=print)."""
    return [node.lineno for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            for default in [*node.args.defaults, *node.args.kw_defaults]
            if isinstance(default, ast.Name) and default.id == "print"]


def test_no_print_in_library_code():
    offenders = {f"{module}:{line}" for module, tree in library_modules()
                 for line in prints_outside_main(tree) + print_as_default(tree)}
    assert not offenders, f"print() outside the command line and entry points' main(): {sorted(offenders)}"


def test_the_check_finds_what_it_looks_for():
    tree = ast.parse("def f(log=print):\n    print('x')\n\ndef main():\n    print('ok')\n")
    assert prints_outside_main(tree) == [2] and print_as_default(tree) == [1]


def test_evaluate_task_reports_through_logging(capsys, caplog, tmp_path):
    import logging

    from embedscope.tasks import TaskSource, evaluate_task, get_task

    rows = [{"sentence1": f"a cat sat {i}", "sentence2": f"a cat sits {i}", "score": float(i % 5)} for i in range(12)]
    path = tmp_path / "sts.jsonl"
    import json

    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = get_task("sts")
    with caplog.at_level(logging.INFO, logger="embedscope"):
        evaluate_task(task, task.load(TaskSource(path)), ["tokenlearn"], cache_dir=tmp_path / "cache", resamples=50)
    assert capsys.readouterr().out == ""
    assert any("[tokenlearn" in r.getMessage() for r in caplog.records)
