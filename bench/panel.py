"""Benchmark of whole-market panel runs on a 2-worker ``distributed.LocalCluster``.

Run ``uv run python bench/panel.py`` for the sizes of issue 15, or scale them down on a small
machine: ``--scale 0.25`` multiplies both series counts (the periods stay). Two cases:

(a) static, HAC: ``--static-series`` (200,000) synthetic monthly series x ``--static-periods``
    (600) months, ragged starts (each series has 60 to 600 months), FF5-like 5 factors;
(b) rolling: ``--rolling-series`` (20,000) daily series x ``--rolling-periods`` (5,000) days,
    ``--window`` (252) day windows, ``--rolling-cov`` (nonrobust) covariance.

Each panel is written once as a long Parquet file (``date, id, return``; not timed), then
``regress_panel`` runs on a fresh LocalCluster (``--workers`` processes, one thread each):
wall time (split into reading/staging and regressions), series per second, output rows, and
the peak memory (``VmHWM``, reset before the run) of each worker process and of the client. In the same run,
the in-memory engine (``fx.regress`` / ``fx.rolling_regress``) runs on the same panel in a
fresh subprocess (read the Parquet file, pivot, regress; no output written) for its wall
time and peak memory, unless the panel is larger than ``--in-memory-max-cells`` (then on the
largest prefix of series that fits, and the figure is scaled by series). A sample of series
is checked against the in-memory engine (max abs difference printed).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

FACTORS = ["Mkt-RF", "SMB", "HML", "RMW", "CMA"]


def reset_peak() -> None:
    """Reset this process's peak RSS (Linux ``clear_refs``); ``ru_maxrss`` cannot be reset and
    survives ``exec``, so a worker spawned by a big process would report its parent's peak."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_rss() -> int:
    """Peak resident memory of this process since start or :func:`reset_peak`, bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def factors_frame(n_periods: int, frequency: str, seed: int) -> pd.DataFrame:
    """Seeded factor returns with an RF column, monthly PeriodIndex or business days."""
    rng = np.random.default_rng(seed)
    if frequency == "monthly":
        index = pd.period_range("1970-01", periods=n_periods, freq="M")
        scale = 0.04
    else:
        index = pd.bdate_range("2000-01-03", periods=n_periods)
        scale = 0.01
    values = rng.normal(0.0, scale, size=(n_periods, len(FACTORS)))
    return pd.DataFrame(values, index=index, columns=FACTORS).assign(RF=scale / 40)


def write_panel(
    path: Path, factors: pd.DataFrame, n_series: int, *, seed: int, min_history: int, block: int
) -> int:
    """Write ``n_series`` ragged series as a long Parquet panel, one row group per block."""
    rng = np.random.default_rng(seed)
    n_periods = len(factors)
    design = factors[FACTORS].to_numpy()
    rf = factors["RF"].to_numpy()
    if isinstance(factors.index, pd.PeriodIndex):
        dates = factors.index.to_timestamp(how="end").normalize().values.astype("datetime64[D]")
    else:
        dates = factors.index.values.astype("datetime64[D]")
    schema = pa.schema([("date", pa.date32()), ("id", pa.string()), ("return", pa.float64())])
    rows = 0
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for first in range(0, n_series, block):
            count = min(block, n_series - first)
            betas = rng.normal(0.6, 0.4, size=(len(FACTORS), count))
            noise = rng.normal(0.0, design.std() * 0.8, size=(n_periods, count))
            returns = rf[:, None] + 0.0005 + design @ betas + noise
            starts = rng.integers(0, n_periods - min_history + 1, count)
            keep = np.arange(n_periods)[:, None] >= starts[None, :]
            series, period = np.nonzero(keep.T)  # sorted by series, then date
            ids = np.char.add("S", np.char.zfill((first + series).astype(str), 7))
            table = pa.table(
                {
                    "date": pa.array(dates[period], pa.date32()),
                    "id": pa.array(ids, pa.string()),
                    "return": returns[period, series],
                },
                schema=schema,
            )
            writer.write_table(table, row_group_size=len(table))
            rows += len(table)
    return rows


def dask_run(
    panel: Path, out: Path, factors: pd.DataFrame, workers: int, **options: Any
) -> dict[str, Any]:
    """``regress_panel`` on a fresh LocalCluster; wall time, stages and peak memory."""
    from distributed import Client, LocalCluster

    from factorxray.scale import regress_panel

    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
        memory_limit=0,
    )
    client = Client(cluster, set_as_default=False)
    client.run(lambda: __import__("factorxray.engine"))  # imports are not part of the run
    client.run(reset_peak)
    reset_peak()
    marks: dict[str, float] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if done == total:
            marks.setdefault(stage, time.perf_counter())

    try:
        began = time.perf_counter()
        run = regress_panel(
            panel, out, factors=factors, client=client, progress=progress, **options
        )
        wall = time.perf_counter() - began
        peaks = client.run(peak_rss)
    finally:
        client.close()
        cluster.close()
    return {
        "wall": wall,
        "staging": marks.get("staging", began) - began,
        "regressions": marks.get("regressions", began) - marks.get("staging", began),
        "worker_peak": sorted(peaks.values()),
        "client_peak": peak_rss(),
        "chunks": run.manifest["n_chunks"],
        "series": run.n_series,
        "fitted": run.n_fitted,
        "static_rows": run.manifest["counts"]["static_rows"],
        "rolling_rows": run.manifest["counts"]["rolling_rows"],
        "output_bytes": sum(p.stat().st_size for p in out.rglob("*.parquet")),
    }


IN_MEMORY = r"""
import json, resource, sys, time
import numpy as np, pandas as pd, pyarrow.parquet as pq, pyarrow.compute as pc
import factorxray as fx
args = json.loads(sys.argv[1])
factors = pd.read_pickle(args["factors"])
began = time.perf_counter()
table = pq.read_table(args["panel"])
encoded = pc.dictionary_encode(table.column("id")).combine_chunks()
codes = encoded.indices.to_numpy()
keep = codes < args["max_series"]
names = np.asarray(encoded.dictionary.to_pylist(), dtype=object)[: args["max_series"]]
days = table.column("date").to_numpy().astype("datetime64[D]")[keep]
values = table.column("return").to_numpy()[keep]
codes = codes[keep]
del table
if args["frequency"] == "monthly":
    index = factors.index
    position = (days.astype("datetime64[M]") - np.datetime64(str(index[0]), "M")).astype(int)
else:
    index = factors.index
    position = np.searchsorted(index.values.astype("datetime64[D]"), days)
wide = np.full((len(index), len(names)), np.nan)
wide[position, codes] = values
returns = pd.DataFrame(wide, index=index, columns=names).sub(factors["RF"], axis=0)
del wide, days, values, codes, position
read = time.perf_counter() - began
if args["window"]:
    res = fx.rolling_regress(returns, factors, window=args["window"], cov=args["cov"])
    rows = int(res.params.size)
else:
    res = fx.regress(returns, factors, cov=args["cov"])
    rows = int(res.params.size)
wall = time.perf_counter() - began
peak = next(int(line.split()[1]) * 1024 for line in open("/proc/self/status")
            if line.startswith("VmHWM:"))
print(json.dumps({"wall": wall, "read": read, "rows": rows, "series": len(names), "peak": peak}))
"""


def in_memory_run(
    panel: Path, factors_pickle: Path, frequency: str, window: int | None, cov: str, max_series: int
) -> dict[str, Any]:
    """The in-memory engine on the first ``max_series`` series, in a fresh subprocess."""
    args = {
        "panel": str(panel),
        "factors": str(factors_pickle),
        "frequency": frequency,
        "window": window,
        "cov": cov,
        "max_series": max_series,
    }
    done = subprocess.run(
        [sys.executable, "-c", IN_MEMORY, json.dumps(args)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def sample_check(
    out: Path, panel: Path, factors: pd.DataFrame, window: int | None, cov: str, n: int = 40
) -> float:
    """Max abs difference of a sample of series between the Dask output and the engine."""
    import factorxray as fx

    static = pq.read_table(out / "static", columns=["fund"]).column("fund").unique().to_pylist()
    sample = sorted(static)[:: max(1, len(static) // n)][:n]
    rows = pq.read_table(panel, filters=[("id", "in", sample)]).to_pandas()
    if isinstance(factors.index, pd.PeriodIndex):
        rows["date"] = pd.PeriodIndex(pd.to_datetime(rows["date"]), freq="M")
    else:
        rows["date"] = pd.to_datetime(rows["date"])
    wide = rows.pivot(index="date", columns="id", values="return").sub(factors["RF"], axis=0)
    wide = wide.reindex(factors.index)
    if window:
        got = pq.read_table(out / "rolling", filters=[("fund", "in", sample)]).to_pandas()
        res = fx.rolling_regress(wide, factors, window=window, cov=cov)
        ref = res.params.stack().rename("ref").reset_index()
        ref.columns = ["fund", "period", "factor", "ref"]
        key = pd.to_datetime(
            ref["period"].dt.end_time.dt.normalize()
            if isinstance(factors.index, pd.PeriodIndex)
            else ref["period"]
        )
        ref["window_end"] = key.astype("datetime64[s]")
        got["window_end"] = got["window_end"].astype("datetime64[s]")
        merged = ref.merge(got, on=["fund", "window_end", "factor"])
        assert len(merged) == len(ref), (len(merged), len(ref))
    else:
        got = pq.read_table(out / "static", filters=[("fund", "in", sample)]).to_pandas()
        res = fx.regress(wide, factors, cov=cov)
        ref = res.to_frame().rename(columns={"term": "factor", "estimate": "ref"})
        merged = ref.merge(got, on=["fund", "factor"])
        assert len(merged) == len(ref)
    return float(np.abs(merged["beta"] - merged["ref"]).max())


def machine() -> str:
    load = os.getloadavg()
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        model = "?"
    return (
        f"{os.cpu_count()} cores ({model}), load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--static-series", type=int, default=200_000)
    parser.add_argument("--static-periods", type=int, default=600)
    parser.add_argument("--rolling-series", type=int, default=20_000)
    parser.add_argument("--rolling-periods", type=int, default=5_000)
    parser.add_argument("--window", type=int, default=252)
    parser.add_argument("--rolling-cov", default="nonrobust")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies both series counts")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk-rows", type=int, default=None, help="default: regress_panel's")
    parser.add_argument("--in-memory-max-cells", type=float, default=4e8)
    parser.add_argument("--only", choices=["static", "rolling"])
    parser.add_argument(
        "--dir", type=Path, default=None, help="scratch folder (default: a temp dir)"
    )
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="fx-bench-panel-", dir=args.dir))
    import factorxray

    print(f"factorxray {factorxray.__version__}, numpy {np.__version__}, pandas {pd.__version__}")
    print(f"machine: {machine()}; {args.workers} worker processes x 1 thread; scratch {scratch}")
    cases = [
        (
            "static",
            "monthly",
            int(args.static_series * args.scale),
            args.static_periods,
            None,
            "hac",
            60,
        ),
        (
            "rolling",
            "daily",
            int(args.rolling_series * args.scale),
            args.rolling_periods,
            args.window,
            args.rolling_cov,
            args.window + 250,
        ),
    ]
    try:
        for name, frequency, n_series, n_periods, window, cov, min_history in cases:
            if args.only and name != args.only:
                continue
            factors = factors_frame(n_periods, frequency, seed=1)
            panel = scratch / f"{name}.parquet"
            began = time.perf_counter()
            rows = write_panel(
                panel,
                factors,
                n_series,
                seed=2,
                min_history=min_history,
                block=max(1, 2_000_000 // n_periods),
            )
            print(
                f"\n({name}) {n_series:,} series x {n_periods:,} {frequency} periods, {rows:,} rows, "
                f"{panel.stat().st_size / 2**20:,.0f} MB Parquet (written in {time.perf_counter() - began:.0f} s); "
                f"window {window or '-'}, cov {cov}"
            )
            out = scratch / f"{name}-out"
            dask = dask_run(
                panel,
                out,
                factors,
                args.workers,
                window=window,
                cov=cov,
                min_obs=min(36, min_history),
                chunk_rows=args.chunk_rows,
            )
            per_second = dask["series"] / dask["wall"]
            print(
                f"  dask      {dask['wall']:8.1f} s (reading+staging {dask['staging']:.1f} s, "
                f"regressions {dask['regressions']:.1f} s) = {per_second:,.0f} series/s; "
                f"{dask['chunks']} chunks; worker peak RSS "
                + ", ".join(f"{p / 2**20:,.0f} MB" for p in dask["worker_peak"])
                + f"; client peak {dask['client_peak'] / 2**20:,.0f} MB; output "
                f"{dask['static_rows'] + dask['rolling_rows']:,} rows, {dask['output_bytes'] / 2**20:,.0f} MB"
            )
            difference = sample_check(out, panel, factors, window, cov)
            print(
                f"  sample of 40 series vs the in-memory engine: max |diff| beta {difference:.1e}"
            )
            shutil.rmtree(out, ignore_errors=True)
            cells = n_series * n_periods * (len(FACTORS) + 1 if window else 1)
            max_series = n_series
            if cells > args.in_memory_max_cells:
                max_series = int(n_series * args.in_memory_max_cells / cells)
            factors_pickle = scratch / f"{name}-factors.pkl"
            factors.to_pickle(factors_pickle)
            memory = in_memory_run(panel, factors_pickle, frequency, window, cov, max_series)
            scaled = memory["wall"] * n_series / memory["series"]
            note = (
                ""
                if max_series == n_series
                else f" (on {max_series:,} series; x{n_series / max_series:.1f} = {scaled:.1f} s for all)"
            )
            print(
                f"  in-memory {memory['wall']:8.1f} s (read+pivot {memory['read']:.1f} s) = "
                f"{memory['series'] / memory['wall']:,.0f} series/s; peak RSS {memory['peak'] / 2**20:,.0f} MB{note}"
            )
            print(f"  dask / in-memory wall time: {dask['wall'] / scaled:.1f}x")
            panel.unlink()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
