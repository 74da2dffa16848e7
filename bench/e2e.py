"""Benchmark: a warm-cache ``analyze`` of the 20 ETFs, report included, and the report's size.

Run: ``uv run python bench/e2e.py``. Loopback servers answer as the Ken French library and
Yahoo's chart API from the real fixture files; a first (cold) run fills a fresh cache, then
the warm runs are timed:

- in this process, stage by stage (factors, returns, regressions + rolling + verdicts, HTML,
  PNGs), best of 3;
- as a user sees it: the ``factorxray analyze`` command in a new process (imports included).

Targets (issue 6): warm analyze of 20 funds including the report under 3 s on this 2-core
machine; report under 6 MB.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

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


def main() -> None:
    cache_dir = Path(tempfile.mkdtemp(prefix="fx-e2e-cache-"))
    out = Path(tempfile.mkdtemp(prefix="fx-e2e-report-"))
    kf = kenfrench_server()
    with PriceServer() as prices:
        os.environ["FACTORXRAY_KENFRENCH_URL"] = kf.url
        os.environ["FACTORXRAY_YAHOO_URL"] = prices.url
        cache = Cache(cache_dir)
        started = time.perf_counter()
        analysis = fx.analyze(preset="smart-beta-20", cache=cache)
        write_report(analysis, out)
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
                "report: HTML + CSV + JSON", lambda b=built: write_report(b, out, png=False), stages
            )
            timed(
                "report: HTML + CSV + JSON + PNGs",
                lambda b=built: write_report(b, out, png=True),
                stages,
            )
        html_bytes, folder_bytes = folder_size(out)
        env = {**os.environ, "FACTORXRAY_CACHE_DIR": str(cache_dir)}
        command = [
            sys.executable,
            "-m",
            "factorxray",
            "analyze",
            "--preset",
            "smart-beta-20",
            "--out",
            str(out),
        ]
        walls = []
        for _ in range(3):
            started = time.perf_counter()
            done = subprocess.run(command, env=env, capture_output=True, text=True)
            walls.append(time.perf_counter() - started)
            if done.returncode != 0:
                raise SystemExit(done.stderr)
        help_started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "factorxray", "--help"], env=env, capture_output=True)
        startup = time.perf_counter() - help_started
    kf.stop()
    in_process = sum(
        v for k, v in stages.items() if "PNGs" not in k and "HTML + CSV + JSON" != k.split(": ")[-1]
    )
    in_process = (
        stages["factors (cache)"]
        + stages["returns of 20 funds (cache)"]
        + stages["regressions + rolling + verdicts"]
        + stages["report: HTML + CSV + JSON + PNGs"]
    )
    print(f"cold run (loopback downloads + report):        {cold:6.2f} s")
    for label, seconds in stages.items():
        print(f"  warm {label:<40} {seconds * 1000:7.0f} ms")
    print(f"warm analyze in process, report with PNGs:     {in_process:6.2f} s   (target < 3 s)")
    print(
        f"warm `factorxray analyze` CLI wall time:       {min(walls):6.2f} s   "
        f"(of which {startup:.2f} s is Python + imports, `factorxray --help`)"
    )
    print(
        f"report: index.html {html_bytes / 1e6:.2f} MB, whole folder {folder_bytes / 1e6:.2f} MB (target < 6 MB)"
    )
    print(f"ratio warm CLI / target: {min(walls) / 3:.2f}")


if __name__ == "__main__":
    main()
