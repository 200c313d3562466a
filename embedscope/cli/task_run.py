"""`embedscope run --task TASK`: the tasks beyond retrieval, through the same command, cache and run directories."""

from __future__ import annotations

from pathlib import Path

import click

from embedscope.config import ConfigError


def run_task(config: dict, *, given_data: bool, quiet: bool = False) -> Path:
    from embedscope.report.outputs import new_run_dir
    from embedscope.tasks import TaskSource, evaluate_task, get_task
    from embedscope.tasks.outputs import print_task_leaderboard, write_task_outputs

    task = get_task(config["task"])
    if not given_data:
        raise ConfigError(f"name the {task.name} data with --data (a table, or a folder with one table per split)")
    for key in ("corpus", "queries", "qrels"):
        if config.get(key):
            raise ConfigError(f"--{key} is for retrieval; --task {task.name} reads --data (and --train)")
    source = TaskSource(data=config["data"], split=config.get("split") or "test", train=config.get("train"),
                        columns=config.get("columns"), header=False if config.get("no_header") else None,
                        name=config.get("name"), max_rows=config.get("max_rows"))
    data = task.load(source)
    say = (lambda msg: click.echo(msg, err=True)) if not quiet else (lambda msg: None)
    counts = ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in data.counts.items())
    click.echo(f"{task.name} data {data.name}: {counts}", err=True)
    for note in data.notes:
        click.echo(f"note: {note}", err=True)
    run_dir = new_run_dir(config["output"], f"{data.name}-{task.name}")
    try:
        comparison = evaluate_task(task, data, config["models"], cache_dir=config["cache"], log=say)
    except BaseException:
        if not any(run_dir.iterdir()):
            run_dir.rmdir()
        raise
    from embedscope.data.named import is_name

    # A dataset name stays a name (reloaded through the data cache anywhere); paths are recorded absolute.
    def where(value):
        return value if value is None or is_name(str(value)) else str(Path(value).resolve())

    comparison.settings["source"] = {"task": config["task"], "data": where(config["data"]),
                                     "train": where(config.get("train")),
                                     "split": source.split, "columns": source.columns, "header": source.header, "name": source.name,
                                     "max_rows": source.max_rows}
    write_task_outputs(comparison, run_dir)
    print_task_leaderboard(comparison)
    click.echo(f"results in {run_dir}")
    return run_dir
