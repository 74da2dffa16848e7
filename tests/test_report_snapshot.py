"""The README's main job (smart-beta-20 on the bundled snapshot, real data): the report on a
phone and a laptop in headless Chromium, one annual alpha everywhere, and each fund's PNG
rolling chart on its own time range.

- 390 px phone: no two labels of a chart overlap (tick labels, bar values, axis titles), the
  axis titles lie inside their charts, every fund's verdict cell is on screen, and the beta
  bars and the waterfall take their narrow forms; 1366 px: no overlap either;
- the header's factor file names wrap only after ``_`` or ``-`` (never inside a word), at
  390 and 1366 px;
- the fund card's annual alpha is the return attribution's alpha (and the overview's and
  summary.json's): 12 x the monthly alpha;
- each ``png/rolling_<fund>.png`` is drawn on its fund's own window range (the axes' limits
  when the file is written), on one beta range.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import factorxray as fx
from factorxray.analysis import Analysis
from factorxray.data.cache import Cache
from factorxray.report import charts, static_png, write_report
from tests.test_report_browser import Visit, browser  # noqa: F401 (the browser fixture)

PHONE, LAPTOP = 390, 1366


@pytest.fixture(scope="module")
def analysis(tmp_path_factory: pytest.TempPathFactory) -> Analysis:
    cache = Cache(tmp_path_factory.mktemp("snapshot-cache"))
    return fx.analyze(preset="smart-beta-20", offline=True, cache=cache)


@pytest.fixture(scope="module")
def drawn(analysis: Analysis, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The report with PNGs, and the x/y limits of each rolling PNG as it was written."""
    limits: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {}
    save = static_png._save

    def recording_save(canvas: Any, path: Path) -> None:
        if path.name.startswith("rolling_"):
            ax = canvas.figure.axes[0]
            limits[path.name] = (tuple(ax.get_xlim()), tuple(ax.get_ylim()))
        save(canvas, path)

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FACTORXRAY_PNG_PROCESSES", "1")  # all drawn here, where we can see them
        patch.setattr(static_png, "_save", recording_save)
        index = write_report(analysis, tmp_path_factory.mktemp("snapshot-report"), png=True)
    return {"index": index, "limits": limits}


@pytest.fixture(scope="module")
def index(drawn: dict[str, Any]) -> Path:
    return drawn["index"]


# ---------------------------------------------------------------------------- alpha


def _figures(html: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="fx-figures">(.*?)</script>', html, re.S)
    assert match is not None
    return json.loads(match.group(1))


def test_card_alpha_is_the_attribution_alpha(index: Path, analysis: Analysis) -> None:
    html = index.read_text(encoding="utf-8")
    figures = _figures(html)
    summary = {
        r["fund"]: r for r in json.loads(index.with_name("summary.json").read_text())["funds"]
    }
    cards = re.findall(
        r'<article class="card fund"[^>]*data-fund="([^"]+)">(.*?)</article>', html, re.S
    )
    assert len(cards) == 20
    for fund, card in cards:
        expected = analysis.attribution.loc[fund, "alpha"]  # what the waterfall splits off
        assert expected == pytest.approx(12 * analysis.results.params.loc[fund, "alpha"], abs=1e-15)
        value, text = re.search(
            r'<span class="alpha" data-value="([^"]+)"[^>]*>alpha <b>([^<]+)</b>', card
        ).groups()
        assert float(value) == pytest.approx(expected, abs=1e-15), fund
        assert text == f"{expected * 100:.2f}%"
        waterfall = re.search(
            r'data-fig="([^"]+)" role="img" aria-label="Return attribution of', card
        )
        trace = figures[waterfall.group(1)]["data"][0]
        assert trace["x"][0] == "alpha"
        assert trace["y"][0] == pytest.approx(expected * 100, abs=1e-4)
        assert trace["customdata"][0] == charts.signed_percent(expected * 100, 2)
        # the hover text and the card show the same number, whatever the sign's spelling
        assert float(trace["customdata"][0].rstrip("%")) == pytest.approx(float(text.rstrip("%")))
        narrow = figures[waterfall.group(1)]["narrow"]["data"][0]
        assert (narrow["y"][0], narrow["x"][0]) == ("alpha", trace["y"][0])
        row = re.search(rf'<tr data-fund="{fund}">(.*?)</tr>', html, re.S).group(1)
        overview = re.search(r'data-col="alpha_annual"[^>]*data-value="([^"]+)">([^<]+)<', row)
        assert float(overview.group(1)) == pytest.approx(expected, abs=1e-15)
        assert overview.group(2) == text
        assert summary[fund]["alpha_annual"] == pytest.approx(expected, abs=1e-15)
    assert "12 × monthly alpha" in html  # the one definition, stated


# ---------------------------------------------------------------------------- PNG rolling


def test_png_rolling_charts_use_each_funds_own_range(
    drawn: dict[str, Any], analysis: Analysis
) -> None:
    limits = drawn["limits"]
    names = static_png.png_names(list(analysis.results.params.index))
    rolling = analysis.rolling
    y_ranges = set()
    for fund in rolling.funds:
        name = Path(names[f"rolling:{fund}"]).name
        (x_low, x_high), y_range = limits[name]
        ends = rolling.params.loc[fund].index
        first = ends[0].year + (ends[0].month - 0.5) / 12
        last = ends[-1].year + (ends[-1].month - 0.5) / 12
        assert (x_low, x_high) == pytest.approx((first - 0.2, last + 0.2)), fund
        assert (x_low, x_high) == pytest.approx(static_png.rolling_xlim(ends))
        y_ranges.add(tuple(round(v, 9) for v in y_range))
        assert drawn["index"].parent.joinpath(names[f"rolling:{fund}"]).is_file()
    starts = {limits[Path(names[f"rolling:{f}"]).name][0][0] for f in rolling.funds}
    assert len(starts) > 5  # the funds start in different years: so do their charts
    assert len(y_ranges) == 1  # one beta axis, so the charts compare


# ---------------------------------------------------------------------------- browser

_LAYOUT_JS = r"""() => {
  const box = n => { const r = n.getBoundingClientRect(); return {x0: r.left, x1: r.right, y0: r.top, y1: r.bottom, t: n.textContent}; };
  const boxes = nodes => Array.from(nodes).map(box).filter(b => b.x1 - b.x0 > 0 && b.t.trim());
  const hit = (a, b) => a.x0 < b.x1 - 0.5 && b.x0 < a.x1 - 0.5 && a.y0 < b.y1 - 0.5 && b.y0 < a.y1 - 0.5;
  const pairs = bs => { const out = []; for (let i = 0; i < bs.length; i++) for (let j = i + 1; j < bs.length; j++) if (hit(bs[i], bs[j])) out.push(bs[i].t + ' | ' + bs[j].t); return out; };
  const charts = [];
  document.querySelectorAll('.js-plotly-plot').forEach(plot => {
    const svg = plot.querySelector('.main-svg').getBoundingClientRect();
    const host = plot.closest('[data-fund]') || plot.closest('section');
    const xt = boxes(plot.querySelectorAll('.xtick text'));
    const yt = boxes(plot.querySelectorAll('.ytick text'));
    const values = boxes(plot.querySelectorAll('.bartext, .textpoint text'));
    const titles = boxes(plot.querySelectorAll('.g-xtitle text, .g-ytitle text'));
    const outside = titles.filter(t => t.x0 < svg.left - 0.5 || t.x1 > svg.right + 0.5 || t.y0 < svg.top - 0.5 || t.y1 > svg.bottom + 0.5).map(t => t.t);
    charts.push({
      where: (host.dataset.fund || host.id) + ' ' + (plot.getAttribute('aria-label') || ''),
      variant: plot.getAttribute('data-variant') || 'wide',
      heatmap: !!plot.querySelector('.hm'),
      overlaps: [...pairs(xt), ...pairs(yt), ...pairs(values), ...pairs([...titles, ...yt]), ...pairs([...titles, ...xt])],
      outside,
    });
  });
  return charts;
}"""


@pytest.fixture(scope="module")
def page_at(browser: Any, index: Path) -> Any:  # noqa: F811
    """The report loaded once per viewport width (rendering its 63 charts takes seconds);
    the tests only read the pages."""
    opened: dict[int, Visit] = {}

    def visit(width: int) -> Visit:
        if width not in opened:
            height = 844 if width == PHONE else 900
            opened[width] = Visit(browser, index.as_uri(), width=width, height=height)
        return opened[width]

    yield visit
    for page in opened.values():
        page.close()


def _charts(visit: Visit) -> list[dict[str, Any]]:
    return visit.page.evaluate(_LAYOUT_JS)


@pytest.mark.browser
def test_phone_labels_never_overlap_and_titles_stay_inside(page_at: Any) -> None:
    v = page_at(PHONE)
    charts_ = _charts(v)
    assert len(charts_) == 3 + 3 * 20
    problems = [c for c in charts_ if c["overlaps"] or c["outside"]]
    assert problems == [], problems[:3]
    cards = v.page.locator("article.fund .chart[data-fig]")
    variants = [cards.nth(i).get_attribute("data-variant") for i in range(cards.count())]
    assert variants.count("narrow") == 40  # the beta bars and the waterfall of 20 funds
    assert v.errors == []


@pytest.mark.browser
def test_laptop_labels_never_overlap(page_at: Any) -> None:
    v = page_at(LAPTOP)
    charts_ = _charts(v)
    problems = [c for c in charts_ if c["overlaps"] or c["outside"]]
    assert problems == [], problems[:3]
    assert {c["variant"] for c in charts_} == {"wide"}


@pytest.mark.browser
def test_phone_overview_keeps_fund_and_verdict_on_screen(page_at: Any, index: Path) -> None:
    v = page_at(PHONE)
    cells = v.page.evaluate(
        """() => Array.from(document.querySelectorAll('#overview-table tbody tr')).map(tr => {
            const fund = tr.cells[0].getBoundingClientRect();
            const td = tr.querySelector('td[data-col="verdict"]');
            const r = td.querySelector('.badge').getBoundingClientRect();
            return {fund: tr.dataset.fund, left: r.left, right: r.right, fundLeft: fund.left,
                    text: td.innerText.trim(), width: window.innerWidth};
        })"""
    )
    summary = json.loads(index.with_name("summary.json").read_text())
    verdicts = {r["fund"]: r["verdict"] for r in summary["funds"]}
    assert len(cells) == 20
    for cell in cells:
        assert 0 <= cell["fundLeft"] and cell["left"] >= 0, cell
        assert cell["right"] <= cell["width"], cell  # within the viewport, no scrolling
        assert cell["text"] == verdicts[cell["fund"]]
    assert v.page.evaluate("document.documentElement.scrollWidth") <= PHONE


_LINES_JS = r"""(names) => {
  // Every character of each header value with the top of its line box; then, for each
  // occurrence of a file name, the characters after which the line changes.
  const out = [];
  document.querySelectorAll('header.top dl.facts dd').forEach(dd => {
    const chars = [];
    const walker = document.createTreeWalker(dd, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (let i = 0; i < node.data.length; i++) {
        const range = document.createRange();
        range.setStart(node, i); range.setEnd(node, i + 1);
        const rects = range.getClientRects();
        chars.push({c: node.data[i], top: rects.length ? rects[0].top : null});
      }
    }
    const text = chars.map(x => x.c).join('');
    names.forEach(name => {
      for (let at = text.indexOf(name); at >= 0; at = text.indexOf(name, at + 1)) {
        const breaks = [];
        for (let i = at + 1; i < at + name.length; i++) {
          const a = chars[i - 1].top, b = chars[i].top;
          if (a !== null && b !== null && b > a + 2) breaks.push(name.slice(0, i - at) + '|' + name.slice(i - at));
        }
        out.push({name, breaks});
      }
    });
  });
  return out;
}"""


@pytest.mark.browser
@pytest.mark.parametrize("width", [PHONE, LAPTOP])
def test_factor_file_names_wrap_between_words(page_at: Any, index: Path, width: int) -> None:
    summary = json.loads(index.with_name("summary.json").read_text())
    names = sorted(summary["run"]["factors_vintage"])
    assert "F-F_Research_Data_5_Factors_2x3" in names
    found = page_at(width).page.evaluate(_LINES_JS, names)
    assert {f["name"] for f in found} == set(names)  # every file name is in the header
    wrapped = [f for f in found if f["breaks"]]
    if width == PHONE:
        assert wrapped, "on a phone the long names wrap"
    for item in found:
        for split in item["breaks"]:
            before = split.split("|")[0]
            assert before[-1] in "_-", f"{item['name']} broken inside a word: {split}"


def test_header_marks_the_break_points(index: Path) -> None:
    html = index.read_text(encoding="utf-8")
    header = html[html.index('<dl class="facts">') : html.index("</dl>")]
    assert "F-F_<wbr>Research_<wbr>Data_<wbr>5_<wbr>Factors_<wbr>2x3" in header
    assert "overflow-wrap: anywhere" not in html.split("</style>")[0]
    assert np.isfinite(charts.NARROW_WIDTH)
