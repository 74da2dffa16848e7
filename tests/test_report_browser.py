"""The HTML report in headless Chromium: charts render, nothing leaves the page, tables hold
the engine's numbers, hostile names stay text, the overview table sorts; on a run mixing
regions, the warnings show at the top and the fund cards show the verdict under each model,
the robustness over time and the region fit."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from factorxray.analysis import Analysis
from factorxray.report import write_report
from tests.test_report import XSS, build_mixed_analysis, build_test_analysis

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def analysis() -> Analysis:
    return build_test_analysis()


@pytest.fixture(scope="module")
def report(analysis: Analysis, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_report(analysis, tmp_path_factory.mktemp("browser-report"), png=False)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing: install it (apt-get install -y chromium) to run"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must run the browser tests")
        pytest.skip(message)
    from playwright import sync_api

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


class Visit:
    """One page load with every console error, dialog and non-file request recorded."""

    def __init__(self, browser: Any, url: str, *, width: int = 1366, height: int = 900) -> None:
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        self.blocked: list[str] = []
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.page = self.context.new_page()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", self._dialog)
        self.context.route("**/*", self._route)
        self.page.goto(url)
        self.page.wait_for_selector("body[data-charts-ready='true']", timeout=45_000)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _route(self, route: Any) -> None:
        url = route.request.url
        self.requests.append(url)
        if url.startswith("file://"):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="module")
def visit(browser: Any, report: Path) -> Iterator[Visit]:
    v = Visit(browser, report.as_uri())
    yield v
    v.close()


def test_every_chart_renders(visit: Visit, analysis: Analysis) -> None:
    page = visit.page
    funds = list(analysis.results.params.index)
    with_rolling = [f for f in funds if f in analysis.rolling.funds]
    expected = {
        "heatmap": 1,
        "correlations": 1,
        "attribution": 1,
        "funds": len(funds) + len(with_rolling) + len(funds),
    }
    for section, count in expected.items():
        selector = f"section#{section}"
        assert page.get_attribute(selector, "data-charts") == str(count), section
        plots = page.locator(f"{selector} .js-plotly-plot").count()
        assert plots == count, f"{section}: {plots} charts rendered, {count} expected"
        svgs = page.locator(f"{selector} .js-plotly-plot .main-svg").count()
        assert svgs >= count, section
    total = sum(expected.values())
    assert page.get_attribute("body", "data-charts-rendered") == str(total)
    # bars really drawn: one bar path per factor in the first fund's beta chart
    bars = page.locator("article.fund").first.locator(".js-plotly-plot").first
    n_factors = len(analysis.results.params.columns) - 1
    assert bars.locator("g.point path").count() == n_factors


def test_no_console_errors_and_no_network(visit: Visit) -> None:
    assert visit.errors == []
    assert visit.blocked == [], f"requests left the page: {visit.blocked[:5]}"
    assert all(u.startswith("file://") for u in visit.requests)
    assert len(visit.requests) == 1  # the page itself, nothing else


def test_hostile_name_stays_text(visit: Visit) -> None:
    page = visit.page
    assert visit.dialogs == []
    cell = page.locator("#overview-table tr[data-fund='XSS'] td.name")
    assert cell.inner_text() == XSS
    assert cell.is_visible()
    card = page.locator("article.fund[data-fund='XSS'] h3")
    assert XSS in card.inner_text()
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    assert page.evaluate("document.scripts.length") == 3


def _table(page: Any) -> list[dict[str, str]]:
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('#overview-table tbody tr')).map(tr => {
            const out = {fund: tr.dataset.fund};
            tr.querySelectorAll('td[data-col]').forEach(td => {
                out[td.dataset.col] = td.dataset.value || '';
                out[td.dataset.col + '_text'] = td.innerText.trim();
            });
            return out;
        })"""
    )


def test_overview_numbers_equal_the_exports(visit: Visit, report: Path) -> None:
    rows = _table(visit.page)
    summary = json.loads((report.parent / "summary.json").read_text(encoding="utf-8"))
    records = {r["fund"]: r for r in summary["funds"]}
    assert {r["fund"] for r in rows} == set(records)
    exposures = pd.read_csv(report.parent / "exposures.csv")
    alphas = exposures[exposures["factor"] == "alpha"].set_index("fund")["beta"]
    for row in rows:
        record = records[row["fund"]]
        assert float(row["rsquared"]) == pytest.approx(record["rsquared"], abs=1e-12)
        assert row["rsquared_text"] == f"{record['rsquared']:.3f}"
        assert float(row["alpha_annual"]) == pytest.approx(record["alpha_annual"], abs=1e-12)
        assert row["alpha_annual_text"] == f"{record['alpha_annual'] * 100:.2f}%"
        arithmetic = 12 * alphas[row["fund"]]  # one definition: as the return attribution's
        assert float(row["alpha_annual"]) == pytest.approx(arithmetic, abs=1e-12)
        assert int(row["nobs"]) == record["nobs"]
        assert row["sample_text"] == f"{record['start']} – {record['end']}"
        assert float(row["alpha_t"]) == pytest.approx(record["alpha_t"], abs=1e-12)
        assert float(row["alpha_p"]) == pytest.approx(record["alpha_p"], abs=1e-12)
        assert row["factors_text"] == f"{record['region']} · {record['model']}"


def test_failed_funds_are_visible_not_in_the_table(visit: Visit) -> None:
    page = visit.page
    assert page.locator("#warnings").count() == 0  # no fund has a warning in this run
    box = page.locator("#not-analyzed")
    assert box.is_visible()
    text = box.inner_text()
    assert "GONE" in text and "SHORT" in text and "404" in text
    funds = [r["fund"] for r in _table(page)]
    assert "GONE" not in funds and "SHORT" not in funds


def test_sorting_the_table(visit: Visit) -> None:
    page = visit.page
    header = page.locator("#overview-table thead th", has_text="N months")
    header.locator("button").click()
    ascending = [int(r["nobs"]) for r in _table(page)]
    assert ascending == sorted(ascending)
    assert header.get_attribute("aria-sort") == "ascending"
    header.locator("button").click()
    descending = [int(r["nobs"]) for r in _table(page)]
    assert descending == sorted(descending, reverse=True)
    page.locator("#overview-table thead th", has_text="Fund").locator("button").click()
    funds = [r["fund"] for r in _table(page)]
    assert funds == sorted(funds)
    r2_head = page.locator("#overview-table thead th", has_text="R²")
    r2_head.locator("button").click()
    r2 = [float(r["rsquared"]) for r in _table(page)]
    assert r2 == sorted(r2)


def test_phone_width_has_no_page_overflow(browser: Any, report: Path) -> None:
    v = Visit(browser, report.as_uri(), width=390, height=844)
    try:
        width = v.page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"page is {width}px wide on a 390px phone"
        assert v.page.locator("#heatmap .js-plotly-plot").count() == 1
        assert v.errors == []
    finally:
        v.close()


def test_main_job_report_from_the_snapshot_renders(browser: Any, tmp_path: Path) -> None:
    """The README's main job (`analyze --preset smart-beta-20 --offline`), opened in Chromium."""
    from typer.testing import CliRunner

    from factorxray.cli import app

    out = tmp_path / "main-job"
    result = CliRunner().invoke(
        app, ["analyze", "--preset", "smart-beta-20", "--offline", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    n_funds = len(summary["funds"])
    assert n_funds == 20
    v = Visit(browser, (out / "index.html").as_uri())
    try:
        charts = v.page.locator(".js-plotly-plot")
        drawn = v.page.locator(".js-plotly-plot .main-svg")
        # heatmap + correlations + attribution + per fund: betas, rolling, attribution
        assert charts.count() == 3 + 3 * n_funds
        assert drawn.count() >= charts.count()
        assert v.page.get_attribute("body", "data-charts-rendered") == str(charts.count())
        assert v.errors == [] and v.blocked == []
    finally:
        v.close()


# ---------------------------------------------------------------------------- mixed regions


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Analysis:
    return build_mixed_analysis(tmp_path_factory.mktemp("mixed-cache"))


@pytest.fixture(scope="module")
def mixed_visit(browser: Any, mixed: Analysis, tmp_path_factory: pytest.TempPathFactory):
    index = write_report(mixed, tmp_path_factory.mktemp("mixed-report"), png=False)
    v = Visit(browser, index.as_uri())
    yield v
    v.close()


def test_mixed_report_renders_without_errors(mixed_visit: Visit) -> None:
    page = mixed_visit.page
    assert mixed_visit.errors == [] and mixed_visit.blocked == [] and mixed_visit.dialogs == []
    total = page.get_attribute("body", "data-charts-total")
    assert page.get_attribute("body", "data-charts-rendered") == total
    assert page.locator(".js-plotly-plot").count() == int(total)


def test_warnings_box_at_the_top(mixed_visit: Visit, mixed: Analysis) -> None:
    page = mixed_visit.page
    box = page.locator("#warnings")
    assert box.is_visible()
    top = page.evaluate("document.querySelector('main').firstElementChild.id")
    assert top == "warnings"  # before the overview
    text = box.inner_text()
    lines = [w for f in mixed.analyzed for w in mixed.warnings.get(f, [])]
    assert lines and all(line in text for line in lines)
    assert "VGK: europe factors fit better than us" in text
    marks = page.locator("#overview-table a.warn-mark")
    assert marks.count() == sum(1 for f in mixed.analyzed if mixed.warnings.get(f))
    vgk = page.locator("article.fund[data-fund='VGK'] .fund-warnings")
    assert vgk.is_visible() and "europe factors fit better" in vgk.inner_text()
    europe = page.locator("article.fund[data-fund='VGK'] .region-table tr[data-region='europe']")
    assert "fits better" in europe.inner_text()


def test_hdv_card_shows_the_model_ladder_and_time(mixed_visit: Visit, mixed: Analysis) -> None:
    page = mixed_visit.page
    card = page.locator("article.fund[data-fund='HDV']")
    ladder = card.locator("table.ladder-table")
    ladder.scroll_into_view_if_needed()
    assert ladder.is_visible()
    models = mixed.meta["models"]
    assert ladder.locator("tbody tr").count() == len(models)
    by_model = mixed.ladder["HDV"]["verdict_by_model"]
    for model in models:
        row = ladder.locator(f"tr[data-model='{model}']").inner_text()
        assert by_model[model] in row, model
    xray7 = ladder.locator("tr[data-model='xray7']").inner_text()
    assert "(used)" in xray7 and "weak" in xray7
    assert "delivers" in ladder.locator("tr[data-model='ff5']").inner_text()
    assert "not tested" in ladder.locator("tr[data-model='capm']").inner_text()
    assert "HML delivers in 4 of 5 models" in card.locator(".ladder").inner_text()
    time = card.locator("table.time-table")
    assert time.is_visible()
    facts = mixed.verdicts["HDV"].checks[0].robustness
    share = time.locator("tr[data-row='share'] td").inner_text()
    assert share == f"{facts['share_of_windows']:.0%} of {facts['windows']} windows"
    last = time.locator("tr[data-row='last'] td").inner_text()
    assert last == f"{facts['last_window_beta']:.2f} (to {facts['last_window_end']})"
    moved = time.locator("tr[data-row='break'] td").inner_text()
    assert moved == f"{facts['beta_before_break']:.2f} → {facts['beta_after_break']:.2f}"
    drift = card.locator("p.drift").inner_text()
    assert f"after {facts['drift_break']}" in drift and "sup-Wald" in drift
    alpha = card.locator(".stats .alpha").inner_text()
    t = mixed.results.tvalues.loc["HDV", "alpha"]
    assert f"t {t:.2f}" in alpha and "p " in alpha


def test_phone_width_mixed_report(browser: Any, mixed_visit: Visit) -> None:
    v = Visit(browser, mixed_visit.page.url, width=390, height=844)
    try:
        width = v.page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"page is {width}px wide on a 390px phone"
        assert v.errors == []
    finally:
        v.close()


# ------------------------------------------------------------------ portfolio and blend


@pytest.fixture(scope="module")
def portfolio_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SPY 60% + VLUE 20% + MTUM 20% against SPY, on the bundled snapshot."""
    import factorxray as fx
    from factorxray.data.cache import Cache
    from factorxray.portfolio_pipeline import write_portfolio_report

    result = fx.analyze_portfolio(
        {"SPY": 0.6, "VLUE": 0.2, "MTUM": 0.2},
        benchmark="SPY",
        offline=True,
        cache=Cache(tmp_path_factory.mktemp("browser-portfolio-cache")),
        models=None,
        region_fit=False,
        drift=False,
    )
    return write_portfolio_report(result, tmp_path_factory.mktemp("browser-portfolio"), png=False)


@pytest.fixture(scope="module")
def blend_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A target no blend of the seven funds meets (HML >= 0.9)."""
    import factorxray as fx
    from factorxray.data.cache import Cache
    from factorxray.portfolio_pipeline import write_blend_report

    blend = fx.find_blend(
        "SMB>=0.3,HML>=0.9",
        "VBR,IJR,VTV,VLUE,SPY,MTUM,USMV",
        offline=True,
        cache=Cache(tmp_path_factory.mktemp("browser-blend-cache")),
        models=None,
    )
    return write_blend_report(blend, tmp_path_factory.mktemp("browser-blend"), png=False)


def _every_chart_drawn(v: Visit, sections: dict[str, int]) -> None:
    page = v.page
    assert v.errors == [] and v.dialogs == []
    assert v.blocked == [] and all(url.startswith("file://") for url in v.requests)
    total = page.locator("[data-fig]").count()
    assert page.get_attribute("body", "data-charts-rendered") == str(total)
    assert page.locator(".js-plotly-plot .main-svg").count() >= total
    for section, count in sections.items():
        selector = f"section#{section}"
        assert page.get_attribute(selector, "data-charts") == str(count), section
        assert page.locator(f"{selector} .js-plotly-plot").count() == count, section


def test_portfolio_report_renders_every_chart(browser: Any, portfolio_index: Path) -> None:
    v = Visit(browser, portfolio_index.as_uri())
    try:
        _every_chart_drawn(v, {"portfolio": 3})
        page = v.page
        # grouped bars with error bars, stacked contributions, one risk bar per fund
        charts = page.locator("section#portfolio .js-plotly-plot")
        assert charts.nth(0).locator("g.errorbar").count() >= 7
        assert charts.nth(2).locator("g.annotation").count() == 4  # vol of each row
        rows = page.locator("#portfolio-performance-table tbody tr")
        assert rows.count() == 4
        assert page.locator("#portfolio-performance-table th", has_text="IR").count() == 1
    finally:
        v.close()


def test_blend_report_renders_every_chart_and_the_banner(browser: Any, blend_index: Path) -> None:
    v = Visit(browser, blend_index.as_uri())
    try:
        _every_chart_drawn(v, {"blend": 1, "portfolio": 3})
        banner = v.page.locator("#blend-infeasible")
        assert banner.is_visible()
        assert "the largest achievable HML with these funds is 0.349" in banner.inner_text()
        missed = v.page.locator('#blend-constraints-table tr[data-constraint="HML>=0.9"]')
        assert "missed" in missed.inner_text()
    finally:
        v.close()
