"""Start-up and cached re-run: how long `embedscope --help` and a fully cached `embedscope run` take, wall clock.

Targets: `embedscope --help` <= 0.5 s; a fully cached re-run of the default comparison (all-MiniLM-L6-v2,
WordLlama and BM25 on SciFact, what `embedscope run` does with no options) <= 2 s. Each command runs several
times, interleaved with `python -c pass` (the interpreter's own start, a floor no code of ours can go under), and
the median counts: a busy machine slows every row alike, and the ratio to the floor shows what is ours.

The first (cold) run fills the embedding cache and can take minutes; later invocations reuse the cache. Commands
run with Python's bytecode cache on (PYTHONDONTWRITEBYTECODE unset), as in any installation: otherwise every run
would compile embedscope's modules again.

    .venv/bin/python benchmarks/startup.py [--data beir:scifact] [--repeat 5] [--profile]

--profile prints where the cached run's time goes (pyinstrument; `pip install pyinstrument`).
The last lines are machine-readable: `SECONDS <what> <median>`, `RATIO <what>_vs_python <x>`, `TARGET <what> ...`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"help": 0.5, "cached_run": 2.0}


ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=ENV)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stderr}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="dataset name or folder [the default run's: beir:scifact]")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cache", type=Path, default=ROOT / ".embedscope-bench-cache",
                        help="embedding cache kept between invocations [.embedscope-bench-cache]")
    parser.add_argument("--profile", action="store_true", help="profile one cached run with pyinstrument")
    args = parser.parse_args()

    python = sys.executable
    work = Path(tempfile.mkdtemp(prefix="embedscope-startup-"))
    run = [python, "-m", "embedscope", "run", "--cache", str(args.cache), "-o", str(work / "runs"), "-q"]
    if args.data:
        run += ["--data", args.data]
    commands = {"python": [python, "-c", "pass"], "help": [python, "-m", "embedscope", "--help"], "cached_run": run}

    print("filling the cache (a cold run; minutes the first time) ...", flush=True)
    cold = timed(run, work)
    print(f"first run: {cold:.1f} s", flush=True)

    seconds: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.repeat):
        for name, command in commands.items():
            seconds[name].append(timed(command, work))
    median = {name: statistics.median(values) for name, values in seconds.items()}

    print(f"\n{'':12} {'median s':>9} {'min s':>7} {'x python':>9} {'target s':>9}")
    for name in commands:
        target = TARGETS.get(name)
        print(f"{name:12} {median[name]:9.3f} {min(seconds[name]):7.3f} {median[name] / median['python']:9.1f} "
              f"{target if target else '':>9}")

    if args.profile:
        from pyinstrument import Profiler  # noqa: F401  (fails early with a clear ImportError when missing)

        print("\nwhere a cached run's time goes:")
        subprocess.run([python, "-m", "pyinstrument", "-m", "embedscope", *run[3:]], cwd=work, env=ENV)

    for name in commands:
        print(f"SECONDS {name} {median[name]:.3f}")
    for name in TARGETS:
        print(f"RATIO {name}_vs_python {median[name] / median['python']:.1f}")
    for name, target in TARGETS.items():
        print(f"TARGET {name} {target} {'PASS' if median[name] <= target else 'MISS'}")


if __name__ == "__main__":
    main()
