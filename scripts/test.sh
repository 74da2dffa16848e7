#!/usr/bin/env bash
# The test suite on a fresh machine: installs uv (if missing), the locked dependencies and
# Chromium (for the browser tests of the HTML report), then runs ruff, pytest and, beside it,
# the installed-wheel check (scripts/check_wheel.sh), then the docs build (scripts/docs.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export UV_PYTHON_DOWNLOADS=never

if ! command -v uv >/dev/null 2>&1; then
  python3 -m pip install -q uv
fi
uv_cmd=(uv)
command -v uv >/dev/null 2>&1 || uv_cmd=(python3 -m uv)

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)
  elif command -v sudo >/dev/null 2>&1; then
    (sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)
  else
    echo "warning: /usr/bin/chromium is missing and cannot be installed; browser tests will be skipped" >&2
  fi
fi

# Bytecode is compiled at install by pyproject.toml's [tool.uv] compile-bytecode = true, so
# start-up stays fast even where PYTHONDONTWRITEBYTECODE is set (as on our machines).
"${uv_cmd[@]}" sync --locked --quiet
"${uv_cmd[@]}" run --locked ruff check .
"${uv_cmd[@]}" run --locked ruff format --check .

# The package must install on its own: build the wheel, pip-install it into a fresh venv and
# run the main job offline (scripts/check_wheel.sh). It is mostly downloads, so it runs beside
# the tests; its output is shown if it fails.
wheel_log="$(mktemp)"
bash scripts/check_wheel.sh >"$wheel_log" 2>&1 &
wheel_pid=$!
trap 'kill "$wheel_pid" 2>/dev/null || true; rm -f "$wheel_log"' EXIT

# Two or more workers (pytest-xdist, one per CPU), each test module on one worker so its
# module fixtures (real analyses, browser pages) are built once: 1.45x faster on 2 cores.
"${uv_cmd[@]}" run --locked pytest -n auto --dist loadscope "$@"

# The documentation site: a strict mkdocs build (broken links fail it) that executes the
# tutorial notebook, then tests/test_docs_site.py on the built site (scripts/docs.sh).
if ! bash scripts/docs.sh "$(mktemp -d)/site"; then
  echo "error: the docs build failed (scripts/docs.sh)" >&2
  exit 1
fi

if ! wait "$wheel_pid"; then
  tail -n 1 "$wheel_log" >&2
  echo "error: the wheel check failed (scripts/check_wheel.sh)" >&2
  exit 1
fi
tail -n 1 "$wheel_log"
