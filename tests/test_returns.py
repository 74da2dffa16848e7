"""Monthly total returns: the math against hand computations, and fetching many funds at once."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from factorxray.data.cache import Cache
from factorxray.data.prices import PriceStore
from factorxray.errors import AllFailedError, InsufficientDataError, UsageError
from factorxray.returns import (
    excess_returns,
    fetch_prices,
    fetch_returns,
    is_complete_month,
    last_trading_day,
    monthly_total_returns,
)
from tests._prices_server import (
    FMP_KEY,
    TICKERS,
    TIINGO_KEY,
    PriceServer,
    all_fixture_closes,
    fixture_closes,
)
from tests._server import Reply


@pytest.fixture(scope="module")
def shared_server():
    with PriceServer() as server:
        yield server


@pytest.fixture
def prices_server(shared_server):
    return shared_server.reset()


def hand_monthly(closes: pd.Series) -> pd.Series:
    """Independent reference: month-end close (resample 'ME') over the previous one, minus 1."""
    month_end = closes.dropna().resample("ME").last()
    returns = month_end.pct_change(fill_method=None)
    returns.index = returns.index.to_period("M")
    return returns.iloc[1:]  # no previous month-end close for the first month


# ------------------------------------------------------------------ the math


def test_matches_hand_computation_on_all_20_funds() -> None:
    prices = all_fixture_closes()
    monthly = monthly_total_returns(prices)
    assert list(monthly.columns) == list(TICKERS)
    assert isinstance(monthly.index, pd.PeriodIndex) and monthly.index.freqstr == "M"
    for ticker in TICKERS:
        expected = hand_monthly(fixture_closes(ticker)).loc[:"2026-06"]
        got = monthly[ticker].dropna()
        assert got.index.equals(expected.index), ticker
        np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=0, atol=1e-14)


def test_monthly_return_is_the_compounded_daily_returns() -> None:
    closes = fixture_closes("SPLV")
    daily = closes.pct_change().iloc[1:]
    compounded = (1 + daily).groupby(daily.index.to_period("M")).prod() - 1
    monthly = monthly_total_returns(closes.to_frame())["SPLV"]
    common = monthly.index.intersection(compounded.index)
    assert len(common) == len(monthly) > 150
    np.testing.assert_allclose(monthly.loc[common], compounded.loc[common], atol=1e-12)


def test_first_and_running_months_are_dropped() -> None:
    monthly = monthly_total_returns(fixture_closes("MTUM").to_frame())
    # MTUM starts 2013-04-18: April 2013 has no previous month-end close.
    assert str(monthly.index[0]) == "2013-05"
    # The data end 2026-07-14, before July's last trading day: July is partial.
    assert str(monthly.index[-1]) == "2026-06"


def test_inception_gaps_are_nan_not_dropped() -> None:
    monthly = monthly_total_returns(all_fixture_closes()[["SPY", "QGRO"]])
    assert str(monthly.index[0]) == "1993-02"
    assert monthly.loc[:"2018-09", "QGRO"].isna().all()
    assert monthly.loc["2018-10":, "QGRO"].notna().all()
    assert monthly["SPY"].notna().all()


def test_a_month_ending_on_its_last_trading_day_is_kept() -> None:
    closes = fixture_closes("SPY")
    through_june = closes.loc[:"2026-06-30"]
    assert str(monthly_total_returns(through_june.to_frame()).index[-1]) == "2026-06"
    through_june_29 = closes.loc[:"2026-06-29"]
    assert str(monthly_total_returns(through_june_29.to_frame()).index[-1]) == "2026-05"


def test_good_friday_month_end_counts_as_complete() -> None:
    closes = fixture_closes("SPY").loc[:"2018-03-31"]
    assert closes.index[-1] == pd.Timestamp("2018-03-29")  # 2018-03-30 was Good Friday
    assert str(monthly_total_returns(closes.to_frame()).index[-1]) == "2018-03"


@pytest.mark.parametrize(
    ("month", "expected"),
    [
        ("2026-06", date(2026, 6, 30)),
        ("2026-05", date(2026, 5, 29)),  # May 31 2026 is a Sunday
        ("2021-05", date(2021, 5, 28)),  # May 31 2021 was Memorial Day
        ("2018-03", date(2018, 3, 29)),  # March 30 2018 was Good Friday
        ("2024-03", date(2024, 3, 28)),  # March 29 2024 was Good Friday
        ("2026-07", date(2026, 7, 31)),
        ("2026-08", date(2026, 8, 31)),
    ],
)
def test_last_trading_day(month, expected) -> None:
    assert last_trading_day(pd.Period(month, "M")) == expected


def test_last_trading_day_agrees_with_real_month_ends() -> None:
    closes = fixture_closes("SPY").loc[:"2026-06-30"]
    real_last = closes.groupby(closes.index.to_period("M")).apply(lambda s: s.index[-1].date())
    computed = {p: last_trading_day(p) for p in real_last.index}
    mismatched = {str(p): (d, computed[p]) for p, d in real_last.items() if d != computed[p]}
    # Only unscheduled closures remain (e.g. 2012-10-29/30 Hurricane Sandy is not a month end).
    assert mismatched == {}


def test_is_complete_month() -> None:
    assert not is_complete_month(date(2026, 7, 14))
    assert is_complete_month(pd.Timestamp("2026-07-31"))


def test_gap_month_inside_a_history_is_nan() -> None:
    closes = fixture_closes("SPY").loc["2020-01-01":"2020-12-31"]
    with_gap = closes[closes.index.to_period("M") != pd.Period("2020-05", "M")]
    monthly = monthly_total_returns(with_gap.to_frame())["SPY"]
    assert monthly.loc["2020-05":"2020-06"].isna().all()
    assert monthly.loc["2020-07"] == pytest.approx(hand_monthly(closes).loc["2020-07"], abs=1e-15)


def _spy_2020_without(first_missing: str, last_missing: str) -> pd.Series:
    closes = fixture_closes("SPY").loc["2020-01-01":"2020-12-31"]
    return closes[(closes.index < first_missing) | (closes.index > last_missing)]


def test_a_gap_at_a_month_end_makes_that_month_and_the_next_nan() -> None:
    # The last 10 trading days of May 2020 missing: May's last close is 2020-05-14, 15 days
    # before its last trading day (05-29). Neither May (ends on 05-14) nor June (starts from
    # 05-14) is a month-end-to-month-end return.
    closes = fixture_closes("SPY").loc["2020-01-01":"2020-12-31"]
    may = closes.loc["2020-05"]
    assert len(may) > 10 and may.index[-1] == pd.Timestamp("2020-05-29")
    with_gap = closes.drop(may.index[-10:])
    assert with_gap.loc[:"2020-05"].index[-1] == pd.Timestamp("2020-05-14")
    monthly = monthly_total_returns(with_gap.to_frame())["SPY"]
    expected = hand_monthly(closes)
    assert list(monthly.index.astype(str)) == list(expected.index.astype(str))
    assert monthly.loc["2020-05":"2020-06"].isna().all()
    others = monthly.drop([pd.Period("2020-05", "M"), pd.Period("2020-06", "M")])
    np.testing.assert_allclose(others, expected.loc[others.index], rtol=0, atol=1e-15)


def test_a_month_end_gap_of_at_most_7_days_is_not_stale() -> None:
    # May 2020 without its last 4 trading days: last close 2020-05-22, exactly 7 days
    # before 05-29; it is used as May's month end.
    closes = _spy_2020_without("2020-05-23", "2020-05-31")
    monthly = monthly_total_returns(closes.to_frame())["SPY"]
    assert monthly.notna().all()
    assert monthly.loc["2020-06"] == pytest.approx(
        closes.loc["2020-06-30"] / closes.loc["2020-05-22"] - 1, abs=1e-15
    )
    # One more day missing (last close 05-21, 8 days before): stale.
    closes = _spy_2020_without("2020-05-22", "2020-05-31")
    assert monthly_total_returns(closes.to_frame())["SPY"].loc["2020-05":"2020-06"].isna().all()


def test_a_stale_month_in_one_fund_does_not_touch_another() -> None:
    frame = pd.DataFrame(
        {"SPY": _spy_2020_without("2020-03-15", "2020-03-31"), "MTUM": fixture_closes("MTUM")}
    ).loc["2020"]
    monthly = monthly_total_returns(frame)
    assert monthly.loc["2020-03":"2020-04", "SPY"].isna().all()
    assert monthly["SPY"].isna().sum() == 2 and monthly["MTUM"].notna().all()


def test_month_end_only_closes_give_every_return() -> None:
    """The bundled snapshot holds one close per month, on its last trading day: never stale."""
    from factorxray import snapshot

    prices = snapshot.month_end_prices(snapshot.tickers())
    assert prices.shape[1] == len(snapshot.tickers()) >= 20
    monthly = monthly_total_returns(prices)
    for ticker in prices.columns:
        series = monthly[ticker]
        returns = series.loc[series.first_valid_index() : series.last_valid_index()]
        assert returns.notna().all() and len(returns) == prices[ticker].count() - 1, ticker
    # The same from the fixture's month-end closes.
    closes = fixture_closes("SPY").loc[:"2026-06-30"]
    month_ends = closes.groupby(closes.index.to_period("M")).tail(1)
    np.testing.assert_allclose(
        monthly_total_returns(month_ends.to_frame())["SPY"],
        hand_monthly(closes),
        rtol=0,
        atol=1e-15,
    )


def test_monthly_total_returns_rejects_a_non_date_index() -> None:
    with pytest.raises(UsageError, match="DatetimeIndex"):
        monthly_total_returns(pd.DataFrame({"A": [1.0, 2.0]}))


def test_empty_prices_give_an_empty_monthly_frame() -> None:
    empty = pd.DataFrame({"A": pd.Series(dtype=float)}, index=pd.DatetimeIndex([]))
    monthly = monthly_total_returns(empty)
    assert monthly.empty and isinstance(monthly.index, pd.PeriodIndex)


@settings(max_examples=40, deadline=None)
@given(
    log_returns=st.lists(
        st.floats(min_value=-0.1, max_value=0.1, allow_nan=False), min_size=30, max_size=300
    ),
    start=st.dates(min_value=date(2000, 1, 1), max_value=date(2025, 1, 1)),
)
def test_compounding_property_on_random_paths(log_returns, start) -> None:
    days = pd.bdate_range(start, periods=len(log_returns))
    closes = pd.Series(100 * np.exp(np.cumsum(log_returns)), index=days)
    monthly = monthly_total_returns(closes.to_frame())[0]
    daily = closes.pct_change()
    grouped = (1 + daily.fillna(0)).groupby(days.to_period("M")).prod() - 1
    for month, value in monthly.items():
        assert value == pytest.approx(grouped.loc[month], rel=1e-9, abs=1e-12)
    expected_months = list(days.to_period("M").unique()[1:])  # the first month has no base
    if not is_complete_month(days[-1]):
        expected_months = expected_months[:-1]
    assert list(monthly.index) == expected_months


@settings(max_examples=25, deadline=None)
@given(
    holes=st.lists(
        st.tuples(st.integers(0, 19), st.integers(0, 8000), st.integers(1, 40)), max_size=30
    ),
    last_row=st.integers(4000, 8200),
)
def test_funds_are_computed_independently(holes, last_row) -> None:
    """All funds at once (vectorized) give each fund what it gives alone, gaps included."""
    prices = all_fixture_closes().iloc[:last_row].copy()
    for column, start, length in holes:
        prices.iloc[start : start + length, column] = np.nan
    together = monthly_total_returns(prices)
    for ticker in prices.columns:
        alone = monthly_total_returns(prices[[ticker]])[ticker]
        joint = together[ticker]
        assert joint.dropna().index.equals(alone.dropna().index), ticker
        np.testing.assert_array_equal(joint.loc[alone.index].to_numpy(), alone.to_numpy())
        assert joint.drop(alone.index).isna().all(), ticker


# ------------------------------------------------------------------ excess returns


def test_excess_returns_subtracts_rf_on_common_months() -> None:
    months = pd.period_range("2024-01", periods=4, freq="M")
    fund = pd.DataFrame(
        {"A": [0.01, 0.02, 0.03, 0.04], "B": [0.0, -0.01, np.nan, 0.02]}, index=months
    )
    fund.attrs = {"sources": {"A": {"source": "file"}}}
    factors = pd.DataFrame({"Mkt-RF": [0.1] * 3, "RF": [0.001, 0.002, 0.003]}, index=months[1:])
    excess = excess_returns(fund, factors)
    assert list(excess.index.astype(str)) == ["2024-02", "2024-03", "2024-04"]
    np.testing.assert_allclose(excess["A"], [0.019, 0.028, 0.037])
    assert np.isnan(excess.loc["2024-03", "B"])
    assert excess.attrs["sources"]["A"]["source"] == "file"
    series = excess_returns(fund["A"], factors.set_axis(months[1:].to_timestamp(how="end"), axis=0))
    np.testing.assert_allclose(series, [0.019, 0.028, 0.037])


def test_excess_returns_errors() -> None:
    months = pd.period_range("2024-01", periods=2, freq="M")
    fund = pd.DataFrame({"A": [0.01, 0.02]}, index=months)
    with pytest.raises(UsageError, match="no 'RF' column"):
        excess_returns(fund, pd.DataFrame({"Mkt-RF": [0.1, 0.1]}, index=months))
    with pytest.raises(UsageError, match="percent"):
        excess_returns(fund, pd.DataFrame({"RF": [0.4, 0.5]}, index=months))
    with pytest.raises(InsufficientDataError, match="share no month"):
        excess_returns(
            fund,
            pd.DataFrame({"RF": [0.001]}, index=pd.period_range("2020-01", periods=1, freq="M")),
        )


# ------------------------------------------------------------------ fetching


def test_twenty_tickers_one_failing(prices_server, isolated_cache) -> None:
    tickers = [*TICKERS[:19], "NOSUCH"]
    done: list[tuple[str, str | None]] = []
    returns = fetch_returns(
        tickers,
        base_url=prices_server.url,
        cache=Cache(isolated_cache),
        on_ticker_done=lambda t, r: done.append((t, r)),
    )
    assert list(returns.columns) == list(TICKERS[:19])
    assert set(returns.attrs["failed"]) == {"NOSUCH"}
    assert "No data found" in returns.attrs["failed"]["NOSUCH"]
    assert sorted(t for t, _ in done) == sorted(tickers)
    assert [t for t, r in done if r] == ["NOSUCH"]
    for ticker in TICKERS[:19]:
        expected = hand_monthly(fixture_closes(ticker)).loc[:"2026-06"]
        np.testing.assert_allclose(returns[ticker].dropna(), expected, rtol=0, atol=1e-14)
        record = returns.attrs["sources"][ticker]
        assert record["source"] == "yahoo" and record["last"] == "2026-07-14"
        assert record["first"] == f"{fixture_closes(ticker).index[0]:%Y-%m-%d}"
        assert record["last_month"] == "2026-06"
    json.dumps(returns.attrs)  # JSON-serialisable
    assert all(isinstance(v, str) for r in returns.attrs["sources"].values() for v in r.values())


def test_all_failing_raises_with_failures(prices_server) -> None:
    with pytest.raises(AllFailedError) as info:
        fetch_returns(["NOSUCH", "NOPE"], base_url=prices_server.url)
    assert set(info.value.failures) == {"NOSUCH", "NOPE"}


def test_downloads_run_in_parallel(isolated_cache) -> None:
    """Concurrency seen by the server (requests in flight at once), not a timing."""
    with PriceServer(delay=0.2) as slow:
        prices = fetch_prices(list(TICKERS[:8]), base_url=slow.url, cache=Cache(isolated_cache))
        most_at_once = slow.server.max_in_flight
        slow.server.max_in_flight = 0
        single = fetch_prices(
            list(TICKERS[8:11]),
            base_url=slow.url,
            cache=Cache(isolated_cache / "one"),
            max_workers=1,
        )
        one_worker = slow.server.max_in_flight
    assert prices.shape[1] == 8 and single.shape[1] == 3
    assert most_at_once >= 4, (
        f"at most {most_at_once} request(s) in flight: downloads are not concurrent"
    )
    assert one_worker == 1


def test_unwritable_cache_dir_fails_each_ticker_naming_the_path(
    prices_server, tmp_path, monkeypatch
) -> None:
    regular_file = tmp_path / "not-a-folder"
    regular_file.write_text("x")
    monkeypatch.setenv("FACTORXRAY_CACHE_DIR", str(regular_file / "cache"))
    done: list[str] = []
    with pytest.raises(AllFailedError) as info:
        fetch_returns(
            ["SPY", "MTUM"], base_url=prices_server.url, on_ticker_done=lambda t, r: done.append(t)
        )
    assert sorted(done) == ["MTUM", "SPY"]
    assert set(info.value.failures) == {"SPY", "MTUM"}
    for reason in info.value.failures.values():
        assert str(regular_file) in reason and "cache=Cache(FOLDER)" in reason
        assert "\n" not in reason


def test_an_unexpected_error_of_one_ticker_keeps_the_others(prices_server, monkeypatch) -> None:
    real_history = PriceStore.history

    def history(self, ticker, **kwargs):
        if ticker == "MTUM":
            raise NotADirectoryError(20, "Not a directory", "/tmp/somewhere/prices-yahoo")
        if ticker == "QUAL":
            raise RuntimeError("something\nunexpected")
        return real_history(self, ticker, **kwargs)

    monkeypatch.setattr(PriceStore, "history", history)
    returns = fetch_returns(["SPY", "MTUM", "QUAL", "VTV"], base_url=prices_server.url)
    assert list(returns.columns) == ["SPY", "VTV"]
    failed = returns.attrs["failed"]
    assert failed["MTUM"] == (
        "cannot use /tmp/somewhere/prices-yahoo (Not a directory) "
        "(is the cache folder writable? pass cache=Cache(FOLDER) or set FACTORXRAY_CACHE_DIR)"
    )
    assert failed["QUAL"] == "RuntimeError: something unexpected"


def test_fewer_than_two_months_fails_that_ticker(prices_server) -> None:
    prices_server.closes["NEWFUND"] = fixture_closes("SPY").loc["2026-06-10":]
    returns = fetch_returns(["SPY", "NEWFUND"], base_url=prices_server.url)
    assert list(returns.columns) == ["SPY"]
    assert "fewer than 2 complete months" in returns.attrs["failed"]["NEWFUND"]


def test_invalid_and_duplicate_tickers(prices_server) -> None:
    prices = fetch_prices(["spy", "SPY", "../x"], base_url=prices_server.url)
    assert list(prices.columns) == ["SPY"]
    assert "not a ticker" in prices.attrs["failed"]["../x"]


def test_start_and_end(prices_server) -> None:
    returns = fetch_returns(
        ["SPY", "QGRO"], start="2018-01", end="2020-06", base_url=prices_server.url
    )
    assert str(returns.index[0]) == "2018-01" and str(returns.index[-1]) == "2020-06"
    # January 2018 still uses December 2017's last close.
    assert returns.loc["2018-01", "SPY"] == pytest.approx(
        hand_monthly(fixture_closes("SPY")).loc["2018-01"], abs=1e-15
    )
    assert returns.attrs["sources"]["QGRO"]["first_month"] == "2018-10"
    prices = fetch_prices(["SPY"], start="2020-03-02", end="2020-03", base_url=prices_server.url)
    assert prices.index[0] == pd.Timestamp("2020-03-02") and prices.index[-1] == pd.Timestamp(
        "2020-03-31"
    )


@pytest.mark.parametrize(
    ("start", "end", "match"),
    [
        ("2020-13", None, r"start/--start '2020-13' is not a date"),
        ("soon", None, r"start/--start 'soon' is not a date"),
        ("2020-01", "2020-1x", r"end/--end '2020-1x' is not a date"),
        ("2021-01", "2020-01", r"start/--start 2021-01 is after end/--end 2020-01"),
    ],
)
def test_bad_dates(prices_server, start, end, match) -> None:
    with pytest.raises(UsageError, match=match):
        fetch_returns(["SPY"], start=start, end=end, base_url=prices_server.url)
    assert prices_server.requests == []


def test_window_without_data_fails_that_ticker(prices_server) -> None:
    returns = fetch_returns(["SPY", "QGRO"], end="2017-12", base_url=prices_server.url)
    assert list(returns.columns) == ["SPY"]
    assert "no complete monthly return" in returns.attrs["failed"]["QGRO"]


def test_unknown_source_and_file_options() -> None:
    with pytest.raises(UsageError, match="unknown price source"):
        fetch_returns(["SPY"], source="bloomberg")
    with pytest.raises(UsageError, match="prices file"):
        fetch_returns(["SPY"], source="file")
    with pytest.raises(UsageError, match="file source"):
        fetch_returns(["SPY"], prices_file="x.csv")


def test_missing_key_is_one_usage_error_naming_the_variable(prices_server) -> None:
    with pytest.raises(UsageError, match="FMP_API_KEY"):
        fetch_returns(["SPY", "MTUM"], source="fmp", base_url=prices_server.url)
    assert prices_server.requests == []


@pytest.mark.parametrize(
    ("source", "env", "key"),
    [("fmp", "FMP_API_KEY", FMP_KEY), ("tiingo", "TIINGO_API_KEY", TIINGO_KEY)],
)
def test_keyed_sources_give_the_same_returns_and_hide_the_key(
    prices_server, isolated_cache, monkeypatch, source, env, key
) -> None:
    monkeypatch.setenv(env, key)
    prices_server.broken["USMV"] = Reply(500, b'{"detail": "boom"}')
    returns = fetch_returns(
        ["SPY", "MTUM", "USMV", "NOSUCH"], source=source, base_url=prices_server.url
    )
    for ticker in ("SPY", "MTUM"):
        expected = hand_monthly(fixture_closes(ticker)).loc[:"2026-06"]
        np.testing.assert_allclose(returns[ticker].dropna(), expected, rtol=0, atol=1e-14)
    assert set(returns.attrs["failed"]) == {"USMV", "NOSUCH"}
    assert key not in json.dumps(returns.attrs)
    stored = b"".join(p.read_bytes() for p in Path(isolated_cache).rglob("*") if p.is_file())
    assert stored and key.encode() not in stored


def test_offline_reads_only_the_cache(prices_server, isolated_cache, monkeypatch) -> None:
    fetch_returns(["SPY"], base_url=prices_server.url)
    count = len(prices_server.requests)
    returns = fetch_returns(["SPY", "MTUM"], offline=True, base_url=prices_server.url)
    assert len(prices_server.requests) == count
    assert list(returns.columns) == ["SPY"]
    assert "no cached yahoo prices for MTUM" in returns.attrs["failed"]["MTUM"]
    assert returns.attrs["sources"]["SPY"]["origin"] == "offline"
    # offline never needs a key
    with pytest.raises(AllFailedError, match="MTUM"):
        fetch_returns(["MTUM"], source="fmp", offline=True)


def test_file_source_gives_the_same_numbers(prices_server, tmp_path) -> None:
    wide = all_fixture_closes()[["SPY", "VFMO"]]
    wide.index.name = "date"
    path = tmp_path / "mine.csv"
    wide.to_csv(path)
    from_file = fetch_returns(["SPY", "VFMO"], source="file", prices_file=path)
    from_yahoo = fetch_returns(["SPY", "VFMO"], base_url=prices_server.url)
    pd.testing.assert_frame_equal(from_file, from_yahoo, check_exact=False, rtol=0, atol=1e-14)
    assert from_file.attrs["sources"]["SPY"]["source"] == "file"
    everything = fetch_prices([], source="file", prices_file=path)
    assert list(everything.columns) == ["SPY", "VFMO"]


# ------------------------------------------------------------------ price sanity

#: Real splits of fixture ETFs, from the yfinance histories' "Stock Splits" column in
#: ../shared/data/etf-prices-full/yf_history (the fixture closes are adjusted for them).
REAL_SPLITS = {"IJR": {"2017-01-19": (2, 1), "2005-06-09": (3, 1)}, "RSP": {"2006-04-27": (4, 1)}}


def unadjusted(ticker: str, day: str, new: int, old: int) -> pd.Series:
    """A real history with one split undone: the closes before ``day`` times new/old."""
    closes = fixture_closes(ticker).copy()
    closes[closes.index < pd.Timestamp(day)] *= new / old
    return closes


def test_no_real_fixture_history_trips_a_false_alarm(prices_server) -> None:
    """All 20 real ETF histories (1993-2026, March 2020 included), the real split events
    listed by the provider: no failure, no warning."""
    prices_server.splits.update(REAL_SPLITS)
    returns = fetch_returns(list(TICKERS), max_workers=4, base_url=prices_server.url)
    assert returns.attrs["failed"] == {} and returns.attrs["warnings"] == {}
    assert list(returns.columns) == list(TICKERS)


@pytest.mark.parametrize("source", ["yahoo", "tiingo", "fmp", "file"])
def test_an_unadjusted_real_split_fails_the_fund_on_every_source(
    prices_server, source, monkeypatch, tmp_path
) -> None:
    """IJR's real 2:1 split of 2017-01-19 undone: a -50% day. Yahoo and Tiingo list the
    split; FMP and a plain file do not, so the rule finds it."""
    monkeypatch.setenv("FMP_API_KEY", FMP_KEY)
    monkeypatch.setenv("TIINGO_API_KEY", TIINGO_KEY)
    prices_server.closes["IJR"] = unadjusted("IJR", "2017-01-19", 2, 1)
    prices_server.splits.update(REAL_SPLITS)
    kwargs: dict = {"base_url": prices_server.url}
    if source == "file":
        frame = pd.DataFrame({"IJR": prices_server.closes["IJR"], "SPY": fixture_closes("SPY")})
        frame.index.name = "date"
        frame.to_csv(tmp_path / "prices.csv")
        kwargs = {"prices_file": tmp_path / "prices.csv"}
    returns = fetch_returns(["IJR", "SPY"], source, **kwargs)
    assert list(returns.columns) == ["SPY"]
    reason = returns.attrs["failed"]["IJR"]
    assert reason.startswith("suspect prices: ") and "allow_suspect_prices=True" in reason
    ijr = fixture_closes("IJR")
    fell = f"fell {1 - 0.5 * ijr['2017-01-19'] / ijr['2017-01-18']:.1%}"  # 50.5%: that day -1%
    if source in ("yahoo", "tiingo"):
        provider = {"yahoo": "Yahoo", "tiingo": "Tiingo"}[source]
        assert f"unadjusted 2:1 split on 2017-01-19: the price {fell} where {provider} " in reason
    else:
        assert f"split-like jump on 2017-01-19: the price {fell} (as a 2:1 split" in reason


def test_allowing_suspect_prices_uses_them_with_a_warning(prices_server) -> None:
    prices_server.closes["IJR"] = unadjusted("IJR", "2017-01-19", 2, 1)
    returns = fetch_returns(["IJR", "SPY"], base_url=prices_server.url, allow_suspect_prices=True)
    assert returns.attrs["failed"] == {}
    (line,) = returns.attrs["warnings"]["IJR"]
    assert line.startswith("split-like jump on 2017-01-19") and line.endswith(
        "(used as is: suspect prices allowed)"
    )
    assert returns.loc["2017-01", "IJR"] == pytest.approx(-0.49, abs=0.02)  # the wrong month
    assert "SPY" not in returns.attrs["warnings"]


def test_findings_outside_the_months_kept_do_not_count(prices_server) -> None:
    prices_server.closes["IJR"] = unadjusted("IJR", "2017-01-19", 2, 1)
    later = fetch_returns(["IJR"], start="2017-02", base_url=prices_server.url)
    assert later.attrs["failed"] == {} and later.attrs["warnings"] == {}
    with pytest.raises(AllFailedError, match="2017-01-19"):
        fetch_returns(["IJR"], start="2017-01", base_url=prices_server.url)
    prices = fetch_prices(["IJR"], start="2017-01-20", base_url=prices_server.url)
    assert prices.attrs["warnings"] == {}


def test_a_conflicting_month_end_row_fails_the_fund_and_stays_reported(prices_server) -> None:
    """The issue's case: a repeated 2020-03-31 row at 1.3 times the price flipped March 2020
    from -12.5% to +13.7% without a word."""
    spy = fixture_closes("SPY")
    prices_server.extra_rows["SPY"] = [("2020-03-31", 1.3 * spy["2020-03-31"])]
    returns = fetch_returns(["SPY", "MTUM"], base_url=prices_server.url)
    reason = returns.attrs["failed"]["SPY"]
    assert "2 different prices on 2020-03-31" in reason and "(30.0% apart)" in reason
    # Read back from the cache (no request): the finding is kept with the entry.
    before = len(prices_server.requests)
    again = fetch_returns(["SPY"], base_url=prices_server.url, allow_suspect_prices=True)
    assert len(prices_server.requests) == before
    assert again.loc["2020-03", "SPY"] == pytest.approx(
        1.3 * (1 + hand_monthly(spy)["2020-03"]) - 1
    )
    assert again.attrs["warnings"]["SPY"] == [
        f"2 different prices on 2020-03-31: {spy['2020-03-31']:.6g} and "
        f"{1.3 * spy['2020-03-31']:.6g} (30.0% apart) (the last one used: suspect prices allowed)"
    ]


def test_an_identical_repeated_row_is_harmless(prices_server) -> None:
    spy = fixture_closes("SPY")
    prices_server.extra_rows["SPY"] = [("2020-03-31", spy["2020-03-31"])]
    returns = fetch_returns(["SPY"], base_url=prices_server.url)
    assert returns.attrs["warnings"] == {}
    assert returns.loc["2020-03", "SPY"] == pytest.approx(hand_monthly(spy)["2020-03"], abs=1e-15)


def test_zero_and_negative_prices_fail_the_fund(prices_server) -> None:
    closes = fixture_closes("VTV").copy()
    closes["2015-06-10"] = 0.0
    closes["2015-06-11"] = -3.0
    prices_server.closes["VTV"] = closes
    with pytest.raises(AllFailedError, match=r"non-positive price 0 on 2015-06-10 \(and 1 more"):
        fetch_returns(["VTV"], base_url=prices_server.url)
    allowed = fetch_returns(["VTV"], base_url=prices_server.url, allow_suspect_prices=True)
    assert allowed.attrs["warnings"]["VTV"] == [
        "non-positive price 0 on 2015-06-10 (that row left out: suspect prices allowed)",
        "non-positive price -3 on 2015-06-11 (that row left out: suspect prices allowed)",
    ]


def test_spikes_and_stale_runs_are_warnings(prices_server) -> None:
    vtv = fixture_closes("VTV").copy()
    vtv["2015-06-10"] *= 1.6  # one bad quote
    rsp = fixture_closes("RSP").copy()
    frozen = (rsp.index >= "2014-03-03") & (rsp.index <= "2014-04-30")
    rsp[frozen] = rsp["2014-03-03"]  # a frozen feed for two months
    prices_server.closes.update(VTV=vtv, RSP=rsp)
    returns = fetch_returns(["VTV", "RSP"], base_url=prices_server.url)
    assert returns.attrs["failed"] == {}
    rose = vtv["2015-06-10"] / vtv["2015-06-09"] - 1  # 1.6 times that day's own +1.2%
    assert returns.attrs["warnings"]["VTV"] == [
        f"one-day spike on 2015-06-10: the price rose {rose:.1%} and came back by 2015-06-11 "
        "(a bad quote?)"
    ]
    (stale,) = returns.attrs["warnings"]["RSP"]
    assert (
        stale.startswith("stale prices: unchanged at ")
        and f"for {frozen.sum()} trading days" in stale
    )
    assert "from 2014-03-03 to 2014-04-30" in stale


def test_a_jump_the_market_shares_is_not_a_split(prices_server) -> None:
    """Five funds halving on one day together: the market moved; alone, it is a split."""
    day = pd.Timestamp("2019-06-03")
    five = ["SPY", "VTV", "VBR", "RSP", "MTUM"]
    for ticker in five:
        closes = fixture_closes(ticker).copy()
        closes[closes.index >= day] *= 0.5
        prices_server.closes[ticker] = closes
    together = fetch_returns(five, base_url=prices_server.url)
    assert together.attrs["failed"] == {} and together.attrs["warnings"] == {}
    alone = fetch_returns(["VTV", "QUAL"], base_url=prices_server.url, refresh=True)
    assert "split-like jump on 2019-06-03" in alone.attrs["failed"]["VTV"]


def test_failures_are_listed_in_the_order_asked_not_of_completion(prices_server) -> None:
    """The first unknown ticker answers last (slow server): it is still listed first."""
    prices_server.faults["NOSUCH1"] = [Reply(404, b"{}", sleep=0.5)]
    with pytest.raises(AllFailedError) as info:
        fetch_returns(["bad/one", "NOSUCH1", "NOSUCH2", "NOSUCH3"], base_url=prices_server.url)
    assert list(info.value.failures) == ["bad/one", "NOSUCH1", "NOSUCH2", "NOSUCH3"]
    returns = fetch_returns(["NOSUCH1", "SPY", "NOSUCH2"], base_url=prices_server.url)
    assert list(returns.attrs["failed"]) == ["NOSUCH1", "NOSUCH2"]
