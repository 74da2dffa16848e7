"""Price providers, the file reader and the cached store, against a real loopback server."""

from __future__ import annotations

import gzip
import io
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from factorxray.data.cache import Cache
from factorxray.data.http import HttpClient
from factorxray.data.prices import FilePrices, get_provider, parse_prices_file
from factorxray.data.prices.base import check_ticker, clean_closes
from factorxray.data.prices.file import ticker_from_filename
from factorxray.data.prices.store import (
    OVERLAP_DAYS,
    PriceStore,
    closes_from_bytes,
    closes_to_bytes,
    settled,
)
from factorxray.errors import (
    DataSourceError,
    NotCachedError,
    ParseError,
    UnknownTickerError,
    UsageError,
)
from tests._prices_server import (
    FMP_KEY,
    PRICES_DIR,
    TIINGO_KEY,
    PriceServer,
    fixture_closes,
    period1_days,
)
from tests._server import Reply

FORMATS = PRICES_DIR / "formats"


@pytest.fixture(scope="module")
def shared_server():
    with PriceServer() as server:
        yield server


@pytest.fixture
def prices_server(shared_server):
    return shared_server.reset()


@pytest.fixture
def cache(isolated_cache: Path) -> Cache:
    return Cache(isolated_cache)


def _store(server: PriceServer, cache: Cache, source: str = "yahoo", **kwargs) -> PriceStore:
    keys = {"fmp": FMP_KEY, "tiingo": TIINGO_KEY}
    provider = get_provider(
        source, base_url=server.url, api_key=kwargs.pop("api_key", keys.get(source))
    )
    client = HttpClient(secrets=provider.secrets, **kwargs)
    return PriceStore(provider, client, cache)


def _cache_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


# ------------------------------------------------------------------ providers, formats


@pytest.mark.parametrize("source", ["yahoo", "fmp", "tiingo"])
def test_each_provider_returns_the_exact_fixture_closes(prices_server, cache, source) -> None:
    history = _store(prices_server, cache, source).history("MTUM")
    expected = fixture_closes("MTUM")
    assert history.source == source and history.origin == "download"
    pd.testing.assert_index_equal(history.closes.index, expected.index, check_names=False)
    np.testing.assert_array_equal(history.closes.to_numpy(), expected.to_numpy())


def test_yahoo_request_has_the_documented_shape(prices_server, cache) -> None:
    _store(prices_server, cache).history("SPY")
    (request,) = prices_server.requests
    assert request.path == "/v8/finance/chart/SPY"
    assert request.query["interval"] == "1d"
    assert request.query["events"] == "div,split"
    assert request.query["includeAdjustedClose"] == "true"
    assert int(request.query["period1"]) <= 0 < int(request.query["period2"])


def test_base_url_from_environment(prices_server, cache, monkeypatch) -> None:
    monkeypatch.setenv("FACTORXRAY_YAHOO_URL", prices_server.url + "/")
    provider = get_provider("yahoo")
    assert provider.base_url == prices_server.url
    with pytest.raises(UsageError, match="http"):
        get_provider("yahoo", base_url="ftp://x")


def test_yahoo_unknown_ticker_reports_chart_error(prices_server, cache) -> None:
    with pytest.raises(UnknownTickerError, match="No data found, symbol may be delisted"):
        _store(prices_server, cache).history("NOSUCH")


def test_fmp_unknown_ticker_is_an_empty_list(prices_server, cache) -> None:
    with pytest.raises(UnknownTickerError, match="no prices"):
        _store(prices_server, cache, "fmp").history("NOSUCH")


def test_tiingo_unknown_ticker_reports_detail(prices_server, cache) -> None:
    with pytest.raises(UnknownTickerError, match="Ticker 'nosuch' not found"):
        _store(prices_server, cache, "tiingo").history("NOSUCH")


@pytest.mark.parametrize(("source", "env"), [("fmp", "FMP_API_KEY"), ("tiingo", "TIINGO_API_KEY")])
def test_missing_key_names_the_variable(source, env) -> None:
    with pytest.raises(UsageError, match=env):
        get_provider(source)


@pytest.mark.parametrize(("source", "env"), [("fmp", "FMP_API_KEY"), ("tiingo", "TIINGO_API_KEY")])
def test_bad_key_is_401_without_the_key(prices_server, cache, isolated_cache, source, env) -> None:
    wrong = "WRONG-key-0123456789"
    with pytest.raises(DataSourceError, match="401") as info:
        _store(prices_server, cache, source, api_key=wrong).history("SPY")
    message = str(info.value)
    assert env in message and wrong not in message
    assert wrong.encode() not in _cache_bytes(isolated_cache)


@pytest.mark.parametrize("source", ["fmp", "tiingo"])
def test_keys_never_reach_the_cache(prices_server, cache, isolated_cache, source) -> None:
    _store(prices_server, cache, source).history("QUAL")
    stored = _cache_bytes(isolated_cache)
    entry = cache.get(f"prices-{source}", "QUAL")
    # The entry is QUAL's whole history, exactly, and its bytes are what is on disk.
    assert entry.data == closes_to_bytes(fixture_closes("QUAL"))
    assert entry.data in stored and entry.meta["ticker"] == "QUAL"
    assert entry.meta["rows"] == len(fixture_closes("QUAL"))
    assert FMP_KEY.encode() not in stored and TIINGO_KEY.encode() not in stored
    meta = entry.meta
    assert "***" in meta["url"] or source == "tiingo"


def test_403_is_reported(prices_server, cache) -> None:
    prices_server.broken["SPY"] = Reply(403, b'{"Error Message": "Exclusive Endpoint"}')
    with pytest.raises(DataSourceError, match=r"403.*Exclusive Endpoint.*FMP_API_KEY"):
        _store(prices_server, cache, "fmp").history("SPY")


def test_429_waits_for_retry_after_then_succeeds(prices_server, cache) -> None:
    prices_server.faults["SPY"] = [Reply(429, b"slow down", {"Retry-After": "1"})]
    started = datetime.now()
    history = _store(prices_server, cache).history("SPY")
    waited = (datetime.now() - started).total_seconds()
    assert len(history.closes) == len(fixture_closes("SPY"))
    assert len(prices_server.requests) == 2 and waited >= 0.95


def test_5xx_after_retries_fails(prices_server, cache) -> None:
    prices_server.broken["SPY"] = Reply(500, b"oops")
    with pytest.raises(DataSourceError, match="HTTP 500"):
        _store(prices_server, cache, retries=1).history("SPY")
    assert len(prices_server.requests) == 2


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b'{"chart": {"result": [', "malformed JSON"),
        (b"<html>rate limited</html>", "malformed JSON"),
        (b'{"chart": {"result": [{"timestamp": [1, 2], "indicators": {}}]}}', "adjclose"),
        (
            b'{"chart": {"result": [{"timestamp": [1], "indicators": {"adjclose": [{"adjclose": ["x"]}]}}]}}',
            "unexpected|adjclose|no prices",
        ),
        (b'{"foo": 1}', "no 'chart'"),
    ],
)
def test_malformed_yahoo_answers_fail_clearly(prices_server, cache, body, match) -> None:
    prices_server.faults["SPY"] = [Reply(200, body)]
    with pytest.raises(DataSourceError, match=match):
        _store(prices_server, cache).history("SPY")
    assert cache.get("prices-yahoo", "SPY") is None


def test_slow_server_times_out(prices_server, cache) -> None:
    prices_server.faults["SPY"] = [Reply(200, b"{}", sleep=1.0)]
    with pytest.raises(DataSourceError, match="timed out"):
        _store(prices_server, cache, timeout=0.2, retries=0).history("SPY")


def test_empty_history_is_a_clear_failure(prices_server, cache) -> None:
    prices_server.closes["EMPTY"] = fixture_closes("SPY").iloc[:0]
    with pytest.raises(UnknownTickerError, match="no prices"):
        _store(prices_server, cache).history("EMPTY")


@pytest.mark.parametrize("bad", ["", "../etc", "SP Y", "A/B", "X" * 30])
def test_check_ticker_refuses_non_symbols(bad) -> None:
    with pytest.raises(UsageError, match="not a ticker"):
        check_ticker(bad)


def test_check_ticker_accepts_provider_punctuation() -> None:
    assert [check_ticker(t) for t in ("brk-b", "BRK.B", "^gspc", "EURUSD=X")] == [
        "BRK-B",
        "BRK.B",
        "^GSPC",
        "EURUSD=X",
    ]


def test_clean_closes_sorts_dedupes_and_refuses_non_positive() -> None:
    series = clean_closes(
        ["2024-01-03", "2024-01-02", "2024-01-03", "2024-01-04"], [2, 1, 2, None], what="t"
    )
    assert series.tolist() == [1.0, 2.0]  # an identical repeat is dropped silently
    with pytest.raises(ParseError, match=r"non-positive.*2024-01-02"):
        clean_closes(["2024-01-02"], [0.0], what="t")
    with pytest.raises(ParseError, match=r"non-finite price inf on 2024-01-02"):
        clean_closes(["2024-01-02"], [float("inf")], what="t")
    with pytest.raises(ParseError, match="unreadable dates"):
        clean_closes(["02/01/2024"], [1.0], what="t")


# ------------------------------------------------------------------ cache and tail updates


def test_second_call_is_served_from_the_cache(prices_server, cache) -> None:
    store = _store(prices_server, cache)
    first = store.history("VTV")
    second = store.history("VTV")
    assert second.origin == "cache" and len(prices_server.requests) == 1
    pd.testing.assert_series_equal(first.closes, second.closes)


def test_cached_bytes_round_trip_exactly() -> None:
    closes = fixture_closes("USMV")
    back = closes_from_bytes(closes_to_bytes(closes), "t")
    np.testing.assert_array_equal(back.to_numpy(), closes.to_numpy())
    assert back.index.equals(closes.index)


def _legacy_csv_bytes(closes: pd.Series) -> bytes:
    """The cached form written before the binary one: CSV ``date,adj_close``, repr floats."""
    days = closes.index.strftime("%Y-%m-%d")
    lines = [f"{day},{value!r}" for day, value in zip(days, closes.tolist(), strict=True)]
    return ("date,adj_close\n" + "\n".join(lines) + "\n").encode()


def test_cached_bytes_are_a_numpy_array_read_without_pickle() -> None:
    closes = fixture_closes("SPY")
    data = closes_to_bytes(closes)
    records = np.load(io.BytesIO(data), allow_pickle=False)
    assert records.dtype.names == ("date", "adj_close") and len(records) == len(closes) == 8420
    assert str(records["date"][0]) == "1993-01-29"
    np.testing.assert_array_equal(records["adj_close"], closes.to_numpy())
    # smaller than the CSV of earlier versions, and read back to the same series
    assert len(data) < 0.6 * len(_legacy_csv_bytes(closes))
    pd.testing.assert_series_equal(
        closes_from_bytes(data, "t"), closes_from_bytes(_legacy_csv_bytes(closes), "t")
    )


def test_entries_cached_as_csv_by_earlier_versions_are_still_served(prices_server, cache) -> None:
    closes = fixture_closes("MTUM")
    first = _store(prices_server, cache).history("MTUM")
    entry = cache.get("prices-yahoo", "MTUM")
    cache.put("prices-yahoo", "MTUM", _legacy_csv_bytes(closes), dict(entry.meta))
    before = len(prices_server.requests)
    again = _store(prices_server, cache).history("MTUM")
    assert again.origin == "cache" and len(prices_server.requests) == before
    pd.testing.assert_series_equal(again.closes, first.closes)


@pytest.mark.parametrize(
    "damage",
    ["truncated", "object dtype", "unsorted", "negative close", "plain floats"],
)
def test_a_damaged_binary_entry_is_refused_and_downloaded_again(
    prices_server, cache, damage: str
) -> None:
    closes = fixture_closes("HDV")
    _store(prices_server, cache).history("HDV")
    good = cache.get("prices-yahoo", "HDV")
    records = np.load(io.BytesIO(good.data), allow_pickle=False)
    buffer = io.BytesIO()
    if damage == "truncated":
        buffer.write(good.data[: len(good.data) // 2])
    elif damage == "object dtype":
        np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    elif damage == "unsorted":
        np.save(buffer, records[::-1])
    elif damage == "negative close":
        records = records.copy()
        records["adj_close"][5] = -1.0
        np.save(buffer, records)
    else:
        np.save(buffer, records["adj_close"])
    with pytest.raises(ParseError, match="cached HDV: unreadable cached prices") as info:
        closes_from_bytes(buffer.getvalue(), "cached HDV")
    assert "\n" not in str(info.value)
    cache.put("prices-yahoo", "HDV", buffer.getvalue(), dict(good.meta))
    before = len(prices_server.requests)
    history = _store(prices_server, cache).history("HDV")
    assert history.origin == "download" and len(prices_server.requests) == before + 1
    np.testing.assert_array_equal(history.closes.to_numpy(), closes.to_numpy())
    assert cache.get("prices-yahoo", "HDV").data == good.data


def test_offline_uses_the_cache_or_names_the_ticker(prices_server, cache) -> None:
    _store(prices_server, cache).history("HDV")
    before = len(prices_server.requests)
    history = _store(prices_server, cache).history("HDV", offline=True)
    assert history.origin == "offline" and len(prices_server.requests) == before
    with pytest.raises(NotCachedError, match="SPLV"):
        _store(prices_server, cache).history("SPLV", offline=True)


def test_refresh_fetches_only_the_tail(prices_server, cache) -> None:
    prices_server.last_day = pd.Timestamp("2026-06-30")
    store = _store(prices_server, cache)
    store.history("SPY")
    prices_server.last_day = None
    updated = store.history("SPY", refresh=True)
    tail_request = prices_server.requests[-1]
    assert len(prices_server.requests) == 2
    assert period1_days(tail_request) == pd.Timestamp("2026-06-30") - pd.Timedelta(
        days=OVERLAP_DAYS
    )
    assert updated.origin == "tail"
    np.testing.assert_array_equal(updated.closes.to_numpy(), fixture_closes("SPY").to_numpy())
    cached = closes_from_bytes(cache.get("prices-yahoo", "SPY").data, "t")
    assert cached.index[-1] == pd.Timestamp("2026-07-14")


def test_stale_cache_triggers_a_tail_update(prices_server, isolated_cache) -> None:
    prices_server.last_day = pd.Timestamp("2026-05-15")
    _store(prices_server, Cache(isolated_cache)).history("QUAL")
    prices_server.last_day = None
    updated = _store(prices_server, Cache(isolated_cache, ttl_seconds=0)).history("QUAL")
    assert updated.origin == "tail"
    assert period1_days(prices_server.requests[-1]) == pd.Timestamp("2026-05-08")


def test_rescaled_history_is_downloaded_again(prices_server, cache) -> None:
    prices_server.last_day = pd.Timestamp("2026-06-30")
    store = _store(prices_server, cache)
    store.history("SPY")
    prices_server.last_day = None
    prices_server.scale = 0.995  # a new dividend rescales every earlier adjusted close
    updated = store.history("SPY", refresh=True)
    assert [int(r.query["period1"]) <= 0 for r in prices_server.requests] == [True, False, True]
    assert updated.origin == "download"
    np.testing.assert_allclose(
        updated.closes.to_numpy(), fixture_closes("SPY").to_numpy() * 0.995, rtol=1e-15
    )


def _cache_spy_to_june(server: PriceServer, store: PriceStore) -> bytes:
    server.last_day = pd.Timestamp("2026-06-30")
    store.history("SPY")
    server.last_day = None
    return store.cache.get("prices-yahoo", "SPY").data


@pytest.mark.parametrize(
    ("answer", "match"),
    [
        # One row: the full answer starts years after the cached history.
        (lambda closes: closes.iloc[-1:], r"starts 2026-07-14, \d+ days after the cached"),
        # Garbage starting a year later.
        (lambda closes: closes.loc["1994-02-01":], r"starts 1994-02-01, 368 days after"),
        # Same start, but only every other day: far fewer rows over the cached span.
        (lambda closes: closes.iloc[::2], r"has 42\d\d rows from 1993-01-29 to 2026-06-30"),
    ],
    ids=["one-row", "a-year-later", "every-other-day"],
)
def test_a_bad_full_download_does_not_replace_the_cache(
    prices_server, cache, answer, match
) -> None:
    store = _store(prices_server, cache)
    before = _cache_spy_to_june(prices_server, store)
    # Rescaled (so the tail disagrees and a full download follows) and truncated or holed.
    prices_server.closes["SPY"] = answer(fixture_closes("SPY") * 0.995)
    with pytest.raises(DataSourceError, match=match) as info:
        store.history("SPY", refresh=True)
    message = str(info.value)
    assert "\n" not in message
    assert "factorxray cache clear prices-yahoo" in message and "is kept" in message
    assert [int(r.query["period1"]) <= 0 for r in prices_server.requests] == [True, False, True]
    assert cache.get("prices-yahoo", "SPY").data == before
    kept = store.history("SPY", offline=True)
    assert kept.closes.index[0] == pd.Timestamp("1993-01-29")
    assert kept.closes.index[-1] == pd.Timestamp("2026-06-30")


def test_a_full_download_close_to_the_cached_history_replaces_it(prices_server, cache) -> None:
    """A few days less at the start (within 31 days, above 90% of rows) is accepted."""
    store = _store(prices_server, cache)
    _cache_spy_to_june(prices_server, store)
    prices_server.closes["SPY"] = fixture_closes("SPY").loc["1993-02-20":] * 0.995
    updated = store.history("SPY", refresh=True)
    assert updated.origin == "download" and updated.closes.index[0] == pd.Timestamp("1993-02-22")
    stored = closes_from_bytes(cache.get("prices-yahoo", "SPY").data, "t")
    assert stored.index[0] == pd.Timestamp("1993-02-22")


def test_failed_update_keeps_the_cached_copy(prices_server, cache) -> None:
    store = _store(prices_server, cache, retries=0)
    store.history("RSP")
    prices_server.broken["RSP"] = Reply(500, b"down")
    with pytest.raises(DataSourceError, match=r"cached copy .* is kept"):
        store.history("RSP", refresh=True)
    assert cache.get("prices-yahoo", "RSP") is not None
    assert store.history("RSP", offline=True).origin == "offline"


def test_unsettled_today_is_not_kept() -> None:
    days = pd.to_datetime(["2026-07-13", "2026-07-14"])
    closes = pd.Series([1.0, 2.0], index=days)
    new_york = ZoneInfo("America/New_York")
    assert settled(closes, datetime(2026, 7, 14, 12, 0, tzinfo=new_york)).tolist() == [1.0]
    assert settled(closes, datetime(2026, 7, 14, 17, 0, tzinfo=new_york)).tolist() == [1.0, 2.0]


# ------------------------------------------------------------------ the file source


def test_wide_long_and_parquet_files_read_the_same(tmp_path) -> None:
    wide = pd.DataFrame({"SPY": fixture_closes("SPY"), "MTUM": fixture_closes("MTUM")})
    wide.index.name = "date"
    wide_path = tmp_path / "wide.csv"
    wide.to_csv(wide_path)
    long = wide.stack().rename("adj_close").reset_index().rename(columns={"level_1": "ticker"})
    long_path = tmp_path / "long.csv.gz"
    long_path.write_bytes(gzip.compress(long.to_csv(index=False).encode()))
    parquet_path = tmp_path / "prices.parquet"
    wide.to_parquet(parquet_path)
    for path in (wide_path, long_path, parquet_path):
        parsed = parse_prices_file(path.read_bytes(), path.name)
        for ticker in ("SPY", "MTUM"):
            np.testing.assert_array_equal(
                parsed[ticker].to_numpy(), fixture_closes(ticker).to_numpy()
            )
            assert parsed[ticker].index.equals(fixture_closes(ticker).index)


@pytest.mark.parametrize(
    ("path", "ticker", "first", "checked"),
    [
        ("yahoo_csv/USMC.csv", "USMC", "2017-10-12", True),
        ("yf_history/QGRO.csv.gz", "QGRO", "2018-09-12", True),
        ("raw_adj_div/QGRO.csv.gz", "QGRO", "2018-09-12", True),
        ("alpha_vantage/RPV.csv.gz", "RPV", "2006-03-07", False),
        ("eodhd/SPLV_US.csv.gz", "SPLV", "2011-05-05", False),
        ("yf_download/QUAL.csv.gz", "QUAL", "2020-01-02", True),
        ("adj_close_only/VBR.csv.gz", "VBR", "2010-04-05", True),
    ],
)
def test_real_provider_layouts(path, ticker, first, checked) -> None:
    file = FORMATS / path
    parsed = parse_prices_file(file.read_bytes(), file.name)
    assert list(parsed) == [ticker]
    closes = parsed[ticker]
    assert f"{closes.index[0]:%Y-%m-%d}" == first and closes.index.is_monotonic_increasing
    if checked:  # the shared data folder verified these against the reference series
        reference = fixture_closes(ticker).pct_change()
        daily = closes.pct_change()
        common = daily.index.intersection(reference.index)[1:-1]
        assert float((daily[common] - reference[common]).abs().max()) < 3e-6


def test_folder_of_single_ticker_files(tmp_path) -> None:
    for name in ("SPY.csv", "MTUM.csv"):
        closes = fixture_closes(name[:-4])
        (tmp_path / name).write_text(
            "Date,Close\n" + "".join(f"{d:%Y-%m-%d},{v!r}\n" for d, v in closes.items())
        )
    prices = FilePrices(tmp_path)
    assert prices.tickers() == ["MTUM", "SPY"]
    np.testing.assert_array_equal(prices.load("SPY").to_numpy(), fixture_closes("SPY").to_numpy())
    with pytest.raises(UnknownTickerError, match="NOSUCH"):
        prices.load("NOSUCH")


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "empty"),
        (b"when,SPY\n2024-01-02,1\n", "no date column"),
        (b"date,SPY\n2024-01-02,1\n2024-01-02,2\n", "repeated row"),
        (b"date,SPY\n2024-01-02,-1\n", "non-positive"),
        (b"date,SPY\n01/02/2024,1\n", "unreadable dates"),
        (b'date,SPY\n2024-01-02,"1\n', "malformed CSV"),
        (b"Date,Open,High,Low,Close,Volume\n2024-01-02,1,1,1,1,5\n", "no adjusted close"),
        (b"\x1f\x8b\x08garbage", "corrupt gzip"),
        (b"PAR1garbage", "Parquet"),
    ],
)
def test_bad_files_fail_clearly(content, match) -> None:
    with pytest.raises(ParseError, match=match):
        parse_prices_file(content, "mine.csv")


def test_missing_file_and_missing_ticker(tmp_path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        FilePrices(tmp_path / "nope.csv")
    path = tmp_path / "mine.csv"
    path.write_text("date,SPY\n2024-01-02,1\n")
    with pytest.raises(UnknownTickerError, match=r"not in mine.csv \(it holds SPY"):
        FilePrices(path).load("QQQ")


def test_ticker_from_filename() -> None:
    assert ticker_from_filename("x/spy.csv") == "SPY"
    assert ticker_from_filename("VTV_US.csv.gz") == "VTV"
    assert ticker_from_filename("BRK.B.parquet") == "BRK.B"


def test_gzip_bytes_of_fixture_are_the_shared_bytes() -> None:
    text = gzip.decompress((PRICES_DIR / "etf-prices" / "SPY.csv.gz").read_bytes())
    assert text.startswith(b"Date,Close\n1993-01-29,")
    assert pd.read_csv(io.BytesIO(text)).shape == (8420, 2)


# ------------------------------------------------------------------ injective cache keys


def test_caret_ticker_and_plain_ticker_never_share_prices(prices_server, cache) -> None:
    """The issue's case: ^GSPC was read from GSPC's entry, with no request made."""
    prices_server.closes["GSPC"] = fixture_closes("SPY")
    prices_server.closes["^GSPC"] = fixture_closes("VTV")
    store = _store(prices_server, cache)
    plain = store.history("GSPC")
    index = store.history("^GSPC")
    assert index.origin == "download" and len(prices_server.requests) == 2
    assert prices_server.requests[1].path == "/v8/finance/chart/^GSPC"
    np.testing.assert_array_equal(index.closes.to_numpy(), fixture_closes("VTV").to_numpy())
    np.testing.assert_array_equal(plain.closes.to_numpy(), fixture_closes("SPY").to_numpy())
    assert store.history("GSPC", offline=True).closes.equals(plain.closes)
    assert store.history("^GSPC", offline=True).closes.equals(index.closes)


@pytest.mark.parametrize("bad", ["MTUM.", "-SPY", "SP^Y", "A_B", "A/B", "^", "SP Y", "X" * 21])
def test_tickers_no_provider_uses_are_refused_with_one_message(bad) -> None:
    with pytest.raises(UsageError, match=r"is not a ticker: a ticker is 1 to 20 letters"):
        check_ticker(bad)


# ------------------------------------------------------------------ what parsing finds


def test_split_events_are_read_from_yahoo_and_tiingo(prices_server, cache) -> None:
    prices_server.splits["IJR"] = {"2017-01-19": (2, 1), "2005-06-09": (3, 1)}
    expected = {"2005-06-09": 3.0, "2017-01-19": 2.0}
    assert _store(prices_server, cache).history("IJR").splits == expected
    assert _store(prices_server, cache, "tiingo").history("IJR").splits == expected
    assert _store(prices_server, cache, "fmp").history("IJR").splits == {}
    # Kept with the cached entry, so a later read from the cache still knows them.
    assert _store(prices_server, cache).history("IJR", offline=True).splits == expected


@pytest.mark.parametrize("source", ["yahoo", "fmp", "tiingo"])
def test_a_repeated_date_with_another_price_is_recorded_by_every_provider(
    prices_server, cache, source
) -> None:
    spy = fixture_closes("SPY")
    prices_server.extra_rows["SPY"] = [("2020-03-31", 1.3 * spy["2020-03-31"])]
    history = _store(prices_server, cache, source).history("SPY")
    (issue,) = history.issues
    assert (issue.kind, issue.day, issue.severe) == ("conflict", "2020-03-31", True)
    assert "(30.0% apart)" in issue.message
    assert history.closes.index.is_unique
    assert _store(prices_server, cache, source).history("SPY", offline=True).issues == (issue,)


def test_live_row_repeat_on_the_last_day_is_not_a_conflict() -> None:
    """Providers repeat the current day with a live price: within 2% there, the last wins."""
    series = clean_closes(
        ["2024-01-02", "2024-01-03", "2024-01-03"], [1.0, 1.10, 1.11], what="t", strict=False
    )
    assert series.tolist() == [1.0, 1.11] and series.attrs["price_issues"] == []
    with pytest.raises(ParseError, match=r"2 different prices on 2024-01-02: 1 and 1.01"):
        clean_closes(["2024-01-02", "2024-01-02", "2024-01-03"], [1.0, 1.01, 1.0], what="t")


def test_a_yfinance_history_file_with_an_unadjusted_split(tmp_path) -> None:
    """yfinance's Stock Splits column is the file's split event list."""
    closes = fixture_closes("IJR").copy()
    closes[closes.index < "2017-01-19"] *= 2
    splits = pd.Series(0.0, index=closes.index)
    splits["2017-01-19"] = 2.0
    frame = pd.DataFrame(
        {"Close": closes, "Volume": 1000, "Dividends": 0.0, "Stock Splits": splits}
    )
    frame.index = frame.index.strftime("%Y-%m-%d 00:00:00-05:00")
    frame.index.name = "Date"
    path = tmp_path / "IJR.csv"
    frame.to_csv(path)
    loaded = FilePrices(path).load("IJR")
    assert loaded.attrs["splits"] == {"2017-01-19": 2.0}
    from factorxray.data.prices.sanity import check_prices

    (issue,) = check_prices(loaded, splits=loaded.attrs["splits"], provider="the file")
    assert issue.message.startswith("unadjusted 2:1 split on 2017-01-19: the price fell")


def test_the_market_move_is_the_median_of_the_other_funds_own_moves() -> None:
    """On the 20 fixture histories (different first days): the market of a day is the median
    daily log move of the other funds, each from its own previous close."""
    from factorxray.data.prices.sanity import market_moves
    from tests._prices_server import TICKERS

    daily = {ticker: fixture_closes(ticker) for ticker in TICKERS}
    market_of = market_moves(daily)
    crash = pd.Timestamp("2020-03-16")
    spy = market_of("SPY")(crash)
    others = [np.log(daily[t]).diff().get(crash) for t in TICKERS if t != "SPY"]
    assert spy == pytest.approx(float(np.median([m for m in others if pd.notna(m)])), abs=1e-15)
    assert -0.16 < spy < -0.10  # the day the US market fell by 12%
    # a day before every fund but SPY existed has fewer than MIN_PEERS others: no market
    assert market_of("SPY")(pd.Timestamp("1993-02-01")) is None
    assert market_of("SPY")(pd.Timestamp("2020-03-15")) is None  # a Sunday: no row
    assert market_moves({"SPY": daily["SPY"]})("SPY") is None


def test_no_real_history_in_the_repository_trips_a_check() -> None:
    """Every real daily history (the 20 fixture ETFs, each provider layout in formats/) and
    every month-end series of the bundled snapshot (33 ETFs, US and international): the
    checks find nothing."""
    from factorxray import snapshot
    from factorxray.data.prices.sanity import check_prices, market_moves
    from tests._prices_server import TICKERS

    daily = {ticker: fixture_closes(ticker) for ticker in TICKERS}
    market_of = market_moves(daily)
    for ticker, closes in daily.items():
        assert check_prices(closes, market=market_of(ticker)) == [], ticker
        assert check_prices(closes) == [], ticker
    for path in sorted(FORMATS.rglob("*.csv*")):
        for ticker, closes in parse_prices_file(path.read_bytes(), path.name, strict=False).items():
            found = list(closes.attrs["price_issues"])
            found += check_prices(closes, splits=closes.attrs.get("splits"))
            assert found == [], (path.name, ticker)
    month_ends = snapshot.month_end_prices(snapshot.tickers())
    for ticker in month_ends.columns:
        assert check_prices(month_ends[ticker].dropna()) == [], ticker


def test_lenient_file_parsing_records_instead_of_refusing() -> None:
    content = b"date,SPY\n2024-01-02,1\n2024-01-02,2\n2024-01-03,2\n2024-01-03,2\n2024-01-04,-1\n"
    with pytest.raises(ParseError, match="repeated row"):
        parse_prices_file(content, "mine.csv")
    lenient = parse_prices_file(content, "mine.csv", strict=False)["SPY"]
    assert lenient.tolist() == [2.0, 2.0]
    assert [i.kind for i in lenient.attrs["price_issues"]] == ["conflict", "non-positive"]


def test_damaged_parquet_and_cached_csv_errors_are_one_line(tmp_path) -> None:
    """Found by fuzzing: pyarrow's and pandas' messages span lines; ours must not."""
    frame = pd.DataFrame({"SPY": fixture_closes("SPY").iloc[:20]})
    frame.index.name = "date"
    frame.to_parquet(tmp_path / "p.parquet")
    real = (tmp_path / "p.parquet").read_bytes()
    damaged = real[:-40] + b"\xff" * 32 + real[-8:]
    with pytest.raises(ParseError, match=r"p\.parquet: not a valid Parquet file") as info:
        parse_prices_file(damaged, "p.parquet")
    assert "\n" not in str(info.value) and len(str(info.value)) < 300
    with pytest.raises(ParseError, match="unreadable cached prices") as info:
        closes_from_bytes(b"date,adj_close\n2024-01-02,1.5\n,2024-01-03,1.25\n", "cached SPY")
    assert "\n" not in str(info.value)
