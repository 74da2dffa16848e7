"""The report speaks the run's frequency: weeks and 52 in a weekly report, days and 252 in a
daily one, months and 12 (as always) in a monthly one.

The analyses are real: the real weekly (202101) and daily (202408) Ken French US 3-factor
files and the monthly files of tests/data, served by a loopback server, and the real adjusted
closes of tests/data/prices served like Yahoo (as tests/test_frequency.py). The weekly report is
read as displayed, in headless Chromium; every expected word and number is computed from the
run (its ``meta``, its results, the frequency rules of :mod:`factorxray.factors.frequency`),
never copied from the output.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import factorxray as fx
from factorxray.analysis import Analysis
from factorxray.factors.frequency import DEFAULT_ROLLING_WINDOWS, PERIOD_NAMES, min_periods
from factorxray.report import static_png, write_report
from tests._kenfrench_server import zip_routes
from tests._prices_server import PriceServer
from tests._server import LoopbackServer
from tests.test_report_browser import CHROMIUM, Visit

FREQ_DIR = Path(__file__).parent / "data" / "kenfrench-frequencies"
FUNDS = ["SPY", "VTV", "USMV", "MTUM"]
#: Words that name a month or annualize by 12: none may be left in a weekly or daily report.
MONTHLY_LEFTOVERS = re.compile(
    r"\bmonthly\b|\d+-month\b|\bN months\b|a month\b|× ?12\b|\b12 ?x\b|\bx ?12\b|\^12\b|√12"
)


@pytest.fixture(scope="module")
def analyses(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Analysis]]:
    """Weekly, daily and monthly runs of real funds on the loopback Ken French and Yahoo."""
    kenfrench = LoopbackServer({**zip_routes(), **zip_routes(FREQ_DIR)}).start()
    try:
        with PriceServer() as prices, pytest.MonkeyPatch.context() as patch:
            patch.setenv("FACTORXRAY_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
            patch.setenv("FACTORXRAY_KENFRENCH_URL", kenfrench.url + "/")
            patch.setenv("FACTORXRAY_YAHOO_URL", prices.url)
            yield {
                "weekly": fx.analyze(FUNDS, model="ff3", frequency="weekly"),
                "monthly": fx.analyze(FUNDS, model="ff3", frequency="monthly"),
                "daily": fx.analyze(
                    ["SPY", "USMV"], model="ff3", frequency="daily", models=None, region_fit=False
                ),
            }
    finally:
        kenfrench.stop()


@pytest.fixture(scope="module")
def reports(
    analyses: dict[str, Analysis], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    return {
        name: write_report(analysis, tmp_path_factory.mktemp(f"report-{name}"), png=False)
        for name, analysis in analyses.items()
    }


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: install it (apt-get install -y chromium)")
    from playwright import sync_api

    from tests.test_report_browser import ARGS

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def weekly_page(browser: Any, reports: dict[str, Path]) -> Iterator[Visit]:
    visit = Visit(browser, reports["weekly"].as_uri())
    yield visit
    visit.close()


def _text(page: Any, selector: str) -> str:
    """The displayed text of every element matching ``selector``, one line each."""
    return "\n".join(page.locator(selector).all_inner_texts())


def _page_text(path: Path) -> str:
    """The text of a report's HTML without scripts, styles and tags (entities decoded)."""
    import html

    source = path.read_text(encoding="utf-8")
    source = re.sub(r"<(script|style)\b.*?</\1>", " ", source, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", source)))


def _words(analysis: Analysis) -> dict[str, Any]:
    """What the report must say, from the run itself."""
    meta = analysis.meta
    frequency = meta["frequency"]
    per_year = analysis.results.periods_per_year
    unit = PERIOD_NAMES[frequency]
    return {
        "frequency": frequency,
        "unit": unit,
        "units": f"{unit}s",
        "n": f"{per_year:g}",
        "window": meta["rolling_window"],
        "span": f"{meta['rolling_window']}-{unit}",
    }


@pytest.mark.browser
def test_weekly_report_says_weeks_and_52_as_displayed(
    weekly_page: Visit, analyses: dict[str, Analysis]
) -> None:
    page = weekly_page.page
    analysis = analyses["weekly"]
    w = _words(analysis)
    assert (w["frequency"], w["n"], w["window"]) == ("weekly", "52", 156)
    assert weekly_page.errors == []
    # rolling chart titles and the funds' note
    titles = page.locator("article.fund .chart-title", has_text="Rolling").all_inner_texts()
    assert len(titles) == len(analysis.rolling.funds) == len(FUNDS)
    assert all(t.startswith(f"Rolling {w['span']} betas") for t in titles), titles
    assert f"Rolling betas use {w['span']} windows" in _text(page, "#funds > p.note")
    # overview: the N column, the annual alpha rule, the note
    headers = _text(page, "#overview-table thead th")
    assert f"N {w['units']}" in headers
    assert f"{w['n']} × weekly" in headers
    note = _text(page, "#overview p.note")
    assert f"{w['n']} × weekly alpha" in note
    assert f"rolling {w['span']} windows" in note
    assert f"(1 + weekly alpha){w['n']} − 1" in note  # the exponent is a <sup>
    # each card: N in weeks, alpha a week, windows of N weeks
    for fund in FUNDS:
        card = page.locator(f"article.fund[data-fund='{fund}']")
        stats = card.locator("p.stats").inner_text()
        assert f"N {int(analysis.results.nobs[fund])} weeks" in stats
        assert " a week," in stats and f"a year ({w['n']} × weekly)" in stats
        title = card.locator("span.alpha").get_attribute("title")
        assert f"(1 + weekly alpha)^{w['n']} - 1" in title
        drift = card.locator("p.drift")
        if drift.count():
            assert f"Windows of {w['window']} weeks." in drift.inner_text()
    # attribution and correlations
    assert f"annualized (× {w['n']})" in _text(page, "#attribution p.note")
    assert "Correlations of the weekly factor returns" in _text(page, "#correlations p.note")
    # methods and glossary
    methods = _text(page, "#methods")
    assert f"rolling {w['span']} window by the same rule" in methods
    assert f"{w['n']} x alpha" in methods and f"annualized by x{w['n']}" in methods
    assert "for a fund with T weeks" in methods and "with weekly data in decimals" in methods
    min_months = analysis.meta["min_months"]
    least = f"at least {min_months} months ({min_periods(min_months, 'weekly')} weeks)"
    assert least in methods
    glossary = _text(page, "#glossary")
    assert f"annualized as {w['n']} x the weekly alpha" in glossary
    assert f"(1 + alpha)^{w['n']} - 1" in glossary
    assert f"({DEFAULT_ROLLING_WINDOWS['weekly']} weeks by default)" in glossary
    # nothing monthly is left in the page as displayed (--min-months keeps its name)
    body = page.locator("body").inner_text()
    leftovers = MONTHLY_LEFTOVERS.findall(body)
    assert leftovers == [], leftovers
    rest = body.replace(least, "").replace("one-month Treasury", "")
    assert re.findall(r".{0,30}\bmonths?\b.{0,30}", rest) == []


@pytest.mark.browser
def test_weekly_rolling_charts_span_their_windows_in_chromium(
    weekly_page: Visit, analyses: dict[str, Analysis]
) -> None:
    """Each rolling chart's drawn time axis runs from the fund's first to its last window end
    (weeks seven days apart, not one mean month), and its y title names weeks."""
    page = weekly_page.page
    rolling = analyses["weekly"].rolling
    for fund in FUNDS:
        node = page.locator(f"article.fund[data-fund='{fund}'] .chart[data-fig]").nth(1)
        node.scroll_into_view_if_needed()
        page.wait_for_function(
            "n => n.getAttribute('data-rendered') === 'done'", arg=node.element_handle()
        )
        # calcdata: the points as plotly placed them (ms since 1970 on a date axis)
        drawn = node.evaluate(
            "n => ({range: n._fullLayout.xaxis.range, x: n.calcdata[2].map(p => p.x),"
            " title: n._fullLayout.yaxis.title.text})"
        )
        ends = rolling.plot_data(fund).index
        first = ends[0].start_time + pd.Timedelta(days=4)  # the week's Friday
        last = ends[-1].start_time + pd.Timedelta(days=4)
        x = pd.to_datetime(drawn["x"], unit="ms")
        assert len(x) == len(ends)
        assert x[0] == first and x[-1] == last
        assert (x[1:] - x[:-1] == pd.Timedelta(days=7)).all()
        low, high = pd.to_datetime(drawn["range"])
        assert low <= first and high >= last
        assert (high - low) < (last - first) * 1.1 + pd.Timedelta(days=60)
        assert drawn["title"] == f"{analyses['weekly'].meta['rolling_window']}-week beta"


def test_daily_report_says_days_and_252(
    reports: dict[str, Path], analyses: dict[str, Analysis]
) -> None:
    analysis = analyses["daily"]
    w = _words(analysis)
    assert (w["n"], w["window"]) == ("252", 252)
    text = _page_text(reports["daily"])
    assert f"Rolling {w['span']} betas" in text and f"N {w['units']}" in text
    assert f"{w['n']} × daily alpha" in text and f"annualized (× {w['n']})" in text
    assert f"N {int(analysis.results.nobs['SPY'])} days" in text
    assert "close to close of the dividend-adjusted closes" in text
    assert MONTHLY_LEFTOVERS.findall(text) == []
    summary = json.loads((reports["daily"].parent / "summary.json").read_text(encoding="utf-8"))
    assert summary["funds"][0]["alpha_annualization"] == (
        f"arithmetic: {w['n']} x alpha_monthly (the alpha of one day), as in the return attribution"
    )
    # trading days are drawn at their own dates (no weekends), the last at the last window end
    figures = re.search(
        r'<script type="application/json" id="fx-figures">(.*?)</script>',
        reports["daily"].read_text(encoding="utf-8"),
        flags=re.S,
    )
    specs = json.loads(figures.group(1))
    rolling = [s for s in specs.values() if s["data"] and s["data"][0].get("x") is not None]
    rolling = [s for s in rolling if "beta" in str(s["layout"]["yaxis"].get("title"))]
    assert len(rolling) == len(analysis.rolling.funds)
    ends = analysis.rolling.plot_data("SPY").index
    spy = next(s for s in rolling if len(s["data"][0]["x"]) == len(ends))
    dates = pd.to_datetime(spy["data"][0]["x"])
    assert list(dates) == list(ends.start_time)
    assert not dates.day_of_week.isin([5, 6]).any()


def test_monthly_report_keeps_its_words(
    reports: dict[str, Path], analyses: dict[str, Analysis]
) -> None:
    analysis = analyses["monthly"]
    w = _words(analysis)
    assert (w["n"], w["window"]) == ("12", 36)
    text = _page_text(reports["monthly"])
    fund = "SPY"
    nobs = int(analysis.results.nobs[fund])
    for sentence in (
        f"Rolling {w['window']}-month betas",
        f"Rolling betas use {w['window']}-month windows with 95% bands.",
        "Alpha, annual (12 × monthly)",
        f"N {nobs} months, {analysis.results.start[fund]} – {analysis.results.end[fund]}",
        "(1 + monthly alpha) 12 − 1",
        "Each fund's average excess return over its own sample, annualized (× 12)",
        "Correlations of the monthly factor returns",
        f"Windows of {w['window']} months.",
        f"every labelled tilt is also judged in each rolling {w['window']}-month window",
        "by default the lag is floor(4 x (T/100)^(2/9)) for a fund with T months.",
        f"needs at least {analysis.meta['min_months']} months; funds with fewer months,",
        "Alpha is per month in the regression; the report annualizes it arithmetically, 12 x",
        "annualized as 12 x the monthly alpha",
        "over a moving window (36 months by default)",
        "compounded from daily adjusted closes; the first, partial month dropped",
        "VOL, the low-volatility factor, is built from Ken French's 25 portfolios",
    ):
        assert sentence in text, sentence
    summary = json.loads((reports["monthly"].parent / "summary.json").read_text(encoding="utf-8"))
    assert summary["funds"][0]["alpha_annualization"] == (
        "arithmetic: 12 x alpha_monthly, as in the return attribution"
    )
    assert re.findall(r".{0,30}(?:\bweeks?\b|\bdays?\b|× 52\b|× 252\b).{0,30}", text) == []


def test_weekly_png_time_axis_is_by_week(analyses: dict[str, Analysis]) -> None:
    """The PNG rolling chart places weeks by their middle day (52 places a year, in order,
    inside their year), not all weeks of a month on one mid-month point."""
    ends = analyses["weekly"].rolling.plot_data("SPY").index
    years = static_png._decimal_years(ends)
    assert (np.diff(years) > 0).all()
    middles = ends.start_time + pd.Timedelta(days=3, hours=12)  # Thursday noon
    np.testing.assert_array_equal(np.floor(years), middles.year)
    per_year = pd.Series(years).groupby(np.floor(years)).size()
    assert set(per_year.iloc[1:-1]) <= {52, 53}
    low, high = static_png.rolling_xlim(ends)
    assert low == pytest.approx(years[0] - 0.2) and high == pytest.approx(years[-1] + 0.2)
    step = np.diff(years).mean()
    assert step == pytest.approx(7 / 365.25, rel=0.01)
