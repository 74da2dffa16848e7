"""Whole-market panel runs on a real 2-process ``distributed.LocalCluster``.

The results must equal the in-memory engine (``fx.regress`` / ``fx.rolling_regress`` on the
whole panel) to 1e-10, on the 20 real ETFs and on synthetic monthly and daily panels; an
interrupted run resumes and recomputes only its missing chunks; a worker that dies has its
chunk rerun; bad input fails with one line.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import factorxray as fx
from factorxray.errors import UsageError
from factorxray.scale import ClusterError, regress_panel
from factorxray.scale import backend as panel_backend
from factorxray.scale.panel import ROW_SCHEMA, series_frame
from tests._engine_data import etf_excess, ragged_panel, us_factors

TOL = 1e-10
STATIC_VALUES = ["beta", "se", "t", "p"]


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    """One real cluster for the module: 2 worker processes, one thread each."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    dask_client = Client(cluster, set_as_default=False)
    try:
        yield dask_client
    finally:
        dask_client.close()
        cluster.close()


# ---------------------------------------------------------------------------------- helpers


def _long(wide: pd.DataFrame, value: str = "return") -> pd.DataFrame:
    frame = wide.stack().rename(value).reset_index()
    frame.columns = ["date", "id", value]
    return frame


def _static_reference(res) -> pd.DataFrame:
    frame = res.to_frame().rename(columns={"term": "factor", "estimate": "beta"})
    frame["nobs"] = frame["fund"].map(res.nobs)
    frame["rsquared"] = frame["fund"].map(res.rsquared)
    frame["rsquared_adj"] = frame["fund"].map(res.rsquared_adj)
    return frame


def _assert_static_equal(got: pd.DataFrame, res) -> None:
    ref = _static_reference(res)
    assert len(got) == len(ref)
    assert not got.duplicated(["fund", "factor"]).any()
    merged = ref.merge(got, on=["fund", "factor"], suffixes=("_ref", ""), validate="one_to_one")
    assert len(merged) == len(ref)
    for column in [*STATIC_VALUES, "rsquared", "rsquared_adj"]:
        np.testing.assert_allclose(merged[column], merged[f"{column}_ref"], rtol=TOL, atol=TOL)
    assert (merged["nobs"] == merged["nobs_ref"]).all()


def _assert_rolling_equal(got: pd.DataFrame, res, frequency: str) -> None:
    ref = pd.concat(
        {
            "beta": res.params.stack(),
            "se": res.bse.stack(),
            "t": res.tvalues.stack(),
            "p": res.pvalues.stack(),
        },
        axis=1,
    )
    ref.index.names = ["fund", "period", "factor"]
    ref = ref.reset_index()
    ref["nobs"] = res.nobs.reindex(pd.MultiIndex.from_frame(ref[["fund", "period"]])).to_numpy()
    if frequency == "monthly":
        ref["window_end"] = ref["period"].dt.end_time.dt.normalize().astype("datetime64[s]")
    else:
        ref["window_end"] = pd.to_datetime(ref["period"]).astype("datetime64[s]")
    got = got.assign(window_end=got["window_end"].astype("datetime64[s]"))
    assert len(got) == len(ref)
    merged = ref.merge(
        got, on=["fund", "window_end", "factor"], suffixes=("_ref", ""), validate="one_to_one"
    )
    assert len(merged) == len(ref)
    for column in STATIC_VALUES:
        np.testing.assert_allclose(merged[column], merged[f"{column}_ref"], rtol=TOL, atol=TOL)
    assert (merged["nobs"] == merged["nobs_ref"]).all()


def _wait_idle(client, seconds: float = 30.0) -> None:
    """Wait until no task runs on the cluster (tasks of a cancelled run finish their chunk)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        running = client.run(lambda dask_worker: len(dask_worker.active_threads))
        if not any(client.processing().values()) and not any(running.values()):
            return
        time.sleep(0.05)
    raise AssertionError("the cluster stayed busy")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def etf_parquet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 20 real ETFs' monthly excess returns as a long Parquet file, small row groups."""
    path = tmp_path_factory.mktemp("etf") / "etf.parquet"
    frame = _long(etf_excess())
    frame["date"] = frame["date"].astype(str)  # "YYYY-MM"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=900)
    return path


@pytest.fixture(scope="module")
def synthetic_monthly() -> tuple[pd.DataFrame, pd.DataFrame]:
    returns, factors = ragged_panel(seed=7, n_time=240, n_factors=3, n_funds=60, gap_share=0.03)
    return returns, factors


# ---------------------------------------------------------------------------------- equality


def test_real_etf_panel_equals_the_in_memory_engine(client, etf_parquet: Path, tmp_path: Path):
    returns, factors = etf_excess(), us_factors()
    run = regress_panel(
        etf_parquet,
        tmp_path / "out",
        factors=factors,
        excess=True,
        window=36,
        cov="hac",
        client=client,
        chunk_rows=1500,
    )
    assert run.manifest["status"] == "complete"
    assert run.manifest["n_chunks"] >= 5 and len(run.computed) == run.manifest["n_chunks"]
    assert run.manifest["frequency"] == "monthly" and run.manifest["frequency_inferred"]
    static = pd.read_parquet(tmp_path / "out" / "static")
    assert list(static.columns[:6]) == ["fund", "factor", "beta", "se", "t", "p"]
    assert {"nobs", "rsquared", "rsquared_adj", "hac_lags", "start", "end"} <= set(static.columns)
    res = fx.regress(returns, factors, cov="hac")
    _assert_static_equal(static, res)
    lags = static.drop_duplicates("fund").set_index("fund")["hac_lags"]
    assert (lags.sort_index() == res.hac_lags.sort_index().astype("int64")).all()
    first = static.drop_duplicates("fund").set_index("fund")["start"]
    assert first["SPY"] == pd.Timestamp(res.start["SPY"].end_time.date())
    rolling = pd.read_parquet(tmp_path / "out" / "rolling")
    _assert_rolling_equal(
        rolling, fx.rolling_regress(returns, factors, window=36, cov="hac"), "monthly"
    )
    assert not list((tmp_path / "out").rglob(".*.tmp"))
    assert not (tmp_path / "out" / "_staging").exists()


def test_synthetic_monthly_csv_total_returns_hc1(client, synthetic_monthly, tmp_path: Path):
    excess, factors = synthetic_monthly
    rf = factors["RF"].to_numpy()[:, None] * np.linspace(0.5, 1.5, len(factors))[:, None]
    factors = factors.assign(RF=rf[:, 0])
    total = excess + rf  # what a user's panel holds: total returns
    frame = _long(total)
    frame["date"] = frame["date"].dt.strftime("%Y%m").astype(int)  # CRSP-style YYYYMM
    frame = frame.sample(frac=1.0, random_state=3)  # rows in any order
    path = tmp_path / "panel.csv"
    frame.to_csv(path, index=False)
    run = regress_panel(
        path,
        tmp_path / "out",
        factors=factors,
        window=24,
        cov="HC1",
        client=client,
        chunk_rows=2000,
    )
    reference = total.sub(factors["RF"], axis=0)
    _assert_static_equal(run.read_static(), fx.regress(reference, factors, cov="HC1"))
    _assert_rolling_equal(
        run.read_rolling(), fx.rolling_regress(reference, factors, window=24, cov="HC1"), "monthly"
    )


def test_synthetic_daily_prices_partitioned_dataset(client, tmp_path: Path):
    rng = np.random.default_rng(11)
    days = pd.bdate_range("2019-01-01", periods=700)
    factors = pd.DataFrame(
        rng.normal(0.0003, 0.01, size=(len(days), 2)), index=days, columns=["MKT", "VAL"]
    ).assign(RF=0.0001)
    n = 24
    returns = 0.0002 + factors[["MKT", "VAL"]].to_numpy() @ rng.normal(0.8, 0.3, (2, n))
    returns += rng.normal(0, 0.01, returns.shape)
    prices = pd.DataFrame(100 * np.cumprod(1 + returns, axis=0), index=days)
    prices.columns = [f"S{j:03d}" for j in range(n)]
    for j in range(1, n):  # ragged starts and ends, some gaps; S000 covers every day
        prices.iloc[: rng.integers(0, 300), j] = np.nan
        prices.iloc[rng.integers(500, 701) :, j] = np.nan
        prices.iloc[rng.random(len(days)) < 0.02, j] = np.nan
    frame = _long(prices, "price")
    frame["year"] = frame["date"].dt.year
    root = tmp_path / "prices"
    for year, part in frame.groupby("year"):
        folder = root / f"year={year}"
        folder.mkdir(parents=True)
        pq.write_table(
            pa.Table.from_pandas(part.drop(columns="year"), preserve_index=False),
            folder / "part-0.parquet",
            row_group_size=2500,
        )
    run = regress_panel(
        root,
        tmp_path / "out",
        factors=factors,
        window=60,
        cov="nonrobust",
        min_obs=100,
        client=client,
        chunk_rows=4000,
    )
    assert run.manifest["frequency"] == "daily"
    assert run.manifest["panel"]["kind"] == "prices"
    reference = (prices / prices.shift(1) - 1).sub(factors["RF"], axis=0)
    _assert_static_equal(
        run.read_static(), fx.regress(reference, factors, cov="nonrobust", min_obs=100)
    )
    _assert_rolling_equal(
        run.read_rolling(),
        fx.rolling_regress(reference, factors, window=60, cov="nonrobust"),
        "daily",
    )


# ---------------------------------------------------------------------------------- restart


def _monthly_parquet(synthetic_monthly, path: Path) -> Path:
    frame = _long(synthetic_monthly[0])
    frame["date"] = frame["date"].dt.to_timestamp(how="end").dt.normalize()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=1000)
    return path


def test_interrupted_run_resumes_and_recomputes_only_missing_chunks(
    client, synthetic_monthly, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    panel = _monthly_parquet(synthetic_monthly, tmp_path / "panel.parquet")
    out = tmp_path / "out"
    options = dict(
        factors=synthetic_monthly[1], excess=True, window=36, client=client, chunk_rows=800
    )
    monkeypatch.setattr(panel_backend, "_FAULT", {"stop_after": 3})
    with pytest.raises(KeyboardInterrupt):
        regress_panel(panel, out, **options)
    monkeypatch.setattr(panel_backend, "_FAULT", None)
    _wait_idle(client)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    n_chunks = manifest["n_chunks"]
    markers = sorted(int(p.stem.split("-")[1]) for p in (out / "_chunks").glob("chunk-*.json"))
    assert 3 <= len(markers) < n_chunks
    # no half-written chunk: every visible output file is whole and has its marker
    files = {p.name: p.stat() for p in (out / "static").glob("*.parquet")}
    assert sorted(int(name[6:11]) for name in files) == markers
    for name in files:
        pq.read_table(out / "static" / name)
    rolling_before = {p.name: p.stat() for p in (out / "rolling").glob("*.parquet")}
    run = regress_panel(panel, out, **options)
    assert run.reused == markers
    assert run.computed == sorted(set(range(n_chunks)) - set(markers))
    for name, stat in files.items():  # done chunks were not rewritten
        again = (out / "static" / name).stat()
        assert (again.st_ino, again.st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)
    for name, stat in rolling_before.items():
        assert (out / "rolling" / name).stat().st_mtime_ns == stat.st_mtime_ns
    returns, factors = synthetic_monthly
    _assert_static_equal(run.read_static(), fx.regress(returns, factors))
    _assert_rolling_equal(
        run.read_rolling(), fx.rolling_regress(returns, factors, window=36, cov="hac"), "monthly"
    )
    assert run.manifest["status"] == "complete"
    assert [c["status"] for c in run.manifest["chunks"]] == ["done"] * n_chunks
    # a third run has nothing left to do
    third = regress_panel(panel, out, **options)
    assert third.computed == [] and len(third.reused) == n_chunks


def test_a_lost_worker_has_its_chunk_rerun(
    client, synthetic_monthly, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    panel = _monthly_parquet(synthetic_monthly, tmp_path / "panel.parquet")
    died = tmp_path / "died"
    monkeypatch.setattr(panel_backend, "_FAULT", {"exit_chunk": 1, "marker": str(died)})
    run = regress_panel(
        panel,
        tmp_path / "out",
        factors=synthetic_monthly[1],
        excess=True,
        client=client,
        chunk_rows=800,
    )
    assert died.exists()  # the worker running chunk 1 was killed mid-chunk
    assert 1 in run.computed
    _assert_static_equal(run.read_static(), fx.regress(*synthetic_monthly))
    client.wait_for_workers(2, timeout=60)


def test_other_inputs_in_the_output_folder_need_overwrite(
    client, etf_parquet: Path, tmp_path: Path
):
    options = dict(factors=us_factors(), excess=True, client=client, chunk_rows=4000)
    regress_panel(etf_parquet, tmp_path / "out", **options)
    with pytest.raises(UsageError, match=r"other inputs .*options.*--overwrite") as info:
        regress_panel(etf_parquet, tmp_path / "out", cov="nonrobust", **options)
    assert "\n" not in str(info.value)
    run = regress_panel(etf_parquet, tmp_path / "out", cov="nonrobust", overwrite=True, **options)
    assert run.manifest["options"]["cov"] == "nonrobust" and run.reused == []


# ---------------------------------------------------------------------------------- bad input


def _write_csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and len(text) < 400, text
    return text


def _monthly_rows(ids: list[str], months: int, start: str = "2000-01") -> str:
    rng = np.random.default_rng(5)
    lines = ["date,id,return"]
    for period in pd.period_range(start, periods=months, freq="M"):
        for ident in ids:
            lines.append(f"{period},{ident},{rng.normal(0.01, 0.04):.6f}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def small_factors() -> pd.DataFrame:
    return us_factors()[["Mkt-RF", "SMB", "RF"]]


def test_duplicated_rows_fail_with_one_line(client, small_factors, tmp_path: Path):
    text = _monthly_rows(["A", "B"], 48) + "2001-03,B,0.02\n"
    path = _write_csv(tmp_path / "dup.csv", text)
    with pytest.raises(
        UsageError, match=r"duplicated \(date, id\) rows, e.g. id 'B' on 2001-03-01"
    ) as info:
        regress_panel(path, tmp_path / "out", factors=small_factors, client=client)
    _one_line(info.value)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "duplicated" in manifest["error"]


def test_duplicates_across_pieces_are_found_in_the_chunk(client, small_factors, tmp_path: Path):
    frame = pd.read_csv(pd.io.common.StringIO(_monthly_rows(["A", "B"], 48)))
    frame = pd.concat([frame, frame.iloc[[5]]])  # the same row in a later row group
    path = tmp_path / "dup.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=96)
    with pytest.raises(UsageError, match=r"duplicated \(date, id\) rows") as info:
        regress_panel(path, tmp_path / "out", factors=small_factors, client=client, chunk_rows=50)
    _one_line(info.value)


def test_non_numeric_returns_fail_with_one_line(client, small_factors, tmp_path: Path):
    path = _write_csv(tmp_path / "bad.csv", _monthly_rows(["A"], 40) + "2003-05,B,C\n")
    with pytest.raises(UsageError, match="non-numeric value 'C'") as info:
        regress_panel(path, tmp_path / "out", factors=small_factors, client=client)
    _one_line(info.value)
    frame = pd.DataFrame({"date": ["2000-01", "2000-02"], "id": ["A", "A"], "return": ["0.1", "B"]})
    parquet = tmp_path / "bad.parquet"
    frame.to_parquet(parquet)
    with pytest.raises(UsageError, match=r"non-numeric value 'B' \(id 'A', 2000-02-01\)") as info:
        regress_panel(parquet, tmp_path / "out2", factors=small_factors, client=client)
    _one_line(info.value)


def test_too_short_ids_are_skipped_and_listed(client, small_factors, tmp_path: Path):
    text = _monthly_rows(["LONG1", "LONG2"], 60) + "".join(
        f"{p},SHORT,0.01\n" for p in pd.period_range("2002-01", periods=12, freq="M")
    )
    path = _write_csv(tmp_path / "short.csv", text)
    run = regress_panel(path, tmp_path / "out", factors=small_factors, client=client)
    assert run.manifest["counts"] == {
        "series": 3,
        "fitted": 2,
        "skipped": 1,
        "static_rows": 6,
        "rolling_rows": 0,
    }
    assert set(run.manifest["skipped"]) == {"SHORT"}
    assert "12" in run.manifest["skipped"]["SHORT"] and "36" in run.manifest["skipped"]["SHORT"]
    assert set(run.read_static()["fund"]) == {"LONG1", "LONG2"}


def test_dates_outside_the_factors_fail_with_one_line(client, small_factors, tmp_path: Path):
    path = _write_csv(tmp_path / "future.csv", _monthly_rows(["A"], 40, start="2090-01"))
    with pytest.raises(
        UsageError, match=r"\(2090-01 to 2093-04\) do not overlap the factors"
    ) as info:
        regress_panel(path, tmp_path / "out", factors=small_factors, client=client)
    _one_line(info.value)


def test_unreachable_scheduler_fails_fast(tmp_path: Path, small_factors):
    path = _write_csv(tmp_path / "p.csv", _monthly_rows(["A"], 40))
    address = f"tcp://127.0.0.1:{_free_port()}"
    began = time.monotonic()
    with pytest.raises(
        ClusterError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1"
    ) as info:
        regress_panel(
            path, tmp_path / "out", factors=small_factors, scheduler=address, connect_timeout=1
        )
    assert time.monotonic() - began < 15
    _one_line(info.value)
    with pytest.raises(UsageError, match="not like tcp://host:port"):
        regress_panel(path, tmp_path / "out", factors=small_factors, scheduler="my laptop")


def test_missing_columns_fail_with_one_line(tmp_path: Path, small_factors):
    path = _write_csv(tmp_path / "p.csv", "day,ticker,ret\n2000-01,A,0.1\n")
    with pytest.raises(UsageError, match=r"no date column 'date'.*--date-column") as info:
        regress_panel(path, tmp_path / "out", factors=small_factors)
    _one_line(info.value)


# ---------------------------------------------------------------------------------- CLI


def test_cli_on_the_running_cluster_with_snapshot_factors(
    client, etf_parquet: Path, tmp_path: Path
):
    from factorxray.cli import app

    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "panel",
            str(etf_parquet),
            "--model",
            "ff5",
            "--region",
            "us",
            "--offline",
            "--excess",
            "--cov",
            "nonrobust",
            "--out",
            str(out),
            "--scheduler",
            client.scheduler.address,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "20 of 20 series fitted on ff5 us factors" in result.stdout
    factors = fx.load_factors("ff5", "us", snapshot=True)
    res = fx.regress(etf_excess(), factors, cov="nonrobust")
    _assert_static_equal(pd.read_parquet(out / "static"), res)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["factors"]["model"] == "ff5" and manifest["factors"]["vintages"]
    assert manifest["factors"]["source"] == "load_factors"
    assert manifest["factorxray_version"] == fx.__version__


def test_cli_unreachable_scheduler_is_one_line(tmp_path: Path):
    from factorxray.cli import app

    path = _write_csv(tmp_path / "p.csv", _monthly_rows(["A"], 40))
    result = CliRunner().invoke(
        app,
        ["panel", str(path), "--out", str(tmp_path / "out"), "--offline", "--connect-timeout", "1"],
        env={"DASK_SCHEDULER_ADDRESS": f"tcp://127.0.0.1:{_free_port()}"},
    )
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: cannot reach the Dask scheduler")


# ---------------------------------------------------------------------------------- no cluster


def _rows(ids, days, values) -> pa.Table:
    days = np.asarray(pd.to_datetime(days).values.astype("datetime64[D]").astype(np.int32))
    return pa.table({"id": ids, "day": days, "value": np.asarray(values, float)}, schema=ROW_SCHEMA)


def test_daily_rows_compound_into_months_dropping_the_partial_first():
    days = ["2020-01-30", "2020-01-31", "2020-02-03", "2020-02-28", "2020-03-02"]
    rows = _rows(["A"] * 5, days, [0.01, 0.02, 0.03, -0.01, 0.05])
    names, _, keys, values = series_frame(
        rows, kind="returns", frequency="monthly", aggregate=True, factor_keys=np.array([])
    )
    assert list(names) == ["A"]
    assert [str(p) for p in pd.PeriodIndex.from_ordinals(keys, freq="M")] == [
        "2020-01",
        "2020-02",
        "2020-03",
    ]
    np.testing.assert_allclose(values[1:], [1.03 * 0.99 - 1, 0.05], rtol=1e-14)
    assert np.isnan(values[0])
    prices = _rows(["A"] * 5, days, [10, 11, 12, 13, 14])
    _, _, _, month_returns = series_frame(
        prices, kind="prices", frequency="monthly", aggregate=True, factor_keys=np.array([])
    )
    np.testing.assert_allclose(month_returns[1:], [13 / 11 - 1, 14 / 13 - 1], rtol=1e-14)


def test_a_monthly_panel_with_two_rows_in_a_month_says_so():
    rows = _rows(["A", "A"], ["2020-01-15", "2020-01-31"], [0.01, 0.02])
    with pytest.raises(UsageError, match=r"id 'A' has several rows in 2020-01 .*--frequency"):
        series_frame(
            rows, kind="returns", frequency="monthly", aggregate=False, factor_keys=np.array([])
        )
