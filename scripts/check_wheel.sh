#!/usr/bin/env bash
# The package installs on its own: build the wheel and the sdist, install the wheel with plain
# pip into a fresh virtual environment, and run the README's main job offline from a folder
# with no checkout in it. Fails loudly on any step.
set -euo pipefail
cd "$(dirname "$0")/.."
export UV_PYTHON_DOWNLOADS=never
uv_cmd=(uv)
command -v uv >/dev/null 2>&1 || uv_cmd=(python3 -m uv)

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"${uv_cmd[@]}" build --quiet --out-dir "$work/dist"
wheel="$(ls "$work"/dist/*.whl)"
sdist="$(ls "$work"/dist/*.tar.gz)"
for archive in "$wheel" "$sdist"; do
  case "$archive" in
    *.whl) listing="$(python3 -m zipfile -l "$archive")" ;;
    *) listing="$(tar tzf "$archive")" ;;
  esac
  for needed in snapshot/data/PROVENANCE.md snapshot/data/kenfrench/F-F_Research_Data_Factors_CSV.zip \
      snapshot/data/prices/month_end_adjusted_closes.csv engine/data/supwald_quantiles.csv \
      report/templates/report.html.j2; do
    grep -q "$needed" <<<"$listing" || { echo "error: $needed is missing from $archive" >&2; exit 1; }
  done
done
python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check "$wheel"
mkdir "$work/elsewhere"
cd "$work/elsewhere"  # no checkout beside it: everything must come from the wheel
FACTORXRAY_CACHE_DIR="$work/cache" "$work/venv/bin/factorxray" analyze --preset smart-beta-20 \
  --offline --no-png --out "$work/report" >"$work/stdout.txt"
grep -q "report: $work/report/index.html" "$work/stdout.txt"
test -s "$work/report/index.html" && test -s "$work/report/summary.json"
"$work/venv/bin/python" -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["run"]["n_analyzed"] == 20, d["run"]["n_analyzed"]' "$work/report/summary.json"
echo "wheel $(basename "$wheel") installs with pip and runs the main job offline"
