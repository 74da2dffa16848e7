"""Benchmark: a warm-cache ``analyze`` of the 20 ETFs, report included, and the report's size.

Run: ``uv run python bench/e2e.py`` (``--runs N`` CLI runs per variant, default 5).
Loopback servers answer as the Ken French library and Yahoo's chart API from the real
fixture files; a first (cold) run fills a fresh cache, then the warm runs are timed. Every
ratio is between figures measured in this run; what else was using the CPUs is printed
before each part (the machine may be shared).

- in this process, stage by stage (factors, returns, regressions + rolling + verdicts,
  report without PNGs, PNGs alone), best of 3;
- the report's size: ``index.html`` with the vendored partial plotly.js bundle and, for the
  same analysis, with plotly's full bundle;
- as a user sees it: ``factorxray analyze`` in a new process (imports included), with PNGs
  and with ``--no-png``, interleaved, medians; and the same run without compiled bytecode
  (``PYTHONDONTWRITEBYTECODE=1`` and an empty ``PYTHONPYCACHEPREFIX``: every module compiled
  in memory, as where bytecode was not compiled at install);
- what ``uv run`` adds to a command (it syncs the environment first, and with
  ``compile-bytecode`` set it re-checks the bytecode of every installed file).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.engine import machine_activity  # noqa: E402
from tests._kenfrench_server import kenfrench_server  # noqa: E402
from tests._prices_server import PriceServer  # noqa: E402

import factorxray as fx  # noqa: E402
from factorxray.data.cache import Cache  # noqa: E402
from factorxray.report import write_report  # noqa: E402


def folder_size(path: Path) -> tuple[int, int]:
    """(bytes of index.html, bytes of the whole folder)."""
    total = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return (path / "index.html").stat().st_size, total


def timed(label: str, func, results: dict[str, float]):
    started = time.perf_counter()
    value = func()
    results[label] = min(results.get(label, float("inf")), time.perf_counter() - started)
    return value


def full_bundle_html_size(analysis, out: Path) -> int:
    """Size of index.html for the same analysis with plotly's full plotly.js bundle."""
    import factorxray.report as report

    cached = report._plotly_js
    try:
        from plotly.offline import get_plotlyjs

        report._plotly_js = get_plotlyjs  # only for this measurement
        write_report(analysis, out, png=False, force=True)
    finally:
        report._plotly_js = cached
    return (out / "index.html").stat().st_size


def run_cli(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="CLI runs per variant")
    args = parser.parse_args()
    print(f"[start] {machine_activity()}")
    cache_dir = Path(tempfile.mkdtemp(prefix="fx-e2e-cache-"))
    out = Path(tempfile.mkdtemp(prefix="fx-e2e-report-"))
    other = Path(tempfile.mkdtemp(prefix="fx-e2e-full-bundle-"))
    no_pyc = Path(tempfile.mkdtemp(prefix="fx-e2e-no-pyc-"))
    kf = kenfrench_server()
    with PriceServer() as prices:
        os.environ["FACTORXRAY_KENFRENCH_URL"] = kf.url
        os.environ["FACTORXRAY_YAHOO_URL"] = prices.url
        cache = Cache(cache_dir)
        started = time.perf_counter()
        analysis = fx.analyze(preset="smart-beta-20", cache=cache)
        write_report(analysis, out, force=True)
        cold = time.perf_counter() - started
        stages: dict[str, float] = {}
        for _ in range(3):
            factors = timed(
                "factors (cache)", lambda: fx.load_factors("xray7", cache=cache), stages
            )
            returns = timed(
                "returns of 20 funds (cache)",
                lambda: fx.fetch_returns(analysis.universe.tickers, cache=cache),
                stages,
            )
            built = timed(
                "regressions + rolling + verdicts",
                lambda f=factors, r=returns: fx.build_analysis(analysis.universe, f, r),
                stages,
            )
            timed(
                "report: HTML + CSV + JSON",
                lambda b=built: write_report(b, out, png=False, force=True),
                stages,
            )
            timed(
                "report: HTML + CSV + JSON + PNGs",
                lambda b=built: write_report(b, out, png=True, force=True),
                stages,
            )
        html_bytes, folder_bytes = folder_size(out)
        full_html_bytes = full_bundle_html_size(analysis, other)

        env = {**os.environ, "FACTORXRAY_CACHE_DIR": str(cache_dir)}
        cold_env = {**env, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": str(no_pyc)}
        command = [sys.executable, "-m", "factorxray", "analyze", "--preset", "smart-beta-20"]
        with_png = [*command, "--png", "--force", "--out", str(out)]
        without_png = [*command, "--force", "--out", str(out)]  # the default: no PNGs
        print(f"[CLI runs] {machine_activity()}")
        walls: dict[str, list[float]] = {"png": [], "no-png": [], "no-png, no bytecode": []}
        for _ in range(args.runs):
            walls["png"].append(run_cli(with_png, env))
            walls["no-png"].append(run_cli(without_png, env))
        for _ in range(max(1, args.runs // 2)):
            walls["no-png, no bytecode"].append(run_cli(without_png, cold_env))
        # the README's main job: --offline from the bundled snapshot, on a fresh cache (the
        # first run keeps the snapshot's parsed forms there) and again (reads them)
        offline = [*command, "--offline", "--force", "--out", str(out)]
        fresh_runs: list[float] = []
        later_runs: list[float] = []
        for _ in range(args.runs):
            fresh = Path(tempfile.mkdtemp(prefix="fx-e2e-fresh-"))
            offline_env = {**env, "FACTORXRAY_CACHE_DIR": str(fresh / "cache")}
            fresh_runs.append(run_cli(offline, offline_env))
            later_runs.append(run_cli(offline, offline_env))
            shutil.rmtree(fresh, ignore_errors=True)
        helps = [
            run_cli([sys.executable, "-m", "factorxray", "--help"], env) for _ in range(args.runs)
        ]
        # the CLI's start against the floor (an empty interpreter) and the one library every
        # command that computes needs (pandas), interleaved
        starts: dict[str, list[float]] = {"cli": [], "pass": [], "pandas": []}
        for _ in range(args.runs):
            for label, code in (
                ("cli", "import factorxray.cli"),
                ("pass", "pass"),
                ("pandas", "import pandas"),
            ):
                starts[label].append(run_cli([sys.executable, "-c", code], env))
        uv = shutil.which("uv")
        uv_runs: list[float] = []
        bare_runs: list[float] = []
        if uv:
            uv_env = {**env, "UV_PYTHON_DOWNLOADS": "never"}
            for _ in range(3):
                started = time.perf_counter()
                subprocess.run(
                    [uv, "run", "--locked", "python", "-c", "pass"],
                    cwd=ROOT,
                    env=uv_env,
                    capture_output=True,
                )
                uv_runs.append(time.perf_counter() - started)
                bare_runs.append(run_cli([sys.executable, "-c", "pass"], env))
    kf.stop()
    shutil.rmtree(no_pyc, ignore_errors=True)
    shutil.rmtree(other, ignore_errors=True)

    in_process = (
        stages["factors (cache)"]
        + stages["returns of 20 funds (cache)"]
        + stages["regressions + rolling + verdicts"]
        + stages["report: HTML + CSV + JSON + PNGs"]
    )
    pngs = stages["report: HTML + CSV + JSON + PNGs"] - stages["report: HTML + CSV + JSON"]
    print(f"cold run (loopback downloads + report):        {cold:6.2f} s")
    for label, seconds in stages.items():
        print(f"  warm {label:<40} {seconds * 1000:7.0f} ms")
    print(
        f"  warm PNGs alone (difference of the two)       {pngs * 1000:7.0f} ms "
        f"= {pngs / in_process:.0%} of the warm in-process run with PNGs"
    )
    print(f"warm analyze in process, report with PNGs:     {in_process:6.2f} s")
    median = {key: statistics.median(values) for key, values in walls.items()}
    print(
        f"warm `factorxray analyze` CLI, median of {args.runs}: with PNGs {median['png']:.2f} s, "
        f"--no-png {median['no-png']:.2f} s (PNGs = {1 - median['no-png'] / median['png']:.0%} "
        f"of the run); `factorxray --help` {statistics.median(helps):.2f} s"
    )
    start = {key: statistics.median(values) for key, values in starts.items()}
    pandas_wall = start["pandas"]  # `python -c "import pandas"`, interpreter start included
    print(
        f"  = {median['no-png'] / pandas_wall:.1f}x `python -c 'import pandas'` "
        f"({pandas_wall:.2f} s, same run); with PNGs {median['png'] / pandas_wall:.1f}x"
    )
    print(
        f"README main job (--offline, snapshot), median of {args.runs}: fresh cache "
        f"{statistics.median(fresh_runs):.2f} s, later runs {statistics.median(later_runs):.2f} s "
        f"({statistics.median(later_runs) / pandas_wall:.1f}x import pandas)"
    )
    print(
        f"`import factorxray.cli` {start['cli'] - start['pass']:.2f} s beyond an empty "
        f"interpreter ({start['pass']:.2f} s); `import pandas` {start['pandas'] - start['pass']:.2f} s "
        f"({(start['cli'] - start['pass']) / (start['pandas'] - start['pass']):.2f}x pandas)"
    )
    print(
        f"without compiled bytecode (--no-png): {median['no-png, no bytecode']:.2f} s = "
        f"{median['no-png, no bytecode'] / median['no-png']:.2f}x the compiled run"
    )
    if uv_runs:
        print(
            f"`uv run --locked python -c pass` {statistics.median(uv_runs):.2f} s vs "
            f"`python -c pass` {statistics.median(bare_runs):.2f} s"
        )
    print(
        f"report: index.html {html_bytes / 1e6:.2f} MB with the partial plotly.js bundle, "
        f"{full_html_bytes / 1e6:.2f} MB with the full one ({html_bytes / full_html_bytes:.2f}x); "
        f"whole folder with PNGs {folder_bytes / 1e6:.2f} MB"
    )


if __name__ == "__main__":
    main()
