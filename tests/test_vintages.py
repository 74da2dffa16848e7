"""Vintages: the cache keeps every vintage it sees; pinning one; `factors diff` by hand.

Two real older vintages (202006 and 202110) of the US 3- and 5-factor files are served, one
after the other, by a loopback server, zipped in memory as the library serves them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from factorxray.cli import app
from factorxray.data import kenfrench
from factorxray.data.cache import Cache
from factorxray.data.kenfrench import (
    PARSED_NAMESPACE,
    FrenchDataset,
    encode_parsed,
    parse_french_zip,
)
from factorxray.errors import NotCachedError, UsageError
from factorxray.factors import load_factors
from factorxray.factors.vintages import (
    cached_versions,
    diff_frames,
    diff_vintages,
    normalize_vintage,
    read_pinned_dataset,
    vintages_at_hand,
)
from tests._datasets import assert_same_dataset
from tests._server import LoopbackServer, Reply
from tests.test_kenfrench import _raw_blocks

VINTAGES = Path(__file__).parent / "data" / "kenfrench-vintages"
THREE = "F-F_Research_Data_Factors"
FIVE = "F-F_Research_Data_5_Factors_2x3"


def zipped(name: str, vintage: str) -> bytes:
    """The real CSV of a vintage, zipped alone as the library serves it."""
    buffer = io.BytesIO()
    info = zipfile.ZipInfo(f"{name}.csv", date_time=(2026, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(info, (VINTAGES / f"{name}.{vintage}.csv").read_bytes())
    return buffer.getvalue()


def raw(name: str, vintage: str) -> pd.DataFrame:
    """The monthly block of a vintage's CSV, read by hand (percent)."""
    text = (VINTAGES / f"{name}.{vintage}.csv").read_bytes().decode("ascii")
    header = next(line for line in text.splitlines() if line.lstrip().startswith(","))
    columns = [c.strip() for c in header.split(",")[1:]]
    block = _raw_blocks(text)[0]
    index = pd.PeriodIndex([f"{k[:4]}-{k[4:]}" for k, _ in block], freq="M")
    return pd.DataFrame(
        [[float(c) for c in cells] for _, cells in block], index=index, columns=columns
    )


@pytest.fixture
def served(tmp_path):
    """A server answering the 3- and 5-factor files with whichever vintage is set."""
    current = {"vintage": "202006"}

    def handler(name: str):
        return lambda request: Reply(200, zipped(name, current["vintage"]))

    server = LoopbackServer(
        {f"/{THREE}_CSV.zip": handler(THREE), f"/{FIVE}_CSV.zip": handler(FIVE)}
    ).start()
    cache = Cache(tmp_path / "cache")
    try:
        yield server, cache, current
    finally:
        server.stop()


@pytest.fixture
def both(served):
    """The cache after seeing 202006 and then 202110 of both files."""
    server, cache, current = served
    load_factors("ff3", base_url=server.url, cache=cache)
    load_factors("ff5", base_url=server.url, cache=cache)
    current["vintage"] = "202110"
    load_factors("ff3", base_url=server.url, cache=cache, refresh=True)
    load_factors("ff5", base_url=server.url, cache=cache, refresh=True)
    return server, cache


def test_the_cache_keeps_every_vintage_it_has_seen(both) -> None:
    _, cache = both
    versions = cached_versions(cache, "kenfrench", f"{THREE}_CSV.zip")
    assert set(versions) == {"202006", "202110"}
    assert versions["202006"].key == f"{THREE}_CSV.zip@202006"
    assert versions["202006"].data == zipped(THREE, "202006")
    assert versions["202110"].key == f"{THREE}_CSV.zip"
    records = {(r.dataset, r.vintage, r.where) for r in vintages_at_hand(cache)}
    assert (THREE, "202006", "cache (kept)") in records and (THREE, "202110", "cache") in records
    assert (THREE, "202511", "snapshot") in records


def test_pinning_a_vintage_gives_its_values(both) -> None:
    _, cache = both
    old = load_factors("ff3", cache=cache, vintage="202006")
    expected = raw(THREE, "202006")
    assert old.attrs["vintages"] == {THREE: "202006"} and old.index[-1] == pd.Period("2020-06", "M")
    np.testing.assert_array_equal(old["SMB"].to_numpy(), expected["SMB"].to_numpy() / 100)
    assert old.loc["1926-07", "SMB"] == -0.0230 and old.loc["1926-07", "HML"] == -0.0287
    new = load_factors("ff3", cache=cache, vintage="2021-10")
    assert new.loc["1926-07", "SMB"] == -2.38 / 100 and new.attrs["vintages"] == {THREE: "202110"}
    five = load_factors("ff5", cache=cache, vintage="202110")
    np.testing.assert_array_equal(
        five["CMA"].to_numpy(), raw(FIVE, "202110")["CMA"].to_numpy() / 100
    )


def test_a_pin_between_vintages_takes_the_one_published_by_then(both) -> None:
    _, cache = both
    assert load_factors("ff3", cache=cache, vintage="202012").attrs["vintages"] == {THREE: "202006"}
    assert read_pinned_dataset(THREE, "202511", cache=cache).url == f"snapshot:{THREE}_CSV.zip"


def test_a_vintage_not_at_hand_is_one_line(both) -> None:
    _, cache = both
    with pytest.raises(
        NotCachedError,
        match=r"vintage 201901 of dataset .* not at hand \(vintages at hand: 202006, 202110, 202511\)",
    ):
        load_factors("ff3", cache=cache, vintage="201901")
    with pytest.raises(UsageError, match="is not YYYYMM"):
        load_factors("ff3", cache=cache, vintage="June")
    with pytest.raises(NotCachedError, match="not at hand"):
        diff_vintages(THREE, "202006", "202012", cache=cache)


def hand_diff(old: pd.DataFrame, new: pd.DataFrame) -> dict[str, dict[str, float]]:
    out = {}
    for column in old.columns:
        common = old.index.intersection(new.index)
        a = old.loc[common, column].to_numpy()
        b = new.loc[common, column].to_numpy()
        delta = b - a
        out[column] = {
            "months": len(common),
            "changed": int(np.sum(np.abs(delta) > 1e-9)),
            "max_abs_change": float(np.max(np.abs(delta))),
            "rms_change": float(np.sqrt(np.mean(delta**2))),
            "correlation": float(np.corrcoef(a, b)[0, 1]),
            "added": len(new.index.difference(old.index)),
        }
    return out


def test_diff_of_two_real_vintages_matches_a_hand_computation(both) -> None:
    _, cache = both
    table = diff_vintages(THREE, "202006", "202110", cache=cache)
    expected = hand_diff(raw(THREE, "202006"), raw(THREE, "202110"))
    assert list(table.index) == ["Mkt-RF", "SMB", "HML", "RF"]
    for factor, values in expected.items():
        for key, value in values.items():
            assert table.loc[factor, key] == pytest.approx(value, rel=1e-12, abs=1e-12), (
                factor,
                key,
            )
    assert table.loc["SMB", "changed"] > 1000  # French re-forms the whole history
    assert table.loc["RF", "changed"] == 0 and table.loc["Mkt-RF", "changed"] == 12
    assert (table.loc["SMB", "changed"], table.loc["HML", "changed"]) == (1016, 1042)
    assert (
        table.loc["HML", "max_abs_change"] == pytest.approx(2.26)
        and table.loc["HML", "max_change_at"] == "2000-05"
    )
    assert table.loc["SMB", "added"] == 16 and table.loc["SMB", "removed"] == 0
    assert table.attrs == {"dataset": THREE, "old": "202006", "new": "202110", "units": "percent"}
    five = diff_vintages(FIVE, "202006", "202110", cache=cache)
    assert five.loc["CMA", "correlation"] == pytest.approx(
        hand_diff(raw(FIVE, "202006"), raw(FIVE, "202110"))["CMA"]["correlation"], rel=1e-12
    )


def test_diff_frames_on_a_small_case() -> None:
    index = pd.period_range("2020-01", periods=4, freq="M")
    old = pd.DataFrame({"X": [1.0, 2.0, 3.0, np.nan]}, index)
    new = pd.DataFrame({"X": [1.0, 2.5, 2.0, 4.0]}, index)
    row = diff_frames(old, new).loc["X"]
    assert (row["months"], row["changed"], row["added"]) == (3, 2, 1)
    assert row["max_abs_change"] == 1.0 and row["max_change_at"] == "2020-03"
    assert row["rms_change"] == pytest.approx(np.sqrt((0.25 + 1.0) / 3))


def test_cli_diff_show_and_dataset_pin_vintages(both) -> None:
    _, cache = both
    env = {"FACTORXRAY_CACHE_DIR": str(cache.root), "COLUMNS": "200"}
    runner = CliRunner()
    result = runner.invoke(
        app, ["factors", "diff", THREE, "202006", "202110", "--format", "csv"], env=env
    )
    assert result.exit_code == 0, result.output
    rows = {row["factor"]: row for row in csv.DictReader(io.StringIO(result.stdout))}
    expected = hand_diff(raw(THREE, "202006"), raw(THREE, "202110"))
    assert int(rows["HML"]["changed"]) == expected["HML"]["changed"]
    assert float(rows["HML"]["rms_change"]) == pytest.approx(
        expected["HML"]["rms_change"], rel=1e-12
    )
    table = runner.invoke(app, ["factors", "diff", THREE, "202006", "202110"], env=env)
    assert table.exit_code == 0 and "vintage 202006 -> 202110" in table.stdout
    shown = runner.invoke(
        app,
        ["factors", "show", "ff3", "--vintage", "202006", "--end", "1926-07", "--format", "csv"],
        env=env,
    )
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.splitlines()[1] == "1926-07,0.0296,-0.023,-0.0287,0.0022"
    listed = runner.invoke(app, ["factors", "dataset", THREE, "--vintage", "202006"], env=env)
    assert listed.exit_code == 0 and "vintage 202006" in listed.stdout
    missing = runner.invoke(app, ["factors", "show", "ff3", "--vintage", "201901"], env=env)
    assert missing.exit_code == 1 and "not at hand" in missing.output
    assert len(missing.output.strip().splitlines()) == 1


def test_normalize_vintage() -> None:
    assert normalize_vintage("202511") == "202511" and normalize_vintage("2023") == "202312"
    with pytest.raises(UsageError):
        normalize_vintage("202513")


def test_other_libraries_pin_and_refuse_vintages_not_at_hand(tmp_path, monkeypatch) -> None:
    from tests._kenfrench_server import all_factor_server, library_env

    server = all_factor_server()
    for name, value in library_env(server.url).items():
        monkeypatch.setenv(name, value)
    cache = Cache(tmp_path / "c")
    try:
        load_factors("q5", cache=cache)
        from factorxray.factors.catalog import load_factor_set

        load_factor_set("BAB,LIQ", cache=cache)
    finally:
        server.stop()
    pinned = load_factor_set("BAB,ROE,LIQ", cache=cache, vintage="202403")
    assert pinned.attrs["vintages"] == {
        "Betting-Against-Beta-Equity-Factors-Monthly": "202102",
        "q5_factors_monthly_2023": "2023",
        "liq_data_1962_2023": "2023",
    }
    with pytest.raises(NotCachedError, match=r"vintage 202012 of AQR workbook .* at hand: 202102"):
        load_factor_set("BAB", cache=cache, vintage="202012")
    with pytest.raises(NotCachedError, match="vintage 202306 of monthly q-factor file"):
        load_factors("q5", cache=cache, vintage="202306")


def test_analyze_compare_vintage_moves_betas_as_the_revision_did(both, tmp_path) -> None:
    """VTV and SPY on ff3 of 202110, compared with 202006 (both real, both in the cache)."""
    from tests._prices_server import fixture_closes

    _, cache = both
    frame = pd.DataFrame({t: fixture_closes(t) for t in ("VTV", "SPY")})
    frame.index.name = "date"
    prices = tmp_path / "prices.csv"
    frame.to_csv(prices)
    import factorxray as fx

    run = fx.analyze(
        ["VTV", "SPY"],
        model="ff3",
        prices_file=prices,
        source="file",
        cache=cache,
        offline=True,
        end="2020-06",
        models=None,
        compare_vintage="202006",
    )
    assert run.factors.attrs["vintages"] == {THREE: "202110"}
    comparison = run.vintage_comparison
    assert comparison.error is None and comparison.vintages_other == {THREE: "202006"}
    old = fx.analyze(
        ["VTV", "SPY"],
        model="ff3",
        prices_file=prices,
        source="file",
        cache=cache,
        offline=True,
        end="2020-06",
        models=None,
        vintage="202006",
    )
    for fund in ("VTV", "SPY"):
        for factor in ("Mkt-RF", "SMB", "HML"):
            row = comparison.betas.loc[(fund, factor)]
            assert row["beta"] == run.results.params.loc[fund, factor]
            assert row["beta_other"] == pytest.approx(
                old.results.params.loc[fund, factor], abs=1e-15
            )
    # the 202110 revision of HML moved VTV's value beta (HML changed in 1042 of 1128 months)
    assert comparison.betas.loc[("VTV", "HML"), "change"] != 0
    assert list(comparison.verdicts.index) == ["VTV", "SPY"]
    result = CliRunner().invoke(
        app,
        [
            "--cache-dir",
            str(cache.root),
            "analyze",
            "VTV",
            "SPY",
            "--model",
            "ff3",
            "--prices-file",
            str(prices),
            "--offline",
            "--end",
            "2020-06",
            "--models",
            "none",
            "--no-png",
            "--compare-vintage",
            "202006",
            "--out",
            str(tmp_path / "r"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "on the factor files of vintage 202006" in result.stdout
    import json

    summary = json.loads((tmp_path / "r" / "summary.json").read_text())["run"]
    assert summary["vintage_comparison"]["vintages_other"] == {THREE: "202006"}
    assert summary["vintage_comparison"]["funds"]["VTV"]["betas"]["HML"]["change"] == pytest.approx(
        comparison.betas.loc[("VTV", "HML"), "change"]
    )


# ----------------------------------------------------------------------------- parsed forms


def _forget() -> None:
    """Forget what this process has read, as a new process would start."""
    kenfrench._READ.clear()
    kenfrench._snapshot_zip.cache_clear()


def test_a_pinned_kept_vintage_is_read_through_its_own_parsed_form(both, caplog) -> None:
    """A ``KEY@VINTAGE`` copy has its own form (``X@VINTAGE.npz``): made on the first pinned
    read, read by the next process, never mixed with the current download's form, and
    ignored (parsed again, without a word) when damaged."""
    _, cache = both
    old = zipped(THREE, "202006")
    expected = parse_french_zip(old, THREE)
    key = f"{THREE}@202006.npz"
    _forget()
    first = read_pinned_dataset(THREE, "202006", cache=cache)
    kept = cache.get(PARSED_NAMESPACE, key)
    assert kept is not None and kept.meta["vintage"] == "202006"
    assert kept.meta["source_sha256"] == hashlib.sha256(old).hexdigest()
    assert kept.meta["derived_from"] == f"kenfrench/{THREE}_CSV.zip@202006"
    current = cache.get(PARSED_NAMESPACE, f"{THREE}.npz")
    assert current.meta["vintage"] == "202110"  # the current download's form, untouched
    assert_same_dataset(first, expected)
    assert first.url == f"cache {THREE}_CSV.zip@202006"
    # the next process reads the form: a marker written into it shows through
    marked = encode_parsed(
        FrenchDataset(THREE, expected.description, "190001", "CRSP", expected.sections),
        kept.meta["source_sha256"],
    )
    cache.put(PARSED_NAMESPACE, key, marked, kept.meta)
    _forget()
    assert read_pinned_dataset(THREE, "202006", cache=cache).vintage == "190001"
    # a damaged form: parsed again, rewritten, nothing said
    cache.put(PARSED_NAMESPACE, key, marked[: len(marked) // 2], kept.meta)
    _forget()
    with caplog.at_level(logging.DEBUG, logger="factorxray"):
        again = read_pinned_dataset(THREE, "202006", cache=cache)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert_same_dataset(again, expected)
    assert cache.get(PARSED_NAMESPACE, key).data == kept.data
    # the vintages at hand are still the zips' (forms are not versions)
    assert set(cached_versions(cache, "kenfrench", f"{THREE}_CSV.zip")) == {"202006", "202110"}
    records = {
        (r.dataset, r.vintage, r.where) for r in vintages_at_hand(cache) if r.dataset == THREE
    }
    assert records == {
        (THREE, "202006", "cache (kept)"),
        (THREE, "202110", "cache"),
        (THREE, "202511", "snapshot"),
    }


def test_pinned_factors_are_the_same_from_the_forms_as_from_the_zips(both) -> None:
    """Every vintage at hand (two in the cache, one bundled), as a pinned model reads it:
    equal when the zips are parsed and when a new process reads the forms."""
    _, cache = both
    _forget()
    parsed = {
        v: load_factors("ff5", cache=cache, vintage=v) for v in ("202006", "202110", "202511")
    }
    assert {v: f.attrs["vintages"] for v, f in parsed.items()} == {v: {FIVE: v} for v in parsed}
    forms = sorted(e.key for e in cache.entries() if e.namespace == PARSED_NAMESPACE)
    assert forms == sorted(
        [f"{FIVE}.npz", f"{THREE}.npz", f"{FIVE}@202006.npz", f"{FIVE}@snapshot.npz"]
    )
    _forget()
    for v, frame in parsed.items():
        again = load_factors("ff5", cache=cache, vintage=v)
        pd.testing.assert_frame_equal(again, frame, check_exact=True, check_freq=True)
        assert again.attrs == frame.attrs
    np.testing.assert_array_equal(
        parsed["202006"]["CMA"].to_numpy(), raw(FIVE, "202006")["CMA"].to_numpy() / 100
    )
