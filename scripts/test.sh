#!/usr/bin/env bash
# The test suite on a fresh machine: installs uv (if missing), the locked dependencies and
# Chromium (for the browser tests of the HTML report), then runs ruff and pytest.
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
"${uv_cmd[@]}" run --locked pytest "$@"
