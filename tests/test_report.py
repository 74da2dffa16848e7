"""The report: HTML page, PNG charts and exports, built from a real analysis of real data.

The analysis is the seed's 20 ETFs (``tests/data/engine``: real monthly excess returns and
the US FF5 + momentum factors) plus three extra funds: one named ``<script>alert(1)</script>``
(analyzed; its name must stay text), one without any returns and one with too few months
(both must be listed as not analyzed and appear nowhere else).
"""

from __future__ import annotations

import json
import math
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from factorxray import presets
from factorxray.analysis import Analysis, build_analysis
from factorxray.judge.verdicts import Rules
from factorxray.report import charts, exports, prepare, static_png, write_report
from factorxray.universe import Fund, Universe

DATA = Path(__file__).parent / "data" / "engine"
XSS = "<script>alert(1)</script>"
XSS_CATEGORY = '<img src=x onerror="alert(2)">'
MAX_BYTES = 6 * 1024 * 1024
LIMITED_BY = {
    "start": ["F-F_Research_Data_5_Factors_2x3"],
    "end": ["F-F_Momentum_Factor", "F-F_Research_Data_5_Factors_2x3"],
}


def load_engine_data() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Real monthly excess returns of the 20 ETFs and the US factors (decimals)."""
    excess = pd.read_csv(DATA / "etf_monthly_excess.csv", index_col=0)
    excess.index = pd.PeriodIndex(excess.index, freq="M")
    factors = pd.read_csv(DATA / "us_factors_monthly.csv", index_col=0)
    factors.index = pd.PeriodIndex(factors.index, freq="M")
    factors.attrs.update(
        model="ff6",
        region="us",
        vintages={
            "F-F_Research_Data_5_Factors_2x3": "202511 CRSP database",
            "F-F_Momentum_Factor": "202511 CRSP database",
        },
        sources=["F-F_Research_Data_5_Factors_2x3", "F-F_Momentum_Factor"],
        limited_by=LIMITED_BY,
    )
    return excess, factors


def build_test_analysis() -> Analysis:
    """The seed's 20 funds plus a hostile name, a fund with no data and a too-short fund."""
    excess, factors = load_engine_data()
    # build_analysis wants TOTAL returns: add the risk-free rate back.
    total = excess.add(factors["RF"], axis=0)
    noise = np.random.default_rng(7).normal(0.0, 0.004, len(total))
    total["XSS"] = total["SPY"] + noise * total["SPY"].notna()
    short = total["SPY"].copy()
    short.iloc[:-20] = np.nan
    total["SHORT"] = short
    preset = presets.get("smart-beta-20")
    universe = Universe(
        "report-test",
        (
            *preset.funds,
            Fund(
                "XSS",
                name=XSS,
                category=XSS_CATEGORY,
                region="developed",  # its label's region; it is still regressed on US factors
                tilts=["HML>0"],
                description="</script><script>alert(3)</script> & more",
            ),
            Fund("GONE", name="Gone Fund", category="value"),
            Fund("SHORT", name="Short History Fund", category="value"),
        ),
    )
    return build_analysis(
        universe,
        factors,
        total,
        failed={"GONE": "download failed: HTTP 404 for GONE"},
        meta={"price_source": "test fixture (tests/data/engine)"},
    )


#: A run mixing regions on the bundled snapshot (real prices and Ken French files): US funds
#: on xray7, VEA and EFAV on developed ex-US ff6, EWJ on Japan ff6 (VOL exists for the US
#: only), and VGK without a region, so judged on US factors and warned about Europe.
MIXED_US = ("SPY", "HDV", "MTUM", "GSLC", "USMV")


def build_mixed_analysis(cache_dir: Path) -> Analysis:
    """The snapshot run with every region used, the model ladder, region fit and drift."""
    import factorxray as fx
    from factorxray.data.cache import Cache

    labels = presets.get("smart-beta-20")
    universe = Universe(
        "mixed-regions",
        (
            *(labels.fund(t) for t in MIXED_US),
            Fund(
                "VEA",
                name="Vanguard FTSE Developed Markets ETF",
                category="core",
                region="developed_ex_us",
            ),
            Fund("EWJ", name="iShares MSCI Japan ETF", category="core", region="japan"),
            Fund(
                "EFAV",
                name="iShares MSCI EAFE Min Vol Factor ETF",
                category="low volatility",
                region="developed_ex_us",
            ),
            Fund("VGK", name="Vanguard FTSE Europe ETF", category="core"),  # no region: us
        ),
    )
    return fx.analyze(universe=universe, offline=True, cache=Cache(cache_dir))


@pytest.fixture(scope="module")
def analysis() -> Analysis:
    return build_test_analysis()


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Analysis:
    return build_mixed_analysis(tmp_path_factory.mktemp("mixed-cache"))


@pytest.fixture(scope="module")
def mixed_report(mixed: Analysis, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_report(mixed, tmp_path_factory.mktemp("mixed-report"), png=False)


@pytest.fixture(scope="module")
def report(analysis: Analysis, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_report(analysis, tmp_path_factory.mktemp("report"), png=True)


class _Tags(HTMLParser):
    """Collects start tags with their attributes, and the overview table's row funds."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


def _overview_funds(html: str) -> list[str]:
    table = html[html.index('id="overview-table"') : html.index("</table>")]
    return re.findall(r'<tr data-fund="([^"]*)">', table)


# ---------------------------------------------------------------------------- the folder


def test_report_writes_every_file(report: Path) -> None:
    folder = report.parent
    assert report.name == "index.html"
    for name in ("exposures.csv", "summary.json", "png"):
        assert (folder / name).exists(), name
    assert not list(folder.glob(".*.tmp")), "temporary files left behind"


def test_html_is_small_and_embeds_plotly_once(report: Path) -> None:
    size = report.stat().st_size
    assert size < MAX_BYTES, f"index.html is {size / 1e6:.2f} MB"
    html = report.read_text(encoding="utf-8")
    assert html.count("* plotly.js v") == 1
    assert html.count("<script") == 3  # figure JSON, plotly.js, the page's own script


def test_html_loads_nothing_from_outside(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    tags = _tags(html)
    assert not [t for t, a in tags if t == "link"], "no stylesheet or font links"
    assert not [a for t, a in tags if "src" in a], "no element loads a source"
    hrefs = [a["href"] for t, a in tags if t == "a" and a.get("href")]
    remote = [h for h in hrefs if re.match(r"^[a-z]+:", h or "")]
    assert remote == []
    assert "@import" not in html and "url(" not in html.split("<script")[0]


def test_every_chart_spec_is_valid_plotly_json(report: Path) -> None:
    import plotly.graph_objects as go

    html = report.read_text(encoding="utf-8")
    match = re.search(r'<script type="application/json" id="fx-figures">(.*?)</script>', html, re.S)
    assert match is not None
    specs = json.loads(match.group(1))
    chart_ids = re.findall(r'data-fig="([^"]+)"', html)
    assert sorted(chart_ids) == sorted(specs)
    narrow = 0
    for key, spec in specs.items():
        variants = [spec, *([spec["narrow"]] if "narrow" in spec else [])]
        narrow += len(variants) - 1
        for variant in variants:
            go.Figure({"data": variant["data"], "layout": variant["layout"]})  # raises if invalid
            assert variant["layout"].get("width") is None, key  # responsive: width from the page
    assert narrow >= 2  # the phone variants of the beta bars and the waterfall


# ---------------------------------------------------------------------------- exports


def test_exposures_csv_equals_the_engine(report: Path, analysis: Analysis) -> None:
    frame = pd.read_csv(report.parent / "exposures.csv")
    assert list(frame.columns) == ["fund", "factor", "beta", "se", "t", "p", "q", "region", "model"]
    expected = analysis.results.to_frame()
    assert frame["fund"].tolist() == expected["fund"].tolist()
    assert frame["factor"].tolist() == expected["term"].tolist()
    assert "alpha" in set(frame["factor"])
    for ours, theirs in (("beta", "estimate"), ("se", "se"), ("t", "t"), ("p", "p")):
        np.testing.assert_allclose(frame[ours], expected[theirs], rtol=0, atol=1e-12)
    # full precision: the betas come back bit for bit
    assert (frame["beta"].to_numpy() == expected["estimate"].to_numpy()).all()
    assert set(frame["region"]) == {"us"} and set(frame["model"]) == {"ff6"}
    _check_qvalues(frame, analysis)


def _check_qvalues(frame: pd.DataFrame, analysis: Analysis) -> None:
    """exposures.csv's q: empty for alpha, equal to bh_qvalues and to statsmodels' BH."""
    from statsmodels.stats.multitest import multipletests

    from factorxray.judge.robustness import bh_qvalues

    assert frame.loc[frame["factor"] == "alpha", "q"].isna().all()
    betas = frame[frame["factor"] != "alpha"]
    ours = betas.set_index(["fund", "factor"])["q"]
    assert ours.notna().all()
    pvalues = analysis.results.pvalues.drop(columns="alpha")
    stacked = pvalues.stack().dropna()  # the family: every fund x factor with a p-value
    assert len(stacked) == len(betas)
    reference = pd.Series(multipletests(stacked.to_numpy(), method="fdr_bh")[1], stacked.index)
    np.testing.assert_allclose(ours.loc[reference.index], reference, rtol=0, atol=1e-12)
    mine = bh_qvalues(analysis.results.pvalues).stack().dropna()
    np.testing.assert_allclose(ours.loc[mine.index], mine, rtol=0, atol=1e-15)
    # Benjamini-Hochberg never makes a q-value smaller than its p-value
    assert (ours.loc[reference.index] >= stacked - 1e-15).all()


def _strict_json(path: Path) -> object:
    def no_constants(name: str) -> None:
        raise AssertionError(f"summary.json holds {name}")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=no_constants)


def test_summary_json_equals_the_engine(report: Path, analysis: Analysis) -> None:
    summary = _strict_json(report.parent / "summary.json")
    results = analysis.results
    records = {r["fund"]: r for r in summary["funds"]}
    assert set(records) == set(results.params.index)
    alpha_ann = results.alpha_annualized
    for fund, record in records.items():
        assert record["nobs"] == int(results.nobs[fund])
        assert record["start"] == str(results.start[fund])
        assert record["end"] == str(results.end[fund])
        assert record["rsquared"] == pytest.approx(results.rsquared[fund], abs=1e-12)
        assert record["rsquared_adj"] == pytest.approx(results.rsquared_adj[fund], abs=1e-12)
        assert record["alpha_monthly"] == pytest.approx(
            results.params.loc[fund, "alpha"], abs=1e-14
        )
        geometric = (1 + results.params.loc[fund, "alpha"]) ** 12 - 1
        arithmetic = 12 * results.params.loc[fund, "alpha"]
        # one annual alpha in the report: arithmetic, as the return attribution's
        assert record["alpha_annual"] == pytest.approx(arithmetic, abs=1e-12)
        assert record["alpha_annual"] == analysis.attribution.loc[fund, "alpha"]
        assert record["alpha_annual_arithmetic"] == record["alpha_annual"]
        assert record["alpha_annual_geometric"] == pytest.approx(geometric, abs=1e-12)
        assert record["alpha_annual_geometric"] == pytest.approx(
            alpha_ann.loc[fund, "geometric"], abs=1e-14
        )
        assert record["alpha_annualization"].startswith("arithmetic: 12 x alpha_monthly")
        assert record["hac_lags"] == int(results.hac_lags[fund])
        assert record["cov_type"] == results.cov_type
        assert record["model"] == "ff6"
        assert record["region"] == "us"  # the factors every fund was regressed on
        assert record["fund_region"] == analysis.universe.fund(fund).region
        assert record["factors_vintage"]["F-F_Momentum_Factor"] == "202511 CRSP database"
        assert record["price_source"] == "test fixture (tests/data/engine)"
        verdict = analysis.verdicts[fund]
        assert record["verdict"] == verdict.status
        assert record["verdict_sentence"] == verdict.sentence
        for ours, theirs in zip(record["tilts"], verdict.to_dict()["tilts"], strict=True):
            assert {k: v for k, v in ours.items() if k in theirs} == theirs
            assert set(exports.TILT_ROBUSTNESS_KEYS) <= set(ours)
            assert ours["share_of_windows"] == theirs.get("share_of_windows")
        assert record["verdict_detail"]["tilts"] == record["tilts"]
        for term in results.params.columns:
            assert record["exposures"][term]["beta"] == results.params.loc[fund, term]
            expected_q = None if term == "alpha" else analysis.qvalues.loc[fund, term]
            assert record["exposures"][term]["q"] == expected_q
        assert record["alpha_t"] == results.tvalues.loc[fund, "alpha"]
        assert record["alpha_p"] == results.pvalues.loc[fund, "alpha"]
        assert record["alpha_se"] == results.bse.loc[fund, "alpha"]
        # no ladder, no region fit in this analysis: empty, never missing
        assert record["verdict_by_model"] == {} and record["region_fit"] == {}
        assert record["better_region"] is None and record["warnings"] == []
        assert record["model_note"] is None
    assert records["XSS"]["name"] == XSS
    assert (records["XSS"]["region"], records["XSS"]["fund_region"]) == ("us", "developed")
    run = summary["run"]
    assert run["region"] == "us"
    assert run["factors_limited_by"] == LIMITED_BY
    assert run["model"] == "ff6" and run["cov_type"] == results.cov_type
    assert run["t_threshold"] == 2.0
    assert run["rules"] == {
        "t_threshold": 2.0,
        "min_beta": 0.1,
        "fdr": None,
        "legend": Rules(2.0, 0.1).legend(),
    }
    assert run["regions"] == ["us"] and run["models"] == []
    assert run["factors_by_region"]["us"]["model"] == "ff6"
    assert run["factors_by_region"]["us"]["limited_by"] == LIMITED_BY
    assert set(summary["not_analyzed"]) == {"GONE", "SHORT"}
    assert "404" in summary["not_analyzed"]["GONE"]


def test_header_names_the_factor_files_that_limit_the_range(
    report: Path, analysis: Analysis
) -> None:
    # the header marks where names may wrap (after "_"): read it without the marks
    html = report.read_text(encoding="utf-8").replace("<wbr>", "")
    first, last = analysis.factors.index[0], analysis.factors.index[-1]
    expected = (
        f"<dt>Factor data</dt><dd>range {first} to {last}; the files&#39; common months "
        "start with F-F_Research_Data_5_Factors_2x3 and end with F-F_Momentum_Factor, "
        "F-F_Research_Data_5_Factors_2x3</dd>"
    )
    assert expected in html


def test_factors_without_limited_by(analysis: Analysis) -> None:
    from dataclasses import replace

    from factorxray.report import _factor_range_text

    factors = analysis.factors.copy()
    factors.attrs = {k: v for k, v in analysis.factors.attrs.items() if k != "limited_by"}
    assert exports.summary(replace(analysis, factors=factors))["run"]["factors_limited_by"] is None
    meta = {"factors_start": "1990-01", "factors_end": "2025-11"}
    assert _factor_range_text(meta, None) == "range 1990-01 to 2025-11"
    assert _factor_range_text({}, {"start": [], "end": ["B"]}) == (
        "range not recorded; the files' common months end with B"
    )


def test_fund_missing_from_the_universe(analysis: Analysis) -> None:
    """An analyzed fund the universe does not know (an Analysis built by hand): no name."""
    from dataclasses import replace

    others = [t for t in analysis.universe.tickers if t != "SPY"]
    partial = replace(analysis, universe=analysis.universe.subset(others))
    records = {r["fund"]: r for r in exports.summary(partial)["funds"]}
    assert records["SPY"]["name"] is None and records["SPY"]["fund_region"] is None
    assert records["SPY"]["region"] == "us"
    data = prepare(partial)
    assert static_png._title(data, "SPY") == "SPY"


def test_diagnostics_errors_show_and_bugs_raise(
    analysis: Analysis, monkeypatch: pytest.MonkeyPatch
) -> None:
    from factorxray.engine import diagnostics
    from factorxray.errors import InsufficientDataError

    def too_short(*args: object, **kwargs: object) -> None:
        raise InsufficientDataError("only 3 complete factor rows, need at least 8")

    monkeypatch.setattr(diagnostics, "factor_correlations", too_short)
    data = prepare(analysis)
    assert data.corr is None and data.diagnostics_error.startswith("only 3 complete")

    def bug(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(diagnostics, "factor_correlations", bug)
    with pytest.raises(RuntimeError, match="a bug"):
        prepare(analysis)


def test_summary_json_has_null_not_nan(analysis: Analysis) -> None:
    cleaned = exports._clean({"a": math.nan, "b": [np.float64("inf"), pd.NA], "c": np.int64(3)})
    assert cleaned == {"a": None, "b": [None, None], "c": 3}
    json.dumps(exports.summary(analysis), allow_nan=False)


# ---------------------------------------------------------------------------- failures


def test_failed_funds_are_listed_and_not_analyzed(report: Path, analysis: Analysis) -> None:
    html = report.read_text(encoding="utf-8")
    assert set(analysis.failed) == {"GONE", "SHORT"}
    box = html[html.index('id="not-analyzed"') : html.index('id="heatmap"')]
    assert "Not analyzed (2)" in box
    assert "GONE" in box and "download failed: HTTP 404 for GONE" in box
    assert "SHORT" in box and "Short History Fund" in box
    funds = _overview_funds(html)
    assert "GONE" not in funds and "SHORT" not in funds
    assert funds and set(funds) == set(analysis.results.params.index)
    assert 'data-fund="GONE"' not in html and 'data-fund="SHORT"' not in html


def test_overview_table_numbers(report: Path, analysis: Analysis) -> None:
    html = report.read_text(encoding="utf-8")
    results = analysis.results
    for fund in ("SPY", "MTUM", "XSS"):
        row = re.search(rf'<tr data-fund="{fund}">(.*?)</tr>', html, re.S).group(1)
        r2 = re.search(r'data-col="rsquared"[^>]*data-value="([^"]+)">([^<]+)<', row)
        assert float(r2.group(1)) == pytest.approx(results.rsquared[fund], abs=1e-12)
        assert r2.group(2) == f"{results.rsquared[fund]:.3f}"
        alpha = re.search(r'data-col="alpha_annual"[^>]*data-value="([^"]+)">([^<]+)<', row)
        annual = results.alpha_annualized.loc[fund, "arithmetic"]
        assert float(alpha.group(1)) == pytest.approx(annual, abs=1e-12)
        assert alpha.group(2) == f"{annual * 100:.2f}%"
        nobs = re.search(r'data-col="nobs"[^>]*>(\d+)<', row)
        assert int(nobs.group(1)) == int(results.nobs[fund])
    assert "Alpha, annual (12 × monthly)" in html


# ---------------------------------------------------------------------------- escaping


def test_user_text_is_escaped(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    assert XSS not in html
    assert "alert(1)" in html  # it is there, as text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert XSS_CATEGORY not in html
    assert "<img" not in html
    assert "</script><script>alert(3)" not in html
    assert "&lt;/script&gt;&lt;script&gt;alert(3)&lt;/script&gt; &amp; more" in html
    # inside the figure JSON no markup survives either: no '<' at all
    blob = re.search(r'id="fx-figures">(.*?)</script>', html, re.S).group(1)
    assert "<" not in blob and ">" not in blob
    specs = json.loads(blob)
    annotations = [a["text"] for s in specs.values() for a in s["layout"].get("annotations", [])]
    assert '<b>&lt;img src=x onerror="alert(2)"&gt;</b>' in annotations  # the category label


def test_plotly_text_is_escaped() -> None:
    assert charts._text("<b>x</b> & y") == "&lt;b&gt;x&lt;/b&gt; &amp; y"
    groups = [("<i>cat</i>", ["A"])]
    params = pd.DataFrame({"alpha": [0.0], "F": [0.5]}, index=["A"])
    spec = charts._beta_heatmap_spec(params, params * 10, groups)
    assert spec["layout"]["annotations"][0]["text"] == "<b>&lt;i&gt;cat&lt;/i&gt;</b>"


# ---------------------------------------------------------------------------- charts


def test_public_builders_return_figures(analysis: Analysis) -> None:
    import plotly.graph_objects as go

    results = analysis.results
    fund = "MTUM"
    y_range = charts.beta_range(results.params)
    bars = charts.beta_bars(
        results.params.loc[fund], results.tvalues.loc[fund], threshold=2.0, y_range=y_range
    )
    assert isinstance(bars, go.Figure)
    trace = bars.data[0]
    factors = [c for c in results.params.columns if c != "alpha"]
    assert list(trace.x) == factors
    assert list(bars.layout.yaxis.range) == list(y_range)
    tvals = results.tvalues.loc[fund, factors]
    expected_opacity = [1.0 if abs(t) >= 2 else charts.FADED_OPACITY for t in tvals]
    assert list(trace.marker.opacity) == expected_opacity
    assert all(
        f"t={charts.format_t(t)}" in label
        for label, t in zip(bars.layout.xaxis.ticktext, tvals, strict=True)
    )
    groups = charts.category_groups(analysis.universe, results.params.index)
    assert [g[0] for g in groups][:3] == ["small-cap", "large/core", "value"]
    heat = charts.beta_heatmap(results.params, results.tvalues, groups)
    separators = [s for s in heat.layout.shapes if s.type == "line"]
    assert len(separators) == len(groups) - 1
    assert len(heat.layout.annotations) == len(groups)
    rolling = charts.rolling_chart(analysis.rolling.plot_data(fund), ["MOM"], window=36)
    assert [t.name for t in rolling.data] == ["MOM upper", "MOM 95% band", "MOM"]
    waterfall = charts.attribution_waterfall(analysis.attribution.loc[fund])
    values = waterfall.data[0].y
    assert values[-1] == pytest.approx(analysis.attribution.loc[fund, "total"] * 100, abs=1e-3)
    assert isinstance(charts.attribution_bars(analysis.attribution), go.Figure)
    from factorxray.engine.diagnostics import factor_correlations, vif

    factors_frame = analysis.factors.drop(columns="RF")
    corr = charts.correlation_heatmap(factor_correlations(factors_frame), vif(factors_frame))
    assert "VIF" in corr.layout.yaxis.ticktext[0]


def test_same_beta_range_for_every_fund(report: Path, analysis: Analysis) -> None:
    html = report.read_text(encoding="utf-8")
    specs = json.loads(re.search(r'id="fx-figures">(.*?)</script>', html, re.S).group(1))
    bar_ranges = {
        tuple(s["layout"]["yaxis"]["range"])
        for s in specs.values()
        if s["data"] and s["data"][0]["type"] == "bar" and s["data"][0].get("orientation") != "h"
    }
    assert bar_ranges == {charts.beta_range(analysis.results.params)}


def test_rolling_terms_rules() -> None:
    t = pd.Series({"Mkt-RF": 50.0, "SMB": -3.0, "HML": 5.0, "MOM": 1.0})
    available = ["Mkt-RF", "SMB", "HML", "MOM"]
    assert charts.rolling_terms(["HML>0"], t, available) == ["HML"]
    assert charts.rolling_terms((), t, available) == ["Mkt-RF", "HML"]
    assert charts.rolling_terms((), t * 0.1, available) == ["Mkt-RF"]
    assert charts.rolling_terms(["VOL>0"], t, available) == ["Mkt-RF", "HML"]


# ---------------------------------------------------------------------------- PNG


def _is_png(path: Path) -> bool:
    from PIL import Image

    if path.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n":
        return False
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        return image.size[0] >= 300 and image.size[1] >= 200


def test_png_files_exist_and_are_valid(report: Path, analysis: Analysis) -> None:
    folder = report.parent / "png"
    funds = list(analysis.results.params.index)
    expected = {"heatmap_betas.png", "factor_correlations.png", "attribution.png"}
    expected |= {f"betas_{f}.png" for f in funds}
    expected |= {f"rolling_{f}.png" for f in funds if f in analysis.rolling.funds}
    found = {p.name for p in folder.glob("*.png")}
    assert found == expected
    for path in folder.glob("*.png"):
        assert _is_png(path), path.name
    html = report.read_text(encoding="utf-8")
    assert 'href="png/betas_SPY.png"' in html and 'href="png/heatmap_betas.png"' in html


def test_png_in_one_process_and_without_png(
    analysis: Analysis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACTORXRAY_PNG_PROCESSES", "1")
    written = static_png.write_pngs(analysis, tmp_path / "png")
    assert written["bars:SPY"] == "png/betas_SPY.png"
    assert all(_is_png(tmp_path / name) for name in written.values())
    index = write_report(analysis, tmp_path / "nopng", png=False)
    assert not (index.parent / "png").exists()
    assert "png/betas_SPY.png" not in index.read_text(encoding="utf-8")


def _png_set(analysis: Analysis) -> set[str]:
    funds = list(analysis.results.params.index)
    names = {"heatmap_betas.png", "factor_correlations.png", "attribution.png"}
    names |= {f"betas_{f}.png" for f in funds}
    return names | {f"rolling_{f}.png" for f in funds if f in analysis.rolling.funds}


def _check_pngs(folder: Path, analysis: Analysis, written: dict[str, str]) -> None:
    assert {Path(p).name for p in written.values()} == _png_set(analysis)
    assert {p.name for p in folder.glob("*.png")} == _png_set(analysis)
    assert all(_is_png(p) for p in folder.glob("*.png"))
    assert not list(folder.glob(".*")), "temporary files left behind"


@pytest.fixture
def forking(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[int]]:
    """Force the forked path and record, in the parent, who drew which half."""
    if not hasattr(static_png.os, "fork"):
        pytest.skip("no os.fork on this platform")
    monkeypatch.delenv("FACTORXRAY_PNG_PROCESSES", raising=False)
    monkeypatch.setattr(static_png, "_can_fork", lambda data: True)
    calls: dict[str, list[int]] = {"fork": [], "parent_parts": []}
    parent = static_png.os.getpid()
    real_fork, real_draw = static_png.os.fork, static_png._draw_part

    def fork() -> int:
        pid = real_fork()
        if pid:
            calls["fork"].append(pid)
        return pid

    def draw_part(data, out, names, dpi, part, parts):
        if static_png.os.getpid() == parent:
            calls["parent_parts"].append((part, parts))
        return real_draw(data, out, names, dpi, part, parts)

    monkeypatch.setattr(static_png.os, "fork", fork)
    monkeypatch.setattr(static_png, "_draw_part", draw_part)
    return calls


def _open_fds() -> int:
    return len(list(Path("/proc/self/fd").iterdir())) if Path("/proc/self/fd").exists() else 0


def test_png_forked_helper_draws_half(
    analysis: Analysis, tmp_path: Path, forking: dict[str, list]
) -> None:
    fds = _open_fds()
    written = static_png.write_pngs(analysis, tmp_path / "png")
    assert len(forking["fork"]) == 1
    assert forking["parent_parts"] == [(0, 2)]  # the child drew the other half
    _check_pngs(tmp_path / "png", analysis, written)
    assert _open_fds() == fds
    with pytest.raises(ChildProcessError):  # reaped
        static_png.os.waitpid(forking["fork"][0], static_png.os.WNOHANG)


def test_png_failing_helper_falls_back(
    analysis: Analysis, tmp_path: Path, forking: dict[str, list], monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = static_png.os.getpid()
    drawing = static_png._draw_part

    def child_fails(data, out, names, dpi, part, parts):
        if static_png.os.getpid() != parent:
            raise RuntimeError("the helper breaks")
        return drawing(data, out, names, dpi, part, parts)

    monkeypatch.setattr(static_png, "_draw_part", child_fails)
    fds = _open_fds()
    written = static_png.write_pngs(analysis, tmp_path / "png")
    assert len(forking["fork"]) == 1
    assert forking["parent_parts"] == [(0, 2), (1, 2)]  # the fallback drew the child's half
    _check_pngs(tmp_path / "png", analysis, written)
    assert _open_fds() == fds


def test_png_hung_helper_is_killed(
    analysis: Analysis, tmp_path: Path, forking: dict[str, list], monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    parent = static_png.os.getpid()
    drawing = static_png._draw_part

    def child_hangs(data, out, names, dpi, part, parts):
        if static_png.os.getpid() != parent:
            (out / ".betas_SPY.png.half_written.tmp").write_bytes(b"\x89PNG")  # cut off
            time.sleep(120)
        return drawing(data, out, names, dpi, part, parts)

    monkeypatch.setattr(static_png, "_draw_part", child_hangs)
    monkeypatch.setattr(static_png, "CHILD_TIMEOUT", 2.0)
    started = time.monotonic()
    written = static_png.write_pngs(analysis, tmp_path / "png")
    assert time.monotonic() - started < 30
    assert forking["parent_parts"] == [(0, 2), (1, 2)]
    _check_pngs(tmp_path / "png", analysis, written)
    with pytest.raises(ChildProcessError):  # killed and reaped: no zombie
        static_png.os.waitpid(forking["fork"][0], static_png.os.WNOHANG)


def test_png_fork_failure_falls_back(
    analysis: Analysis, tmp_path: Path, forking: dict[str, list], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_fork() -> int:
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(static_png.os, "fork", no_fork)
    fds = _open_fds()
    written = static_png.write_pngs(analysis, tmp_path / "png")
    assert forking["parent_parts"] == [(0, 1)]
    _check_pngs(tmp_path / "png", analysis, written)
    assert _open_fds() == fds  # both pipe ends closed


def test_png_fork_only_without_other_threads(
    analysis: Analysis, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    data = prepare(analysis)
    monkeypatch.delenv("FACTORXRAY_PNG_PROCESSES", raising=False)
    # threads other tests of the session may have left behind are not this test's business:
    # count only the main thread and the one this test starts
    started: list[threading.Thread] = []
    monkeypatch.setattr(
        static_png.threading, "active_count", lambda: 1 + sum(t.is_alive() for t in started)
    )
    monkeypatch.setattr(static_png.os, "cpu_count", lambda: 4)
    monkeypatch.setattr(static_png, "_BASELINE_THREADS", 3)
    monkeypatch.setattr(static_png, "_native_threads", lambda: 3)
    assert static_png._can_fork(data)
    monkeypatch.setattr(static_png, "_native_threads", lambda: 4)  # a native thread appeared
    assert not static_png._can_fork(data)
    monkeypatch.setattr(static_png, "_native_threads", lambda: 3)
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    started.append(thread)
    thread.start()
    try:
        assert not static_png._can_fork(data)  # a Python thread is running
    finally:
        stop.set()
        thread.join()
    monkeypatch.setenv("FACTORXRAY_PNG_PROCESSES", "1")
    assert not static_png._can_fork(data)


def test_png_writes_are_atomic_palette_pngs(
    analysis: Analysis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PIL import Image

    monkeypatch.setenv("FACTORXRAY_PNG_PROCESSES", "1")
    atomic: list[Path] = []
    real = static_png.atomic_write_bytes

    def spy(path: Path, data: bytes) -> None:
        atomic.append(path)
        real(path, data)

    monkeypatch.setattr(static_png, "atomic_write_bytes", spy)
    written = static_png.write_pngs(analysis, tmp_path / "png")
    assert sorted(atomic) == sorted(tmp_path / name for name in written.values())
    with Image.open(tmp_path / written["heatmap"]) as image:
        assert image.mode == "P" and len(image.getcolors()) <= 128


def test_png_names_are_file_safe() -> None:
    names = static_png.png_names(["A/B", "A_B", "../X"])
    assert names["bars:A/B"] == "png/betas_A_B.png"
    assert names["bars:A_B"] == "png/betas_A_B_2.png"
    assert names["bars:../X"] == "png/betas_X.png"


# ---------------------------------------------------------------------------- edge cases


def test_report_without_rolling_windows(analysis: Analysis, tmp_path: Path) -> None:
    from dataclasses import replace

    index = write_report(replace(analysis, rolling=None), tmp_path, png=True)
    html = index.read_text(encoding="utf-8")
    assert "no rolling window to estimate" in html
    assert not list((tmp_path / "png").glob("rolling_*.png"))
    assert (tmp_path / "png" / "betas_SPY.png").exists()


def test_small_report_of_two_funds(tmp_path: Path) -> None:
    excess, factors = load_engine_data()
    total = excess[["SPY", "MTUM"]].add(factors["RF"], axis=0)
    universe = presets.get("smart-beta-20").subset(["SPY", "MTUM"])
    small = build_analysis(universe, factors, total)
    index = write_report(small, tmp_path)
    html = index.read_text(encoding="utf-8")
    assert _overview_funds(html) == ["SPY", "MTUM"]
    assert 'id="not-analyzed"' not in html
    assert {p.name for p in (tmp_path / "png").glob("*.png")} == {
        "heatmap_betas.png",
        "factor_correlations.png",
        "attribution.png",
        "betas_SPY.png",
        "betas_MTUM.png",
        "rolling_SPY.png",
        "rolling_MTUM.png",
    }
    summary = _strict_json(tmp_path / "summary.json")
    assert summary["not_analyzed"] == {}
    assert summary["run"]["price_source"] is None


# ---------------------------------------------------------------------------- rules


def _expected_class(factor: str, beta: float, t: float, q: float, fdr: float | None) -> str:
    """The verdicts' rule, written out: |t| >= 2 (and q <= fdr), then |beta - pivot| >= 0.1."""
    if not (math.isfinite(beta) and math.isfinite(t)):
        return "missing"
    if abs(t) < 2 or (fdr is not None and math.isfinite(q) and q > fdr):
        return "not significant"
    pivot = 1.0 if factor == "Mkt-RF" else 0.0
    return "material" if abs(beta - pivot) >= 0.1 - 1e-12 else "faint"


def _classes_match(analysis: Analysis, classes: pd.DataFrame, fdr: float | None) -> None:
    results = analysis.results
    for fund in results.params.index:
        for factor in classes.columns:
            expected = _expected_class(
                factor,
                results.params.at[fund, factor],
                results.tvalues.at[fund, factor],
                analysis.qvalues.at[fund, factor],
                fdr,
            )
            assert classes.at[fund, factor] == expected, (fund, factor)


def test_one_definition_of_significance(analysis: Analysis) -> None:
    """Charts, tables and verdicts draw a beta by the same rule (stars are not in the page)."""
    from dataclasses import replace

    data = prepare(analysis)
    _classes_match(analysis, data.classes, None)
    counts = data.classes.stack().value_counts()
    assert counts["material"] and counts["faint"] and counts["not significant"]
    for fund, verdict in analysis.verdicts.items():
        for factor, _, _ in verdict.faint:
            assert data.classes.at[fund, factor] == "faint"
        for factor, _, _ in (*verdict.unintended, *verdict.implied):
            assert data.classes.at[fund, factor] == "material"
        for check in verdict.checks:
            if check.tilt.is_multi or check.tilt.threshold != 0 or check.status == "not tested":
                continue
            kind = data.classes.at[fund, check.tilt.factor]
            if check.status == "delivers":
                assert kind == "material"
            elif check.status == "faint":
                assert kind == "faint"
            elif check.status == "weak":
                assert kind == "not significant"
    # With an FDR level the same cells need q <= fdr too, in the charts as in the verdicts.
    strict = replace(analysis, meta={**analysis.meta, "fdr": 0.001})
    strict_classes = prepare(strict).classes
    _classes_match(analysis, strict_classes, 0.001)
    demoted = (data.classes != "not significant") & (strict_classes == "not significant")
    assert demoted.to_numpy().any()  # real cells with |t| >= 2 but q > 0.001


def html_escape(text: str) -> str:
    """Text as jinja2's autoescape writes it."""
    from markupsafe import escape

    return str(escape(text))


def _figures(html: str) -> dict[str, dict]:
    return json.loads(re.search(r'id="fx-figures">(.*?)</script>', html, re.S).group(1))


def _card(html: str, fund: str) -> str:
    start = html.index('<article class="card fund" id="fund-')
    start = html.index(f'data-fund="{fund}">', start)
    return html[start : html.index("</article>", start)]


def test_bars_and_heatmap_follow_the_rule(report: Path, analysis: Analysis) -> None:
    html = report.read_text(encoding="utf-8")
    specs = _figures(html)
    data = prepare(analysis)
    for fund in ("SPY", "GSLC", "USMV", "MTUM"):
        bars = specs[re.search(r'data-fig="([^"]+)"', _card(html, fund)).group(1)]["data"][0]
        kinds = data.classes.loc[fund, bars["x"]].tolist()
        assert bars["marker"]["opacity"] == [
            charts.FADED_OPACITY if k == "not significant" else 1.0 for k in kinds
        ]
        assert bars["marker"]["line"]["width"] == [1.5 if k == "faint" else 0 for k in kinds]
        q = analysis.qvalues.loc[fund, bars["x"]]
        ticks = specs[re.search(r'data-fig="([^"]+)"', _card(html, fund)).group(1)]["layout"]
        marked = [charts.FDR_MARK in t for t in ticks["xaxis"]["ticktext"]]
        assert marked == (q <= 0.05).tolist()
    assert "faint" in data.classes.loc["GSLC"].tolist()
    heatmap = specs[re.search(r'id="heatmap".*?data-fig="([^"]+)"', html, re.S).group(1)]
    names = [trace["name"] for trace in heatmap["data"]]
    assert names == ["not significant", "faint", "significant"]
    faint = heatmap["data"][1]
    funds = [f for _, members in data.groups for f in members]
    factors = heatmap["data"][0]["x"]
    for i, fund in enumerate(funds):
        for j, factor in enumerate(factors):
            assert (faint["z"][i][j] is not None) == (data.classes.at[fund, factor] == "faint")
    legend = html[html.index('id="legend"') : html.index("</header>")]
    assert "significant: |t| &gt;= 2" in legend and "faint" in legend and charts.FDR_MARK in legend


def test_beta_class_examples() -> None:
    rules = Rules()
    assert charts.beta_class("HML", 0.04, 3.0, 0.01, rules) == "faint"
    assert charts.beta_class("HML", 0.4, 3.0, 0.2, Rules(fdr=0.05)) == "not significant"
    assert charts.beta_class("HML", 0.4, 3.0, 0.01, Rules(fdr=0.05)) == "material"
    assert charts.beta_class("Mkt-RF", 0.85, 40.0, 0.0, rules) == "material"
    assert charts.beta_class("Mkt-RF", 1.05, 40.0, 0.0, rules) == "faint"
    assert charts.beta_class("VOL", float("nan"), float("nan"), None, rules) == "missing"
    assert charts.rules_from_meta({"t_threshold": 2.5, "min_beta": 0.2, "fdr": 0.1}) == Rules(
        2.5, 0.2, 0.1
    )
    assert charts.rules_from_meta({}) == Rules()


# ---------------------------------------------------------------------------- regions, models, time


def test_each_fund_on_its_own_region(mixed_report: Path, mixed: Analysis) -> None:
    summary = _strict_json(mixed_report.parent / "summary.json")
    records = {r["fund"]: r for r in summary["funds"]}
    used = {fund: (r["region"], r["model"]) for fund, r in records.items()}
    assert used == {
        **dict.fromkeys(MIXED_US, ("us", "xray7")),
        "VEA": ("developed_ex_us", "ff6"),
        "EFAV": ("developed_ex_us", "ff6"),
        "EWJ": ("japan", "ff6"),
        "VGK": ("us", "xray7"),
    }
    six = ["Mkt-RF", "SMB", "HML", "RMW", "CMA", "MOM"]
    for fund in ("VEA", "EFAV", "EWJ"):
        record = records[fund]
        assert record["model_note"] == mixed.fund_factors[fund]["note"]
        assert "VOL" in record["model_note"]
        assert record["factors"] == six and list(record["exposures"]) == ["alpha", *six]
        assert record["factors_vintage"] == mixed.factors_for(fund).attrs["vintages"]
        assert record["fund_region"] == record["region"]
    assert set(records["EWJ"]["factors_vintage"]) == {"Japan_5_Factors", "Japan_Mom_Factor"}
    assert records["SPY"]["model_note"] is None and records["SPY"]["factors"] == [*six, "VOL"]
    run = summary["run"]
    assert run["regions"] == ["developed_ex_us", "japan", "us"]
    assert run["models"] == ["capm", "ff3", "carhart", "ff5", "ff6", "xray7"]
    assert run["factors_by_region"]["japan"]["funds"] == ["EWJ"]
    assert run["factors_by_region"]["japan"]["model"] == "ff6"
    assert run["factors"] == [*six, "VOL"]  # the union; a fund's own list is per fund

    frame = pd.read_csv(mixed_report.parent / "exposures.csv")
    _check_qvalues(frame, mixed)
    assert not ((frame["fund"] == "EWJ") & (frame["factor"] == "VOL")).any()
    for fund, (region, model) in used.items():
        rows = frame[frame["fund"] == fund]
        assert set(rows["region"]) == {region} and set(rows["model"]) == {model}


def test_own_region_betas_equal_an_independent_ols(mixed_report: Path, mixed: Analysis) -> None:
    """EWJ's betas are those of an OLS of its excess return on Japan's published factors."""
    import statsmodels.api as sm

    frame = pd.read_csv(mixed_report.parent / "exposures.csv").set_index(["fund", "factor"])
    summary = _strict_json(mixed_report.parent / "summary.json")
    records = {r["fund"]: r for r in summary["funds"]}
    for fund, region in (("EWJ", "japan"), ("VEA", "developed_ex_us"), ("SPY", "us")):
        factors = mixed.factors_by_region[region]
        names = [c for c in factors.columns if c != "RF"]
        excess = (mixed.returns[fund] - factors["RF"]).rename("y")
        sample = pd.concat([excess, factors[names]], axis=1, join="inner").dropna()
        sample = sample.loc[pd.Period(records[fund]["start"]) : pd.Period(records[fund]["end"])]
        assert len(sample) == records[fund]["nobs"]
        fit = sm.OLS(sample["y"], sm.add_constant(sample[names])).fit()
        ours = frame.loc[fund].loc[["alpha", *names], "beta"].to_numpy()
        np.testing.assert_allclose(ours, fit.params.to_numpy(), rtol=0, atol=1e-10)
        assert fit.rsquared == pytest.approx(records[fund]["rsquared"], abs=1e-10)


def test_region_fit_and_warnings(mixed_report: Path, mixed: Analysis) -> None:
    summary = _strict_json(mixed_report.parent / "summary.json")
    records = {r["fund"]: r for r in summary["funds"]}
    vgk = records["VGK"]  # a European fund without a region: judged on US factors
    fit = vgk["region_fit"]
    assert fit == pytest.approx(mixed.region_fit["VGK"], abs=1e-12)
    assert {"us", "europe", "developed_ex_us", "japan", "emerging"} <= set(fit)
    assert vgk["better_region"] == "europe" == max(fit, key=fit.get)
    assert fit["europe"] - fit["us"] >= 0.05
    assert vgk["warnings"] == mixed.warnings["VGK"]
    assert any("europe factors fit better than us" in w for w in vgk["warnings"])
    assert records["SPY"]["better_region"] is None and records["SPY"]["warnings"] == []
    assert records["EWJ"]["region_fit"]["japan"] == max(records["EWJ"]["region_fit"].values())
    assert summary["run"]["n_with_warnings"] == sum(1 for r in records.values() if r["warnings"])

    html = mixed_report.read_text(encoding="utf-8")
    box = html[html.index('<section id="warnings"') : html.index('<section id="overview"')]
    assert f"Warnings ({sum(len(r['warnings']) for r in records.values())})" in box
    for fund, record in records.items():
        for text in record["warnings"]:
            assert html_escape(text) in box
            assert html_escape(text) in _card(html, fund)
        mark = re.search(rf'<tr data-fund="{fund}">(.*?)</tr>', html, re.S).group(1)
        assert ('class="warn-mark"' in mark) == bool(record["warnings"])
    regions = _card(html, "VGK")[_card(html, "VGK").index('class="mini region-table"') :]
    europe = re.search(r'<tr data-region="europe">(.*?)</tr>', regions, re.S).group(1)
    assert "fits better" in europe and f"{fit['europe']:.3f}" in europe
    assert re.search(r'<tr data-region="us" class="used">', regions)


def test_verdict_by_model_and_over_time(mixed_report: Path, mixed: Analysis) -> None:
    summary = _strict_json(mixed_report.parent / "summary.json")
    records = {r["fund"]: r for r in summary["funds"]}
    hdv = records["HDV"]
    # VOL absorbs HDV's value: weak under xray7, delivered under the models without VOL
    assert hdv["verdict"] == "weak"
    assert hdv["verdict_by_model"]["xray7"] == "weak"
    assert hdv["verdict_by_model"]["ff5"] == "delivers"
    assert hdv["verdict_by_model"]["capm"] == "not tested"  # CAPM has no HML
    tilt = hdv["tilts"][0]
    assert tilt["tilt"] == "HML>0" and tilt["depends_on_model"] is True
    assert tilt["by_model"] == {m: s for m, s in hdv["verdict_by_model"].items()}
    # share of windows, recomputed from the rolling regressions by the verdict's rule
    params = mixed.rolling.params.xs("HDV", level=0)["HML"]
    se = mixed.rolling.bse.xs("HDV", level=0)["HML"]
    delivered = (params > 0) & (params / se >= 2) & (params >= 0.1)
    assert tilt["share_of_windows"] == pytest.approx(delivered.mean(), abs=1e-12)
    assert tilt["last_window_beta"] == pytest.approx(params.iloc[-1], abs=1e-15)
    assert tilt["last_window_end"] == str(params.index[-1])
    drift = mixed.drift.loc[("HDV", "HML")]
    assert tilt["drift_p"] == drift["p_value"] and hdv["drift"]["p_value"] == drift["p_value"]
    assert hdv["drift"]["break_period"] == str(drift["break_period"]) == tilt["drift_break"]
    assert hdv["drift"]["betas"]["HML"] == {"before": drift["before"], "after": drift["after"]}
    assert records["MTUM"]["tilts"][0]["by_model"]["ff5"] == "not tested"  # no MOM in ff5
    vea = records["VEA"]
    assert vea["verdict_by_model"]["xray7"] is None and "VOL" in vea["reason_by_model"]["xray7"]
    assert vea["drift"] is None  # a core fund: no labelled beta to test

    html = mixed_report.read_text(encoding="utf-8")
    card = _card(html, "HDV")
    ladder = card[card.index('class="mini ladder-table"') : card.index("</table>")]
    assert re.findall(r'<tr data-model="([^"]+)"', ladder) == summary["run"]["models"]
    rows = dict(re.findall(r'<tr data-model="([^"]+)"[^>]*>(.*?)</tr>', ladder, re.S))
    assert re.search(r'<tr data-model="xray7" class="used">', ladder)
    assert 'data-status="weak"' in rows["xray7"] and f"{tilt['beta']:.2f}" in rows["xray7"]
    assert 'data-status="delivers"' in rows["ff5"]
    assert rows["capm"].count('data-status="not tested"') == 2  # the tilt and the verdict
    time = card[card.index('class="mini time-table"') :]
    share = f"{tilt['share_of_windows']:.0%} of {tilt['windows']} windows"
    assert share in time and f"{tilt['last_window_beta']:.2f} (to 2025-11)" in time
    assert f"{drift['before']:.2f} → {drift['after']:.2f}" in time
    assert f"break after {drift['break_period']}" in time and "style drift" in time
    vea_card = _card(html, "VEA")
    assert "not run: xray7 needs VOL" in vea_card


def test_overview_alpha_t_p_and_robustness(mixed_report: Path, mixed: Analysis) -> None:
    html = mixed_report.read_text(encoding="utf-8")
    results = mixed.results
    for fund in mixed.analyzed:
        row = re.search(rf'<tr data-fund="{fund}">(.*?)</tr>', html, re.S).group(1)
        for col, table in (("alpha_t", results.tvalues), ("alpha_p", results.pvalues)):
            value = re.search(rf'data-col="{col}"[^>]*data-value="([^"]+)"', row).group(1)
            assert float(value) == pytest.approx(table.loc[fund, "alpha"], abs=1e-12)
        card = _card(html, fund)
        t_text = charts.format_t(results.tvalues.loc[fund, "alpha"])
        assert f"t <b>{t_text}</b>" in card
    rows = {
        fund: re.search(rf'<tr data-fund="{fund}">.*?data-col="robust"[^>]*>([^<]*)<', html, re.S)
        .group(1)
        .strip()
        for fund in ("HDV", "MTUM", "VEA")
    }
    hdv = mixed.verdicts["HDV"].checks[0].robustness
    assert rows["HDV"].startswith("1/5 models")  # weak only under xray7 of 5 that test HML
    assert f"{hdv['share_of_windows']:.0%} windows" in rows["HDV"]
    assert "drift 2019-09" in rows["HDV"] or "no drift" in rows["HDV"]
    assert rows["MTUM"].startswith("3/3 models")
    assert rows["VEA"].startswith("4/4 models")  # xray7 not run, capm not tested


def test_header_states_rules_regions_and_models(mixed_report: Path, mixed: Analysis) -> None:
    html = mixed_report.read_text(encoding="utf-8").replace("<wbr>", "")  # wrap marks
    legend = Rules(2.0, 0.1).legend().lstrip("* ")
    assert f"<dt>Rules</dt><dd>{html_escape(legend)}</dd>" in html
    assert (
        "<dt>Regions</dt><dd>us (6 funds), developed_ex_us (2 funds), japan (1 fund)</dd>" in html
    )
    assert "<dt>Model ladder</dt><dd>capm, ff3, carhart, ff5, ff6, xray7</dd>" in html
    assert (
        "<dt>Model</dt><dd>xray7 (us: 6 funds); ff6 (developed_ex_us: 2 funds, japan: 1 fund)"
        in html
    )
    assert "Japan_Mom_Factor" in html  # every region's factor files are named
    assert '<span class="badge faint">faint</span>' in html  # GSLC's verdict


# ---------------------------------------------------------------------------- portfolio


class _Cells(HTMLParser):
    """Every ``data-col``/``data-value`` cell of one table, by its row's key attribute."""

    KEYS = ("data-fund", "data-term", "data-factor", "data-constraint")

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id = table_id
        self.depth = 0
        self.row: str | None = None
        self.cells: dict[str, dict[str, str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table" and a.get("id") == self.table_id:
            self.depth = 1
        elif self.depth and tag == "tr":
            self.row = next((a[k] for k in self.KEYS if a.get(k) is not None), None)
        elif self.depth and self.row is not None and "data-col" in a and "data-value" in a:
            self.cells.setdefault(self.row, {})[str(a["data-col"])] = str(a["data-value"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.depth = 0


def table_values(page: str, table_id: str) -> dict[str, dict[str, float | None]]:
    parser = _Cells(table_id)
    parser.feed(page)
    assert parser.cells, f"no table {table_id}"
    return {
        row: {col: float(v) if v else None for col, v in cells.items()}
        for row, cells in parser.cells.items()
    }


def _same(value: float | None, expected: float) -> bool:
    if value is None:
        return not math.isfinite(expected)
    return math.isclose(value, expected, rel_tol=1e-12, abs_tol=1e-15)


@pytest.fixture(scope="module")
def portfolio_report(tmp_path_factory: pytest.TempPathFactory):
    """SPY 60% + VLUE 20% + MTUM 20%, bought and held, against SPY (the bundled snapshot)."""
    import factorxray as fx
    from factorxray.data.cache import Cache
    from factorxray.portfolio_pipeline import write_portfolio_report

    result = fx.analyze_portfolio(
        {"SPY": 0.6, "VLUE": 0.2, "MTUM": 0.2},
        rebalance="buy-and-hold",
        benchmark="SPY",
        offline=True,
        cache=Cache(tmp_path_factory.mktemp("portfolio-cache")),
        models=None,
        region_fit=False,
        drift=False,
    )
    index = write_portfolio_report(result, tmp_path_factory.mktemp("portfolio-report"), png=False)
    return result, index


@pytest.fixture(scope="module")
def blend_report(tmp_path_factory: pytest.TempPathFactory):
    """An infeasible target (HML >= 0.9: 0.349 is the most these funds reach)."""
    import factorxray as fx
    from factorxray.data.cache import Cache
    from factorxray.portfolio_pipeline import write_blend_report

    blend = fx.find_blend(
        "SMB>=0.3,HML>=0.9",
        "VBR,IJR,VTV,VLUE,SPY,MTUM,USMV",
        offline=True,
        cache=Cache(tmp_path_factory.mktemp("blend-cache")),
        models=None,
    )
    index = write_blend_report(blend, tmp_path_factory.mktemp("blend-report"), png=False)
    return blend, index


def test_portfolio_weights_are_the_average_weights_held(portfolio_report) -> None:
    result, index = portfolio_report
    page = index.read_text(encoding="utf-8")
    assert 'id="portfolio"' in page and "Average weight held" in page
    cells = table_values(page, "portfolio-weights-table")
    weights = result.weights_frame()
    assert list(cells) == list(weights.index)
    for fund, row in weights.iterrows():
        assert _same(cells[fund]["weight"], row["weight"])
        assert _same(cells[fund]["weight_used"], row["weight_used"])
    # bought and held: the weights drift, so the average held differs from the target
    assert not np.allclose(weights["weight"], weights["weight_used"], atol=1e-4)


def test_portfolio_exposures_and_contributions(portfolio_report) -> None:
    result, index = portfolio_report
    page = index.read_text(encoding="utf-8")
    frame = result.exposures_frame()
    cells = table_values(page, "portfolio-exposures-table")
    assert list(cells) == list(frame.index)
    for term, row in frame.iterrows():
        for col in ("regressed", "se", "t", "p", "implied", "gap"):
            assert _same(cells[term][col], float(row[col])), (term, col)
    betas = result.fund_betas_frame()
    factors = [c for c in betas.columns if c not in ("weight", "alpha")]
    contributions = table_values(page, "portfolio-contributions-table")
    for fund in betas.index:
        for factor in factors:
            expected = betas.loc[fund, "weight"] * betas.loc[fund, factor]
            assert _same(contributions[fund][factor], expected), (fund, factor)
    for factor in factors:  # the contributions add up to the implied exposures
        total = sum(contributions[f][factor] or 0.0 for f in betas.index)
        assert total == pytest.approx(contributions["implied"][factor], abs=1e-12)
        assert _same(contributions["implied"][factor], frame.loc[factor, "implied"])


def test_portfolio_risk_and_performance(portfolio_report) -> None:
    result, index = portfolio_report
    page = index.read_text(encoding="utf-8")
    risk = result.risk_frame()
    cells = table_values(page, "portfolio-risk-table")
    assert next(iter(cells)) == result.name  # the portfolio first
    assert set(cells) == set(risk["fund"])
    for _, row in risk.iterrows():
        assert _same(cells[row["fund"]][row["component"]], row["share"])
        assert _same(cells[row["fund"]]["volatility"], row["volatility"])
    for fund, shares in cells.items():
        parts = [v for k, v in shares.items() if k != "volatility" and v is not None]
        assert sum(parts) == pytest.approx(1.0, abs=1e-9), fund
    perf = result.performance_frame()
    cells = table_values(page, "portfolio-performance-table")
    columns = (
        "annual_return",
        "annual_volatility",
        "sharpe",
        "max_drawdown",
        "active_return",
        "tracking_error",
        "information_ratio",
    )
    for fund, row in perf.iterrows():
        for col in columns:
            assert _same(cells[fund][col], float(row[col])), (fund, col)
    assert "Tracking error" in page and "benchmark</span>" in page
    # the three charts, each a valid plotly figure
    specs = json.loads(
        re.search(r'id="fx-figures">(.*?)</script>', page, re.S)
        .group(1)
        .replace("\\u003c", "<")
        .replace("\\u003e", ">")
        .replace("\\u0026", "&")
    )
    section = page[page.index('<section id="portfolio"') :]
    section = section[: section.index("</section>")]
    ids = re.findall(r'data-fig="(f\d+)"', section)
    assert len(ids) == 3 and 'data-charts="3"' in section
    import plotly.graph_objects as go

    for key in ids:
        go.Figure(specs[key])  # validates
        assert {t["type"] for t in specs[key]["data"]} <= {"bar", "scatter"}
    bars = specs[ids[0]]["data"][0]
    assert bars["error_y"]["array"] == [pytest.approx(2 * s, abs=1e-4) for s in frame_se(result)]


def frame_se(result) -> list[float]:
    return list(result.exposures_frame().drop(index="alpha")["se"])


def test_blend_section_targets_constraints_and_banner(blend_report) -> None:
    blend, index = blend_report
    page = index.read_text(encoding="utf-8")
    assert not blend.feasible
    banner = page[page.index('id="blend-infeasible"') :]
    banner = banner[: banner.index("</div>")]
    assert (
        'role="alert"'
        in page[page.index('<section id="blend"') : page.index('id="blend-infeasible"') + 40]
    )
    assert html_escape(blend.message) in banner
    frame = blend.to_frame()
    cells = table_values(page, "blend-target-table")
    assert list(cells) == list(frame.index)
    for factor, row in frame.iterrows():
        for col in ("achieved", "se", "t", "out_of_sample"):
            assert _same(cells[factor][col], float(row[col])), (factor, col)
    cells = table_values(page, "blend-constraints-table")
    for _, row in blend.constraints.iterrows():
        for col in ("achieved", "shortfall", "best"):
            assert _same(cells[row["constraint"]][col], float(row[col])), col
    assert cells["HML>=0.9"]["best"] == pytest.approx(0.349, abs=5e-4)
    assert 'id="portfolio"' in page  # the blend X-rayed as a portfolio
    assert page.count('href="#blend"') == 1


# ---------------------------------------------------------------------------- many funds


@pytest.fixture(scope="module")
def wide() -> Analysis:
    """500 funds: the 20 real ones, 25 times each with 1% a month of noise (as bench/)."""
    excess, factors = load_engine_data()
    total = excess.add(factors["RF"], axis=0)
    rng = np.random.default_rng(0)
    funds, columns = [], {}
    for k in range(25):
        for fund in presets.get("smart-beta-20").funds:
            ticker = f"{fund.ticker}{k:02d}"
            funds.append(Fund(ticker, category=fund.category, tilts=list(fund.tilts) or "none"))
            series = total[fund.ticker]
            noise = rng.normal(0.0, 0.01, len(series))
            columns[ticker] = series + np.where(series.notna(), noise, np.nan)
    return build_analysis(Universe("wide", funds), factors, pd.DataFrame(columns), drift=False)


def _cards(page: str) -> list[str]:
    return re.findall(r'<article class="card fund" id="fund-\d+" data-fund="([^"]+)"', page)


def test_many_funds_report_is_bounded(wide: Analysis, tmp_path: Path, monkeypatch) -> None:
    from factorxray.report import MAX_CARDS, card_funds

    drawn: list[list[str]] = []
    monkeypatch.setattr(
        static_png, "write_pngs", lambda data, out: drawn.append(list(data.funds)) or {}
    )
    index = write_report(wide, tmp_path, png=True)
    page = index.read_text(encoding="utf-8")
    data = prepare(wide)
    expected = card_funds(wide, data.funds)
    flagged = [f for f in data.funds[MAX_CARDS:] if f in expected]
    assert expected[:MAX_CARDS] == data.funds[:MAX_CARDS]
    for fund in flagged:  # beyond the first N: warnings or a contradicting verdict only
        verdict = wide.verdicts[fund]
        assert wide.warnings.get(fund) or "contradicts" in str(verdict.to_dict())
    assert _cards(page) == expected
    assert drawn == [expected]  # per-fund PNGs only for the funds with a card
    left_out = len(data.funds) - len(expected)
    note = re.search(r'id="cards-note"[^>]*>([^<]*)<', page).group(1)
    assert f"{left_out} funds without a card" in note and "--all-cards" in note
    overview = re.findall(r'<tr data-fund="([^"]+)">', page)
    assert len(set(overview)) == 500  # the overview keeps every fund
    assert index.stat().st_size < 5 * 1024 * 1024


def test_all_cards_writes_every_card(wide: Analysis, tmp_path: Path) -> None:
    page = write_report(wide, tmp_path, png=False, all_cards=True).read_text(encoding="utf-8")
    assert len(_cards(page)) == 500
    assert 'id="cards-note"' not in page


def test_few_funds_are_never_summarized(analysis: Analysis) -> None:
    from factorxray.report import card_funds

    data = prepare(analysis, all_cards=False)
    assert data.cards == data.funds == card_funds(analysis, data.funds)
