#!/usr/bin/env bash
# The documentation site, built as CI builds it: `mkdocs build --strict` (a broken link, a
# missing API reference or a docstring mkdocstrings cannot read fails it) into SITE_DIR
# (default site/), which also executes docs/tutorial.ipynb (any error in a cell fails the
# build) and writes the CLI reference and the gallery report; then tests/test_docs_site.py
# checks the built site. Offline: the tutorial and the gallery read the bundled snapshot
# (an empty cache folder is used, so a user's cached downloads never change the pages).
# Live preview while writing: `uv run mkdocs serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
export UV_PYTHON_DOWNLOADS=never NO_MKDOCS_2_WARNING=1

uv_cmd=(uv)
command -v uv >/dev/null 2>&1 || uv_cmd=(python3 -m uv)

site_dir="$(realpath -m "${1:-site}")"
cache_dir="$(mktemp -d)"
trap 'rm -rf "$cache_dir"' EXIT
export FACTORXRAY_CACHE_DIR="$cache_dir"

start=$SECONDS
# (no --quiet: it hides the warnings and then --strict does not count them)
"${uv_cmd[@]}" run --locked mkdocs build --strict --site-dir "$site_dir"
echo "docs: site built strictly in $((SECONDS - start)) s: $site_dir"
FACTORXRAY_DOCS_SITE="$site_dir" "${uv_cmd[@]}" run --locked pytest tests/test_docs_site.py -q -p no:cacheprovider
