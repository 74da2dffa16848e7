"""Whole-market regressions on Dask: chunks of series to workers, each running the engine.

Two passes over the panel, both as tasks on a ``distributed`` cluster:

1. **Staging.** Each *piece* of the panel (a few Parquet row groups, a byte range of a CSV:
   see :mod:`factorxray.scale.panel`) is read in batches of at most ``BATCH_ROWS`` rows,
   checked, and its rows are written to one small Parquet file per chunk they belong to
   (``_staging/chunk-00007/p00012-b0000.parquet``). A series belongs to chunk
   ``crc32(id) mod n_chunks``, a fixed rule, so every row of a series lands in the same chunk
   whatever piece it comes from, in any order. Each piece also reports its distinct dates
   (the run's calendar) and whether any series has several dates in one month (daily data).
2. **Regressions.** Each chunk task reads only its own staged files (so a worker holds one
   chunk's rows, about ``chunk_rows``, never the panel), builds the engine's wide input in
   slices of at most :data:`STATIC_CELLS` / :data:`ROLLING_ROWS`, runs the existing engine
   (:func:`factorxray.engine.regress`, :func:`factorxray.engine.rolling_regress`) on each
   slice and streams the estimates into its output files, written atomically, then writes its
   marker.

A rerun with the same inputs skips chunks whose marker exists (and staged pieces whose marker
exists); a task on a worker that dies is rerun elsewhere by the scheduler; an interrupted run
leaves only whole files (:mod:`factorxray.scale.store`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import re
import shutil
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from factorxray.errors import (
    CollinearityError,
    FactorXrayError,
    InsufficientDataError,
    UsageError,
    quote,
)
from factorxray.scale import store
from factorxray.scale.panel import (
    FREQUENCIES,
    ROW_SCHEMA,
    Panel,
    Piece,
    calendar_index,
    index_keys,
    key_dates,
    key_label,
    month_keys,
    open_panel,
    read_piece,
    series_frame,
)

__all__ = [
    "CHUNK_ROWS",
    "ClusterError",
    "PanelRun",
    "regress_panel",
]

#: Rows of the long panel per chunk of series (the unit of work, restart and output file).
CHUNK_ROWS = 1_000_000
#: The same with rolling windows, whose output is about (factors + 1) rows per input row.
ROLLING_CHUNK_ROWS = 200_000
#: Largest wide slice (series x periods) handed to the static engine at once. Below the
#: engine's own threading threshold, so each Dask worker thread stays on one core.
STATIC_CELLS = 1_500_000
#: Largest number of output rows (windows x terms) of one rolling slice.
ROLLING_ROWS = 2_000_000
#: Seconds to wait for a scheduler given by address.
CONNECT_TIMEOUT = 5.0
#: Retries of a task that raised an unexpected exception (I/O hiccup); a worker that dies is
#: handled by the scheduler itself (``distributed.scheduler.allowed-failures``).
TASK_RETRIES = 2
#: Seconds between rewrites of the manifest while chunks complete.
MANIFEST_EVERY = 5.0
FORMAT = "factorxray-panel/1"
#: Test seam: faults to inject (``{"stop_after": n}`` interrupts the client after n chunks;
#: ``{"exit_chunk": k, "marker": path}`` kills the worker running chunk k, once). Never set
#: outside the test suite.
_FAULT: dict[str, Any] | None = None
COVARIANCES = {"hac": "hac", "hc1": "HC1", "nonrobust": "nonrobust"}

STATIC_SCHEMA = pa.schema(
    [
        ("fund", pa.string()),
        ("factor", pa.string()),
        ("beta", pa.float64()),
        ("se", pa.float64()),
        ("t", pa.float64()),
        ("p", pa.float64()),
        ("nobs", pa.int64()),
        ("rsquared", pa.float64()),
        ("rsquared_adj", pa.float64()),
        ("hac_lags", pa.int64()),
        ("start", pa.timestamp("s")),
        ("end", pa.timestamp("s")),
    ]
)
ROLLING_SCHEMA = pa.schema(
    [
        ("fund", pa.string()),
        ("window_end", pa.timestamp("s")),
        ("factor", pa.string()),
        ("beta", pa.float64()),
        ("se", pa.float64()),
        ("t", pa.float64()),
        ("p", pa.float64()),
        ("nobs", pa.int64()),
        ("rsquared", pa.float64()),
    ]
)

Progress = Callable[[str, int, int], None]
_log = logging.getLogger("factorxray.panel")


class ClusterError(FactorXrayError):
    """The Dask scheduler cannot be reached, or the cluster failed the run."""


@dataclass(frozen=True)
class _Spec:
    """What every chunk task needs to know (small, pickled to the workers)."""

    out: str
    n_chunks: int
    kind: str
    frequency: str
    aggregate: bool
    excess: bool
    cov: str
    hac_lags: int | None
    min_obs: int
    window: int | None
    rf_column: str
    factors_used: tuple[str, ...]


@dataclass
class PanelRun:
    """The outcome of :func:`regress_panel`: where the results are and what happened.

    Attributes
    ----------
    out : pathlib.Path
        The output folder.
    manifest : dict
        The content of ``OUT/manifest.json``.
    computed, reused : list of int
        Chunks computed by this call, and chunks found complete from an earlier run.
    skipped : dict
        Series id -> reason it has no static estimate (too few observations ...).
    seconds : float
        Wall time of the call.
    """

    out: Path
    manifest: dict[str, Any]
    computed: list[int] = field(default_factory=list)
    reused: list[int] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def static_path(self) -> Path:
        """The folder of the static estimates (a Parquet dataset)."""
        return self.out / store.STATIC

    @property
    def rolling_path(self) -> Path | None:
        """The folder of the rolling estimates, or ``None`` without ``window``."""
        return self.out / store.ROLLING if self.manifest["options"]["window"] else None

    @property
    def n_series(self) -> int:
        """Series in the panel."""
        return int(self.manifest["counts"]["series"])

    @property
    def n_fitted(self) -> int:
        """Series with static estimates."""
        return int(self.manifest["counts"]["fitted"])

    def read_static(self, **kwargs: Any) -> pd.DataFrame:
        """The static estimates: one row per series and term (``pandas.read_parquet``)."""
        return pd.read_parquet(self.static_path, **kwargs)

    def read_rolling(self, **kwargs: Any) -> pd.DataFrame:
        """The rolling estimates (pass ``columns=`` or ``filters=`` for large outputs)."""
        if self.rolling_path is None:
            raise UsageError("this run has no rolling windows; pass window=")
        return pd.read_parquet(self.rolling_path, **kwargs)

    def __repr__(self) -> str:
        return (
            f"PanelRun({str(self.out)!r}, series={self.n_series}, fitted={self.n_fitted}, "
            f"chunks computed={len(self.computed)} reused={len(self.reused)})"
        )


def regress_panel(
    panel: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    model: str = "ff5",
    region: str = "us",
    window: int | None = None,
    cov: str = "hac",
    hac_lags: int | None = None,
    min_obs: int = 36,
    frequency: str | None = None,
    excess: bool = False,
    date_column: str = "date",
    id_column: str = "id",
    return_column: str | None = None,
    price_column: str | None = None,
    factors: pd.DataFrame | None = None,
    offline: bool = False,
    scheduler: str | None = None,
    client: Any = None,
    n_workers: int | None = None,
    chunk_rows: int | None = None,
    overwrite: bool = False,
    keep_staging: bool = False,
    connect_timeout: float = CONNECT_TIMEOUT,
    progress: Progress | None = None,
) -> PanelRun:
    """Factor exposures of every series of a long panel, on a Dask cluster, to Parquet.

    The panel (``date, id, return`` or ``date, id, price`` rows) is read lazily, regrouped
    into chunks of series, and each chunk is regressed by the batched engine on a worker:
    static estimates always, rolling windows too with ``window``. Results equal
    :func:`factorxray.regress` / :func:`factorxray.rolling_regress` on the whole panel.

    Parameters
    ----------
    panel : path-like
        Parquet file or folder (hive-partitioned or not), or CSV file (optionally compressed).
    out : path-like
        Output folder: ``static/`` and ``rolling/`` Parquet datasets and ``manifest.json``. A
        folder holding an unfinished run with the same inputs is resumed.
    model, region : str
        Factor model and region for :func:`factorxray.load_factors`.
    window : int, optional
        Rolling window length in periods (e.g. 60 months, 252 days); none means static only.
    cov : {"hac", "HC1", "nonrobust"}
        Covariance of the estimates (static and rolling), as in :func:`factorxray.regress`.
    hac_lags : int, optional
        Fixed HAC lag; default from each regression's own number of observations.
    min_obs : int
        Series with fewer usable observations are skipped (listed in the manifest).
    frequency : {"monthly", "daily"}, optional
        Default: inferred from the dates (one row per id and month is monthly).
        ``"monthly"`` on a daily panel compounds each month's daily returns (or takes the
        month's last price), dropping each series' first, partial month.
    excess : bool
        The panel already holds excess returns; otherwise the factors' RF is subtracted.
    date_column, id_column, return_column, price_column : str
        Column names (see :func:`factorxray.scale.panel.open_panel`).
    factors : pandas.DataFrame, optional
        Use these factor returns (monthly ``PeriodIndex`` or daily ``DatetimeIndex``, an
        ``RF`` column unless ``excess``) instead of loading ``model`` and ``region``.
    offline : bool
        Load factors from the cache or the bundled snapshot only (no network).
    scheduler : str, optional
        ``tcp://host:port`` of a running Dask scheduler (default: ``DASK_SCHEDULER_ADDRESS``,
        else a local cluster with one single-threaded worker process per core).
    client : distributed.Client, optional
        An existing client to run on (not closed).
    n_workers : int, optional
        Worker processes of the local cluster (default: the number of cores).
    chunk_rows : int, optional
        Rows of the panel per chunk (about): the unit of work, restart and output file.
        Default 1,000,000, or 200,000 with ``window`` (each input row gives about one
        output row per term).
    overwrite : bool
        Replace an earlier run in ``out`` made with other inputs (otherwise an error).
    keep_staging : bool
        Keep the regrouped panel (``out/_staging``) after a complete run.
    connect_timeout : float
        Seconds to wait for ``scheduler``.
    progress : callable, optional
        ``progress(stage, done, total)`` with stage ``"staging"`` or ``"regressions"``.

    Returns
    -------
    PanelRun

    Raises
    ------
    UsageError
        Bad options or panel: missing columns, duplicated ``(date, id)`` rows, non-numeric
        returns, dates that do not overlap the factors, an ``out`` folder of another run.
    ClusterError
        The scheduler cannot be reached.

    Examples
    --------
    >>> import factorxray as fx
    >>> run = fx.regress_panel("crsp_monthly.parquet", "betas/", model="ff5",
    ...                        window=60, id_column="permno")  # doctest: +SKIP
    >>> run.read_static().query("factor == 'HML'").head()  # doctest: +SKIP
    """
    return _run(
        panel,
        out,
        model=model,
        region=region,
        window=window,
        cov=cov,
        hac_lags=hac_lags,
        min_obs=min_obs,
        frequency=frequency,
        excess=excess,
        date_column=date_column,
        id_column=id_column,
        return_column=return_column,
        price_column=price_column,
        factors=factors,
        offline=offline,
        scheduler=scheduler,
        client=client,
        n_workers=n_workers,
        chunk_rows=chunk_rows,
        overwrite=overwrite,
        keep_staging=keep_staging,
        connect_timeout=connect_timeout,
        progress=progress,
    )


def _run(
    panel_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    model: str,
    region: str,
    window: int | None,
    cov: str,
    hac_lags: int | None,
    min_obs: int,
    frequency: str | None,
    excess: bool,
    date_column: str,
    id_column: str,
    return_column: str | None,
    price_column: str | None,
    factors: pd.DataFrame | None,
    offline: bool,
    scheduler: str | None,
    client: Any,
    n_workers: int | None,
    chunk_rows: int | None,
    overwrite: bool,
    keep_staging: bool,
    connect_timeout: float,
    progress: Progress | None,
) -> PanelRun:
    began = time.perf_counter()
    fault = _FAULT
    report = progress or (lambda stage, done, total: None)
    if chunk_rows is None:
        chunk_rows = CHUNK_ROWS if window is None else ROLLING_CHUNK_ROWS
    cov_name = _check_options(cov, hac_lags, min_obs, window, frequency, chunk_rows)
    out = Path(out_path)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {quote(str(out))} is a file; give a folder")
    panel = open_panel(
        panel_path,
        date_column=date_column,
        id_column=id_column,
        return_column=return_column,
        price_column=price_column,
    )
    n_chunks = max(1, math.ceil(panel.rows / chunk_rows))
    inputs = {
        "panel": panel.describe(),
        "model": None if factors is not None else model,
        "region": None if factors is not None else region,
        "options": {
            "window": window,
            "cov": cov_name,
            "hac_lags": hac_lags,
            "min_obs": min_obs,
            "frequency": frequency,
            "excess": excess,
        },
        "n_chunks": n_chunks,
    }
    inputs_key = _digest(inputs)
    with store.run_lock(out):
        previous = store.read_json(out / store.MANIFEST)
        if previous is not None and previous.get("inputs_key") != inputs_key:
            if not overwrite:
                raise UsageError(
                    f"{quote(str(out))} holds a panel run with other inputs "
                    f"({_difference(previous, inputs)}); use another --out, or --overwrite"
                )
            _clear(out)
            previous = None
        elif previous is None and overwrite:
            _clear(out)
        for folder in (store.STATIC, store.ROLLING, store.MARKERS, store.STAGING):
            store.clean_temporary(out / folder)
        with _connect(client, scheduler, n_workers, connect_timeout) as dask_client:
            done = _done_chunks(out, n_chunks)
            staged = (previous or {}).get("staging") or {}
            manifest: dict[str, Any] = {
                "format": FORMAT,
                "status": "running",
                "factorxray_version": _version(),
                "created": (previous or {}).get("created") or _now(),
                "updated": _now(),
                "inputs_key": inputs_key,
                **inputs,
                "staging": staged,
            }
            store.write_json(out / store.MANIFEST, manifest)
            try:
                if len(done) < n_chunks and not staged.get("complete"):
                    staged = _stage(dask_client, panel, out, n_chunks, report)
                    manifest["staging"] = staged
                    store.write_json(out / store.MANIFEST, {**manifest, "updated": _now()})
                else:
                    report("staging", len(panel.pieces), len(panel.pieces))
                freq, aggregate = _decide_frequency(frequency, staged)
                loaded = factors is None
                if factors is None:
                    from factorxray.factors import load_factors

                    factors = load_factors(model, region, frequency=freq, snapshot=offline)
                factor_frame, used = _check_factors(factors, freq, excess)
            except BaseException as exc:
                _mark_stopped(out, manifest, exc)
                raise
            factor_facts = _factor_facts(factor_frame, used, model, region, loaded)
            if previous is not None and previous.get("factors", {}).get("sha256") not in (
                None,
                factor_facts["sha256"],
            ):
                if not overwrite:
                    raise UsageError(
                        f"the factors differ from those of the unfinished run in {quote(str(out))} "
                        f"(vintages now {factor_facts['vintages'] or 'given by the caller'}); "
                        "use another --out, or --overwrite"
                    )
            try:
                calendar = _calendar(staged, freq, factor_frame, used)
            except BaseException as exc:
                _mark_stopped(out, manifest, exc)
                raise
            manifest.update(
                {
                    "frequency": freq,
                    "frequency_inferred": frequency is None,
                    "factors": factor_facts,
                    "calendar": {
                        "periods": len(calendar),
                        "first": key_label(calendar[0], freq),
                        "last": key_label(calendar[-1], freq),
                    },
                    "chunking": {
                        "n_chunks": n_chunks,
                        "chunk_rows": chunk_rows,
                        "rule": "crc32(utf-8 id) mod n_chunks",
                    },
                }
            )
            spec = _Spec(
                out=str(out),
                n_chunks=n_chunks,
                kind=panel.kind,
                frequency=freq,
                aggregate=aggregate,
                excess=excess,
                cov=cov_name,
                hac_lags=hac_lags,
                min_obs=min_obs,
                window=window,
                rf_column="RF",
                factors_used=tuple(used),
            )
            results = _fit_chunks(
                dask_client, spec, factor_frame, calendar, done, manifest, report, fault
            )
    computed = sorted(c for c, r in results.items() if not r.get("reused"))
    reused = sorted(c for c, r in results.items() if r.get("reused"))
    skipped: dict[str, str] = {}
    skipped_rolling: dict[str, str] = {}
    for number in sorted(results):
        skipped.update(results[number].get("skipped", {}))
        skipped_rolling.update(results[number].get("skipped_rolling", {}))
    series = sum(int(r.get("series", 0)) for r in results.values())
    manifest.update(
        {
            "status": "complete",
            "updated": _now(),
            "chunks": _chunk_list(results, n_chunks, window is not None),
            "counts": {
                "series": series,
                "fitted": series - len(skipped),
                "skipped": len(skipped),
                "static_rows": sum(int(r.get("static_rows", 0)) for r in results.values()),
                "rolling_rows": sum(int(r.get("rolling_rows", 0)) for r in results.values()),
            },
            "skipped": dict(sorted(skipped.items())),
        }
    )
    if window is not None:
        manifest["skipped_rolling"] = dict(sorted(skipped_rolling.items()))
    if not keep_staging:
        shutil.rmtree(out / store.STAGING, ignore_errors=True)
        manifest["staging"] = {**manifest.get("staging", {}), "removed": True}
    store.write_json(out / store.MANIFEST, manifest)
    return PanelRun(
        out=out,
        manifest=manifest,
        computed=computed,
        reused=reused,
        skipped=skipped,
        seconds=time.perf_counter() - began,
    )


# ---------------------------------------------------------------------------------- checks


def _check_options(
    cov: str,
    hac_lags: int | None,
    min_obs: int,
    window: int | None,
    frequency: str | None,
    chunk_rows: int,
) -> str:
    name = COVARIANCES.get(str(cov).strip().lower())
    if name is None:
        raise UsageError(f"unknown covariance {quote(cov)}; use hac, HC1 or nonrobust")
    if hac_lags is not None and (isinstance(hac_lags, bool) or int(hac_lags) < 0):
        raise UsageError(f"hac_lags must be a non-negative integer, not {quote(hac_lags)}")
    if isinstance(min_obs, bool) or not isinstance(min_obs, int) or min_obs < 1:
        raise UsageError(f"min_obs must be a positive integer, not {quote(min_obs)}")
    if window is not None and (
        isinstance(window, bool) or not isinstance(window, int) or window < 2
    ):
        raise UsageError(f"window must be an integer of at least 2 periods, not {quote(window)}")
    if frequency is not None and frequency not in FREQUENCIES:
        raise UsageError(f"unknown frequency {quote(frequency)}; use monthly or daily")
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise UsageError(f"chunk_rows must be a positive integer, not {quote(chunk_rows)}")
    return name


def _check_factors(
    factors: pd.DataFrame, frequency: str, excess: bool
) -> tuple[pd.DataFrame, list[str]]:
    if not isinstance(factors, pd.DataFrame) or factors.empty:
        raise UsageError("factors must be a non-empty DataFrame of factor returns")
    index = factors.index
    if frequency == "monthly" and not isinstance(index, pd.PeriodIndex):
        raise UsageError(
            "the panel is monthly but the factors are not (they need a monthly PeriodIndex); "
            "pass monthly factors or --frequency daily"
        )
    if frequency == "daily" and not isinstance(index, pd.DatetimeIndex):
        raise UsageError(
            "the panel is daily but the factors are not (they need a DatetimeIndex); "
            "pass daily factors or --frequency monthly"
        )
    if not index.is_unique:
        raise UsageError("the factors have duplicated dates")
    used = [str(c) for c in factors.columns if str(c) != "RF"]
    if not used:
        raise UsageError("the factors have no factor column besides RF")
    if not excess and "RF" not in factors.columns:
        raise UsageError(
            "the factors have no RF column to turn returns into excess returns; "
            "pass excess=True (--excess) if the panel holds excess returns"
        )
    frame = factors.sort_index()
    frame.index = calendar_index(index_keys(frame.index), frequency)
    return frame, used


def _factor_facts(
    frame: pd.DataFrame, used: list[str], model: str, region: str, loaded: bool
) -> dict[str, Any]:
    attrs = dict(frame.attrs)
    digest = hashlib.sha256(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    digest.update(json.dumps([str(c) for c in frame.columns]).encode())
    return {
        "source": "load_factors" if loaded else "given",
        "model": attrs.get("model", model if loaded else None),
        "region": attrs.get("region", region if loaded else None),
        "vintages": attrs.get("vintages", {}),
        "sources": attrs.get("sources"),
        "limited_by": attrs.get("limited_by"),
        "columns": used,
        "first": str(frame.index[0]),
        "last": str(frame.index[-1]),
        "sha256": digest.hexdigest(),
    }


def _decide_frequency(requested: str | None, staged: dict[str, Any]) -> tuple[str, bool]:
    daily_rows = bool(staged.get("daily"))
    if requested is None:
        return ("daily" if daily_rows else "monthly"), False
    if requested == "daily" and not daily_rows:
        raise UsageError(
            "--frequency daily, but the panel has one row per id and month; "
            "use --frequency monthly (or leave it out)"
        )
    return requested, requested == "monthly" and daily_rows


def _calendar(
    staged: dict[str, Any], frequency: str, factors: pd.DataFrame, used: list[str]
) -> np.ndarray:
    days = np.asarray(staged.get("days", []), dtype=np.int64)
    if days.size == 0:
        raise UsageError("the panel has no rows")
    keys = np.unique(month_keys(days)) if frequency == "monthly" else days
    factor_keys = index_keys(factors.index)
    calendar = np.intersect1d(keys, factor_keys)
    if calendar.size == 0:
        raise UsageError(
            f"the panel's dates ({key_label(keys[0], frequency)} to {key_label(keys[-1], frequency)}) "
            f"do not overlap the factors ({key_label(factor_keys[0], frequency)} to "
            f"{key_label(factor_keys[-1], frequency)}); check the dates or the factors' frequency"
        )
    return calendar


def _mark_stopped(out: Path, manifest: dict[str, Any], exc: BaseException) -> None:
    """Record in the manifest that the run stopped before its regressions, and why."""
    interrupted = isinstance(exc, KeyboardInterrupt)
    store.write_json(
        out / store.MANIFEST,
        {
            **manifest,
            "status": "interrupted" if interrupted else "failed",
            "error": None if interrupted else _short(exc),
            "updated": _now(),
        },
    )


def _done_chunks(out: Path, n_chunks: int) -> dict[int, dict[str, Any]]:
    done: dict[int, dict[str, Any]] = {}
    folder = out / store.MARKERS
    if not folder.exists():
        return done
    for number in range(n_chunks):
        marker = store.read_json(folder / f"{store.chunk_name(number)}.json")
        if marker is not None and marker.get("status") == "done":
            done[number] = marker
    return done


def _clear(out: Path) -> None:
    for name in (store.STATIC, store.ROLLING, store.MARKERS, store.STAGING):
        shutil.rmtree(out / name, ignore_errors=True)
    with contextlib.suppress(FileNotFoundError):
        (out / store.MANIFEST).unlink()


def _difference(previous: dict[str, Any], inputs: dict[str, Any]) -> str:
    changed = []
    for key in ("panel", "model", "region", "options", "n_chunks"):
        old, new = previous.get(key), inputs.get(key)
        if key == "panel" and isinstance(old, dict) and isinstance(new, dict):
            parts = [
                k
                for k in new
                if json.dumps(old.get(k), default=str) != json.dumps(new[k], default=str)
            ]
            if parts:
                changed.append("panel " + "/".join(parts))
        elif json.dumps(old, default=str, sort_keys=True) != json.dumps(
            new, default=str, sort_keys=True
        ):
            changed.append(key)
    return ", ".join(changed) or "format"


# ---------------------------------------------------------------------------------- cluster


_ADDRESS = re.compile(r"^(tcp|tls|ucx|ws|wss)://[^\s/:]+(:\d{1,5})?/?$")


@contextlib.contextmanager
def _connect(
    client: Any, scheduler: str | None, n_workers: int | None, timeout: float
) -> Iterator[Any]:
    if client is not None:
        yield client
        return
    from distributed import Client, LocalCluster

    address = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS") or None
    if address:
        address = address.strip()
        if not _ADDRESS.match(address):
            raise UsageError(f"scheduler address {quote(address)} is not like tcp://host:port")
        try:
            remote = Client(address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ClusterError(
                f"cannot reach the Dask scheduler at {address} within {timeout:g} s "
                f"({_short(exc)}); start it (dask scheduler) or fix --scheduler / DASK_SCHEDULER_ADDRESS"
            ) from None
        try:
            yield remote
        finally:
            remote.close()
        return
    workers = n_workers or _cores()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise UsageError(f"n_workers must be a positive integer, not {quote(n_workers)}")
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    try:
        local = Client(cluster, set_as_default=False)
        try:
            yield local
        finally:
            local.close()
    finally:
        cluster.close()


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:120] or type(exc).__name__


def _gather_results(client: Any, futures: list[Any], on_result: Callable[[Any, Any], None]) -> None:
    """Wait for the futures, calling ``on_result(future, value)`` as each ends; stop on errors."""
    from distributed import as_completed

    try:
        for future in as_completed(futures, loop=client.loop):
            if future.status == "error":
                exc = future.exception()
                raise ClusterError(
                    f"a task failed on the cluster: {type(exc).__name__}: {_short(exc)}"
                ) from exc
            on_result(future, future.result())
    except BaseException:
        for future in futures:
            future.cancel()
        raise


# ---------------------------------------------------------------------------------- staging


def _stage(client: Any, panel: Panel, out: Path, n_chunks: int, report: Progress) -> dict[str, Any]:
    staging = out / store.STAGING
    pieces_dir = staging / "_pieces"
    stats: dict[int, dict[str, Any]] = {}
    todo: list[Piece] = []
    for piece in panel.pieces:
        marker = store.read_json(pieces_dir / f"p{piece.number:05d}.json")
        if marker is not None:
            stats[piece.number] = marker
        else:
            todo.append(piece)
    total = len(panel.pieces)
    report("staging", len(stats), total)
    if todo:
        tag = uuid.uuid4().hex[:12]
        futures = client.map(
            _stage_piece,
            todo,
            panel=panel,
            n_chunks=n_chunks,
            staging=str(staging),
            key=[f"factorxray-stage-{tag}-{p.number}" for p in todo],
            retries=TASK_RETRIES,
            pure=False,
        )

        def take(_: Any, result: dict[str, Any]) -> None:
            if "error" in result:
                raise result["error"]
            stats[result["piece"]] = result
            report("staging", len(stats), total)

        _gather_results(client, futures, take)
    days = _sorted_unique(
        np.concatenate([np.asarray(s["days"], dtype=np.int64) for s in stats.values()])
    )
    summary = {
        "complete": True,
        "pieces": total,
        "rows": int(sum(s["rows"] for s in stats.values())),
        "daily": any(s["daily"] for s in stats.values()) or _looks_daily(days),
        "days": days.tolist(),
        "first": str(np.datetime64(int(days[0]), "D")) if days.size else None,
        "last": str(np.datetime64(int(days[-1]), "D")) if days.size else None,
    }
    return summary


def _looks_daily(days: np.ndarray) -> bool:
    """Most months hold several distinct dates (a daily panel whose pieces are single days)."""
    if days.size == 0:
        return False
    per_month = np.unique(month_keys(days), return_counts=True)[1]
    return bool(np.median(per_month) >= 5)


def _stage_piece(piece: Piece, *, panel: Panel, n_chunks: int, staging: str) -> dict[str, Any]:
    """Task: regroup one piece's rows by chunk into staged Parquet files; return its facts."""
    try:
        root = Path(staging)
        rows = 0
        daily = False
        seen_days: list[np.ndarray] = []
        for number, table in enumerate(read_piece(panel, piece)):
            rows += table.num_rows
            encoded = pc.dictionary_encode(table.column("id")).combine_chunks()
            names = encoded.dictionary.to_pylist()
            chunk_of_name = np.fromiter(
                (zlib.crc32(name.encode("utf-8")) % n_chunks for name in names),
                dtype=np.int64,
                count=len(names),
            )
            codes = encoded.indices.to_numpy().astype(np.int64)
            days = table.column("day").to_numpy().astype(np.int64)
            pairs = _sorted_unique(codes * 2**32 + (days + 2**31))  # (id, day), days may be < 0
            if pairs.size < len(codes):
                _raise_duplicate(codes, days, names)
            months = month_keys(pairs % 2**32 - 2**31)
            per_month = _sorted_unique((pairs // 2**32) * 2**32 + (months + 2**31))
            daily = daily or bool(per_month.size < pairs.size)
            seen_days.append(_sorted_unique(days))
            chunks = chunk_of_name[codes]
            order = np.argsort(chunks, kind="stable")
            bounds = np.flatnonzero(np.diff(chunks[order])) + 1
            for part in np.split(order, bounds):
                chunk = int(chunks[part[0]])
                store.write_table(
                    root / store.chunk_name(chunk) / f"p{piece.number:05d}-b{number:04d}.parquet",
                    table.take(pa.array(part)),
                )
        facts = {
            "piece": piece.number,
            "rows": rows,
            "daily": daily,
            "days": _sorted_unique(
                np.concatenate(seen_days) if seen_days else np.array([], np.int64)
            ).tolist(),
        }
        store.write_json(root / "_pieces" / f"p{piece.number:05d}.json", facts)
        return facts
    except FactorXrayError as exc:
        return {"piece": piece.number, "error": exc}


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values (a sort: much faster than ``np.unique``'s hashing on int64)."""
    ordered = np.sort(np.asarray(values))
    if ordered.size == 0:
        return ordered
    keep = np.empty(ordered.size, dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def _raise_duplicate(codes: np.ndarray, days: np.ndarray, names: list[str]) -> None:
    order = np.lexsort((days, codes))
    same = (codes[order][1:] == codes[order][:-1]) & (days[order][1:] == days[order][:-1])
    i = order[int(np.flatnonzero(same)[0])]
    raise UsageError(
        f"the panel has duplicated (date, id) rows, e.g. id {quote(names[codes[i]])} on "
        f"{np.datetime64(int(days[i]), 'D')}; keep one row per id and date"
    )


# ---------------------------------------------------------------------------------- chunks


def _fit_chunks(
    client: Any,
    spec: _Spec,
    factors: pd.DataFrame,
    calendar: np.ndarray,
    done: dict[int, dict[str, Any]],
    manifest: dict[str, Any],
    report: Progress,
    fault: dict[str, Any] | None,
) -> dict[int, dict[str, Any]]:
    out = Path(spec.out)
    results: dict[int, dict[str, Any]] = {n: {**m, "reused": True} for n, m in done.items()}
    todo = [n for n in range(spec.n_chunks) if n not in done]
    report("regressions", len(results), spec.n_chunks)
    if not todo:
        return results
    shared_factors = client.scatter(factors, broadcast=True, hash=False)
    shared_calendar = client.scatter(calendar, broadcast=True, hash=False)
    tag = uuid.uuid4().hex[:12]
    futures = client.map(
        _fit_chunk,
        todo,
        spec=spec,
        factors=shared_factors,
        calendar=shared_calendar,
        fault=fault,
        key=[f"factorxray-chunk-{tag}-{n}" for n in todo],
        retries=TASK_RETRIES,
        pure=False,
    )
    last_write = time.monotonic()
    stop_after = (fault or {}).get("stop_after")

    def take(_: Any, result: dict[str, Any]) -> None:
        nonlocal last_write
        if "error" in result:
            raise result["error"]
        results[result["chunk"]] = result
        report("regressions", len(results), spec.n_chunks)
        if stop_after is not None and len(results) - len(done) >= stop_after:
            raise KeyboardInterrupt  # test hook: an interruption after some chunks
        if time.monotonic() - last_write > MANIFEST_EVERY:
            store.write_json(
                out / store.MANIFEST,
                {
                    **manifest,
                    "updated": _now(),
                    "chunks": _chunk_list(results, spec.n_chunks, spec.window is not None),
                },
            )
            last_write = time.monotonic()

    try:
        _gather_results(client, futures, take)
    except BaseException as exc:
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        store.write_json(
            out / store.MANIFEST,
            {
                **manifest,
                "status": status,
                "error": None if status == "interrupted" else _short(exc),
                "updated": _now(),
                "chunks": _chunk_list(results, spec.n_chunks, spec.window is not None),
            },
        )
        raise
    return results


def _chunk_list(
    results: dict[int, dict[str, Any]], n_chunks: int, rolling: bool
) -> list[dict[str, Any]]:
    listing = []
    for number in range(n_chunks):
        result = results.get(number)
        entry: dict[str, Any] = {"chunk": number, "status": "done" if result else "pending"}
        if result:
            entry.update(
                {
                    "series": result.get("series", 0),
                    "fitted": result.get("fitted", 0),
                    "static_rows": result.get("static_rows", 0),
                    "file": f"{store.STATIC}/{store.chunk_name(number)}.parquet",
                }
            )
            if rolling:
                entry["rolling_rows"] = result.get("rolling_rows", 0)
                entry["rolling_file"] = f"{store.ROLLING}/{store.chunk_name(number)}.parquet"
        listing.append(entry)
    return listing


def _fit_chunk(
    chunk: int,
    *,
    spec: _Spec,
    factors: pd.DataFrame,
    calendar: np.ndarray,
    fault: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Task: regress every series of one chunk with the engine; write its files, then its marker."""
    out = Path(spec.out)
    marker_path = out / store.MARKERS / f"{store.chunk_name(chunk)}.json"
    marker = store.read_json(marker_path)
    if marker is not None and marker.get("status") == "done":
        return marker  # already written by an earlier attempt of this task
    began = time.perf_counter()
    try:
        if fault and fault.get("exit_chunk") == chunk:
            flag = Path(fault["marker"])
            if not flag.exists():  # test hook: this worker dies once, mid-chunk
                flag.write_text("died")
                os._exit(1)
        rows = _read_staged(out / store.STAGING / store.chunk_name(chunk))
        facts = _fit_rows(rows, chunk, spec, factors, calendar)
    except FactorXrayError as exc:
        return {"chunk": chunk, "error": exc}
    facts.update(
        {"chunk": chunk, "status": "done", "seconds": round(time.perf_counter() - began, 3)}
    )
    store.write_json(marker_path, facts)
    return facts


def _read_staged(folder: Path) -> pa.Table:
    files = sorted(p for p in folder.glob("*.parquet") if not p.name.startswith("."))
    if not files:
        return ROW_SCHEMA.empty_table()
    return pa.concat_tables([pq.read_table(p, schema=ROW_SCHEMA) for p in files])


def _fit_rows(
    rows: pa.Table, chunk: int, spec: _Spec, factors: pd.DataFrame, calendar: np.ndarray
) -> dict[str, Any]:
    out = Path(spec.out)
    factor_keys = index_keys(factors.index)
    names, codes, keys, values = series_frame(
        rows,
        kind=spec.kind,
        frequency=spec.frequency,
        aggregate=spec.aggregate,
        factor_keys=factor_keys,
    )
    del rows
    position = np.searchsorted(calendar, keys)
    inside = (position < len(calendar)) & (
        calendar[np.minimum(position, len(calendar) - 1)] == keys
    )
    codes, position, values = codes[inside], position[inside], values[inside]
    if not spec.excess:
        rf = (
            factors[spec.rf_column]
            .reindex(calendar_index(calendar, spec.frequency))
            .to_numpy(dtype=float)
        )
    else:
        rf = None
    full_index = calendar_index(calendar, spec.frequency)
    n_series = len(names)
    n_terms = len(spec.factors_used) + 1
    starts = np.searchsorted(codes, np.arange(n_series + 1))
    skipped: dict[str, str] = {}
    skipped_rolling: dict[str, str] = {}
    static_rows = rolling_rows = 0
    first_pos = int(position.min()) if position.size else 0
    last_pos = int(position.max()) if position.size else 0
    span = last_pos - first_pos + 1
    static_batch = max(1, STATIC_CELLS // span)
    static_path = out / store.STATIC / f"{store.chunk_name(chunk)}.parquet"
    rolling_path = out / store.ROLLING / f"{store.chunk_name(chunk)}.parquet"
    with contextlib.ExitStack() as stack:
        static_writer = stack.enter_context(store.atomic_parquet(static_path, STATIC_SCHEMA))
        rolling_writer = None
        if spec.window is not None:
            rolling_writer = stack.enter_context(store.atomic_parquet(rolling_path, ROLLING_SCHEMA))
        used = list(spec.factors_used)
        for lo_series in range(0, n_series, static_batch):
            hi_series = min(n_series, lo_series + static_batch)
            wide = _wide(
                names,
                codes,
                position,
                values,
                starts,
                lo_series,
                hi_series,
                first_pos,
                last_pos,
                full_index,
                rf,
            )
            table, reasons = _static_table(wide, factors, used, spec)
            skipped.update(reasons)
            if table is not None:
                static_writer.write_table(table)
                static_rows += table.num_rows
        if rolling_writer is not None:
            window = int(spec.window)
            lo_row = max(0, first_pos - window + 1)
            hi_row = min(len(calendar) - 1, last_pos + window - 1)
            rolling_batch = max(1, ROLLING_ROWS // ((hi_row - lo_row + 1) * n_terms))
            for lo_series in range(0, n_series, rolling_batch):
                hi_series = min(n_series, lo_series + rolling_batch)
                wide = _wide(
                    names,
                    codes,
                    position,
                    values,
                    starts,
                    lo_series,
                    hi_series,
                    lo_row,
                    hi_row,
                    full_index,
                    rf,
                )
                table, reasons = _rolling_table(wide, factors, used, spec)
                skipped_rolling.update(reasons)
                if table is not None:
                    rolling_writer.write_table(table)
                    rolling_rows += table.num_rows
    return {
        "series": n_series,
        "fitted": n_series - len(skipped),
        "static_rows": static_rows,
        "rolling_rows": rolling_rows,
        "skipped": skipped,
        "skipped_rolling": skipped_rolling,
    }


def _wide(
    names: np.ndarray,
    codes: np.ndarray,
    position: np.ndarray,
    values: np.ndarray,
    starts: np.ndarray,
    lo_series: int,
    hi_series: int,
    lo_row: int,
    hi_row: int,
    full_index: pd.Index,
    rf: np.ndarray | None,
) -> pd.DataFrame:
    """Series ``lo_series:hi_series`` as a wide frame on calendar rows ``lo_row..hi_row``."""
    a, b = starts[lo_series], starts[hi_series]
    matrix = np.full((hi_row - lo_row + 1, hi_series - lo_series), np.nan)
    matrix[position[a:b] - lo_row, codes[a:b] - lo_series] = values[a:b]
    if rf is not None:
        matrix -= rf[lo_row : hi_row + 1, None]
    return pd.DataFrame(
        matrix, index=full_index[lo_row : hi_row + 1], columns=pd.Index(names[lo_series:hi_series])
    )


def _engine_call(call: Callable[[], Any], funds: list[str]) -> tuple[Any, dict[str, str]]:
    try:
        return call(), {}
    except InsufficientDataError as exc:
        reasons = dict(getattr(exc, "skipped", {}) or {})
        return None, {fund: reasons.get(fund, _short(exc)) for fund in funds}
    except CollinearityError as exc:
        return None, {fund: _short(exc) for fund in funds}


def _static_table(
    wide: pd.DataFrame, factors: pd.DataFrame, used: list[str], spec: _Spec
) -> tuple[pa.Table | None, dict[str, str]]:
    from factorxray.engine import regress

    funds = [str(c) for c in wide.columns]
    res, failed = _engine_call(
        lambda: regress(
            wide,
            factors,
            cov=spec.cov,
            hac_lags=spec.hac_lags,
            min_obs=spec.min_obs,
            factors_used=used,
        ),
        funds,
    )
    if res is None:
        return None, failed
    frame = res.to_frame()
    n_terms = len(used) + 1
    lags = res.hac_lags
    hac = pa.array(np.repeat(lags.to_numpy(dtype="float64", na_value=np.nan), n_terms))
    hac = pc.cast(pc.if_else(pc.is_nan(hac), pa.scalar(None, pa.float64()), hac), pa.int64())
    start_keys = index_keys(
        pd.Index(res.start.to_numpy()) if spec.frequency == "daily" else pd.PeriodIndex(res.start)
    )
    end_keys = index_keys(
        pd.Index(res.end.to_numpy()) if spec.frequency == "daily" else pd.PeriodIndex(res.end)
    )
    table = pa.table(
        {
            "fund": pa.array(frame["fund"].to_numpy(dtype=object), pa.string()),
            "factor": pa.array(frame["term"].to_numpy(dtype=object), pa.string()),
            "beta": frame["estimate"].to_numpy(dtype=float),
            "se": frame["se"].to_numpy(dtype=float),
            "t": frame["t"].to_numpy(dtype=float),
            "p": frame["p"].to_numpy(dtype=float),
            "nobs": np.repeat(res.nobs.to_numpy(dtype=np.int64), n_terms),
            "rsquared": np.repeat(res.rsquared.to_numpy(dtype=float), n_terms),
            "rsquared_adj": np.repeat(res.rsquared_adj.to_numpy(dtype=float), n_terms),
            "hac_lags": hac,
            "start": _timestamps(np.repeat(key_dates(start_keys, spec.frequency), n_terms)),
            "end": _timestamps(np.repeat(key_dates(end_keys, spec.frequency), n_terms)),
        },
        schema=STATIC_SCHEMA,
    )
    return table, dict(res.skipped)


def _rolling_table(
    wide: pd.DataFrame, factors: pd.DataFrame, used: list[str], spec: _Spec
) -> tuple[pa.Table | None, dict[str, str]]:
    from factorxray.engine import rolling_regress

    funds = [str(c) for c in wide.columns]
    res, failed = _engine_call(
        lambda: rolling_regress(
            wide,
            factors,
            window=int(spec.window),
            cov=spec.cov,
            hac_lags=spec.hac_lags,
            factors_used=used,
        ),
        funds,
    )
    if res is None:
        return None, failed
    params = res.params
    n_windows, n_terms = params.shape
    index = params.index
    fund_codes = index.codes[0]
    fund_names = pa.array([str(v) for v in index.levels[0]], pa.string())
    periods = index.levels[1]
    period_keys = index_keys(periods)[index.codes[1]]
    table = pa.table(
        {
            "fund": fund_names.take(pa.array(np.repeat(fund_codes, n_terms))),
            "window_end": _timestamps(np.repeat(key_dates(period_keys, spec.frequency), n_terms)),
            "factor": pa.array([str(c) for c in params.columns], pa.string()).take(
                pa.array(np.tile(np.arange(n_terms), n_windows))
            ),
            "beta": params.to_numpy(dtype=float).ravel(),
            "se": res.bse.to_numpy(dtype=float).ravel(),
            "t": res.tvalues.to_numpy(dtype=float).ravel(),
            "p": res.pvalues.to_numpy(dtype=float).ravel(),
            "nobs": np.repeat(res.nobs.to_numpy(dtype=np.int64), n_terms),
            "rsquared": np.repeat(res.rsquared.to_numpy(dtype=float), n_terms),
        },
        schema=ROLLING_SCHEMA,
    )
    return table, dict(res.skipped)


# ---------------------------------------------------------------------------------- helpers


def _timestamps(days: np.ndarray) -> pa.Array:
    """``datetime64[D]`` values as a Parquet timestamp column (pandas reads datetime64)."""
    return pa.array(
        np.asarray(days, dtype="datetime64[D]").astype("datetime64[s]"), pa.timestamp("s")
    )


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _version() -> str:
    from factorxray import __version__

    return __version__
