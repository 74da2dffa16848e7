"""Plain-words glossary of factors and terms, and the methods text of the report.

Everything here is plain text (no markup): the template escapes it like any other string.
Every period word and annualization factor comes from the run's
:class:`~factorxray.report.periods.PeriodWords` (months and 12 for a monthly run, weeks and
52 for a weekly one, days and 252 for a daily one).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from factorxray.factors.frequency import min_periods
from factorxray.report.periods import PeriodWords, period_words

__all__ = ["FACTORS", "TERMS", "factor_label", "methods", "terms"]

#: Factor -> (short name, what it means in plain words).
FACTORS: dict[str, tuple[str, str]] = {
    "Mkt-RF": (
        "Market",
        "The stock market's return minus the one-month Treasury bill rate. A beta of 1 means "
        "the fund moves one for one with the market; below 1 it swings less, above 1 more.",
    ),
    "SMB": (
        "Size (small minus big)",
        "Small companies minus big companies. Positive: the fund leans to small caps; "
        "negative: to large and mega caps.",
    ),
    "HML": (
        "Value (high minus low book-to-market)",
        "Cheap stocks (high book value for their price) minus expensive 'growth' stocks. "
        "Positive: a value tilt; negative: a growth tilt.",
    ),
    "RMW": (
        "Profitability (robust minus weak)",
        "Highly profitable companies minus weakly profitable ones; the academic stand-in for "
        "'quality'. Positive: the fund holds the more profitable firms.",
    ),
    "CMA": (
        "Investment (conservative minus aggressive)",
        "Firms that grow their assets slowly minus firms that invest aggressively. Positive: "
        "mature, conservative companies; negative: fast-expanding ones.",
    ),
    "MOM": (
        "Momentum (winners minus losers)",
        "Stocks that rose most over the past year (skipping the last month) minus those that "
        "fell most. Positive: the fund holds recent winners.",
    ),
    "VOL": (
        "Low volatility (low minus high variance)",
        "Low-variance stocks minus high-variance stocks, built from Ken French's size and "
        "variance sorted portfolios: (small low-var + big low-var)/2 - (small high-var + big "
        "high-var)/2. Positive: the fund holds calmer stocks. US data only.",
    ),
}


def terms(period: PeriodWords | None = None) -> dict[str, str]:
    """Term -> plain-words meaning, in the words of the run's period.

    Parameters
    ----------
    period : PeriodWords, optional
        The run's period (default monthly).

    Returns
    -------
    dict of str to str

    Examples
    --------
    >>> terms(period_words("weekly"))["Rolling betas"][:60]
    'The same regression over a moving window (156 weeks by defau'
    """
    p = period or period_words()
    n = p.per_year_text
    return {
        "Beta": "How much the fund's excess return moves when a factor moves by one unit, "
        "holding the other factors fixed: the fund's exposure, or loading, on that factor.",
        "Alpha": f"The average {p.adjective} return the factors do not explain. Shown "
        f"{p.adjective} and annualized as {n} x the {p.adjective} alpha, everywhere in the "
        "report (overview, fund cards, return attribution), because that is the alpha that "
        "adds up with the factors' parts to the mean excess return; summary.json also gives "
        f"the compounded (1 + alpha)^{n} - 1. A small negative alpha often just reflects fees.",
        "t-value": "A beta divided by its standard error. At or above the threshold (|t| >= 2 "
        "by default) the exposure counts as significant, unlikely to be noise; below it the "
        "beta is shown faded or grey. A tilt with a threshold (Mkt-RF<1) is tested against it.",
        "Material, faint": "A significant beta is material when it is at least 0.10 (by "
        "default) away from its pivot, 1 for the market and 0 for the other factors. A "
        "long-only fund's loadings are diluted by its market exposure, so a loading of 0.03 "
        "can be highly significant and still say nothing about its label: such a loading is "
        "called faint, shown with an outlined bar or a pale cell, and never counted as a "
        "delivered tilt or an unintended one.",
        "q-value (FDR)": "The Benjamini-Hochberg q-value of a beta over the whole table of "
        "funds x factors (alpha left out): the smallest false discovery rate at which it would "
        "still be a discovery. Scanning 20 funds x 7 factors runs 140 tests, and some pass "
        "p < 0.05 by chance; a dagger marks the betas with q at or below 0.05 (or the run's "
        "--fdr level).",
        "Model ladder": "The same fund regressed on every model from CAPM to xray7 over the "
        f"same {p.units}. A tilt whose verdict changes with the model (e.g. value that "
        "disappears once VOL is added) is flagged; a model without the tilt's factor cannot "
        "test it ('not tested').",
        "Share of windows": "In how many rolling windows the tilt delivered by the same rule "
        "(significant and material on the promised side), and the beta of the last window.",
        "Style drift": "Andrews' (1993) sup-Wald test for a structural break at an unknown "
        "date in the labelled betas (15% trimming, White covariance), with p-values from its "
        "own asymptotic distribution, not the chi-square: it tells a loading that moved from "
        "noise.",
        "Region fit": "The R² of the Fama/French five-factor model on each region's factors "
        "whose files are at hand. When another region's R² is higher by 0.05 or more, the fund "
        "is probably judged on the wrong region and the report warns.",
        "R²": f"The share of the fund's {p.adjective} return variance the factors explain. "
        "Close to 1 for diversified equity funds.",
        "HAC standard errors": "Newey-West standard errors, robust to heteroskedasticity and "
        "to autocorrelation up to a number of lags; they make t-values more honest for "
        "returns.",
        "VIF": "Variance inflation factor: how much a factor's beta uncertainty grows because "
        "the factor correlates with the other factors. Above about 5 deserves caution.",
        "Rolling betas": "The same regression over a moving window "
        f"({p.count(p.default_window or 36)} by default), showing how the exposures drift over "
        "time, with 95% confidence bands.",
        "Return attribution": "The fund's average annual excess return split into alpha plus "
        "each factor's beta times that factor's average return over the fund's sample.",
    }


#: Term -> plain-words meaning, for a monthly run (:func:`terms` gives any frequency's).
TERMS: dict[str, str] = terms()


def factor_label(factor: str) -> str:
    """Short plain name of a factor, or the factor itself when unknown.

    Examples
    --------
    >>> factor_label("HML")
    'Value (high minus low book-to-market)'
    >>> factor_label("XYZ")
    'XYZ'
    """
    return FACTORS.get(factor, (factor, ""))[0]


def _hac_text(cov_type: str, lags: tuple[int, int] | None, units: str = "months") -> str:
    kind = str(cov_type).upper()
    if kind == "HAC":
        if lags is None:
            span = "lags chosen per fund"
        elif lags[0] == lags[1]:
            span = f"{lags[0]} lags"
        else:
            span = f"{lags[0]} to {lags[1]} lags depending on the fund's history"
        return (
            "Standard errors are HAC (Newey-West, Bartlett kernel) with "
            f"{span}; by default the lag is floor(4 x (T/100)^(2/9)) for a fund with T {units}."
        )
    if kind == "HC1":
        return "Standard errors are heteroskedasticity-robust (HC1); no autocorrelation correction."
    return "Standard errors are the classical (non-robust) OLS ones."


def methods(
    meta: Mapping[str, Any],
    *,
    hac_lags: tuple[int, int] | None = None,
    used: Sequence[tuple[str, str, int, str | None]] | None = None,
) -> list[str]:
    """The methods section as a list of plain-text paragraphs.

    Parameters
    ----------
    meta : mapping
        ``Analysis.meta`` (model, region, cov_type, t_threshold, min_beta, fdr, models,
        min_months, frequency, rolling_window, factors_vintage, price_source ...); the
        frequency (monthly by default) gives the words of every period.
    hac_lags : tuple of int, optional
        Smallest and largest HAC lag used across funds.
    used : sequence of (region, model, number of funds, fallback note), optional
        The factors the funds were regressed on, per region (default: the run's model and
        region for every fund).

    Returns
    -------
    list of str

    Examples
    --------
    >>> methods({"cov_type": "HAC", "t_threshold": 2.0})[0][:40]
    'Each fund is regressed by ordinary least'
    >>> "annualized by x52," in methods({"frequency": "weekly", "rolling_window": 156})[-2]
    True
    """
    threshold = float(meta.get("t_threshold") or 2.0)
    min_beta = meta.get("min_beta")
    min_beta = 0.10 if min_beta is None else float(min_beta)
    fdr = meta.get("fdr")
    models = [str(m) for m in meta.get("models") or []]
    period = period_words(meta)
    units, n = period.units, period.per_year_text
    min_months = meta.get("min_months") or 36
    window = meta.get("rolling_window") or period.default_window or 36
    model = meta.get("model") or "the chosen model"
    region = meta.get("region") or "the chosen region"
    vintages = meta.get("factors_vintage") or {}
    if isinstance(vintages, Mapping) and vintages:
        vintage_text = "; ".join(f"{k}: {v}" for k, v in vintages.items())
    else:
        vintage_text = str(vintages) if vintages else "not recorded"
    price_source = meta.get("price_source") or "not recorded"
    paragraphs = [
        "Each fund is regressed by ordinary least squares, one regression per fund over its own "
        f"{units}: excess return = alpha + sum of beta_k x factor_k + error, with "
        f"{period.adjective} data in decimals.",
        _returns_text(period),
        _factors_text(model, region, used, units),
        _hac_text(str(meta.get("cov_type") or ""), hac_lags, units),
        _rules_text(threshold, min_beta, fdr),
        _ladder_text(models, units),
        f"Over time: every labelled tilt is also judged in each rolling {period.span(window)} "
        "window by the same rule (without the FDR condition); the report gives the share of "
        "windows in which it delivered and the last window's beta. The labelled betas are "
        "tested jointly for a structural break at an unknown date with Andrews' (1993) "
        "sup-Wald statistic (15% trimming, heteroskedasticity-robust White covariance), whose "
        "p-value comes from the statistic's own asymptotic distribution (tabulated by "
        "simulation), not the chi-square; below 0.05 the report calls it style drift and gives "
        "the betas before and after the most likely break.",
        "Region fit: each fund is also regressed on the Fama/French five factors of every "
        "region whose files are at hand (cache or bundled snapshot), over its own "
        f"{units}. When another region's R² beats the one used by 0.05 or more, the report "
        "warns that the fund is probably judged on the wrong region.",
        f"Sample rules: a fund is analyzed over its overlap with the factor data and needs at "
        f"least {_min_sample_text(min_months, period)}; funds with fewer {units}, or whose "
        "prices could not be fetched, are listed as not analyzed with the reason, never "
        f"dropped silently. Rolling betas use {period.span(window)} windows.",
        f"Alpha is per {period.unit} in the regression; the report annualizes it "
        f"arithmetically, {n} x alpha, in the overview, on the fund cards and in the return "
        "attribution alike (the attribution adds annual parts, so its alpha must be the "
        "arithmetic one). summary.json gives it as alpha_annual, with the "
        f"{period.adjective} value{_alpha_key_text(period)} and the compounded "
        f"(1 + alpha)^{n} - 1 (alpha_annual_geometric) beside it.",
        *([_VOL_TEXT] if period.frequency == "monthly" else []),
        "Return attribution: over each fund's sample, its mean excess return equals alpha plus "
        "the sum of beta_k times the mean of factor k (an identity of least squares); both "
        f"sides are annualized by x{n}, so its alpha is the fund card's annual alpha.",
        f"Data: factor vintages {vintage_text}. Prices: {price_source}.",
    ]
    return paragraphs


#: VOL's construction (monthly only: a weekly or daily run cannot have VOL).
_VOL_TEXT = (
    "VOL, the low-volatility factor, is built from Ken French's 25 portfolios formed on size "
    "and variance (value-weighted, monthly): the average of the small and big low-variance "
    "portfolios minus the average of the small and big high-variance portfolios. It is a "
    "long-short return, so RF is not subtracted, and it exists for the US only."
)


def _returns_text(period: PeriodWords) -> str:
    """How a fund's excess return of one period is made."""
    if period.frequency == "weekly":
        made = (
            "; the last dividend-adjusted close of each calendar week over the previous week's, "
            "a week dated by its last trading day as in Ken French's weekly file; the first "
            "week and a still-running last week dropped"
        )
    elif period.frequency == "daily":
        made = (
            "; close to close of the dividend-adjusted closes; a day whose previous trading day "
            "is missing from the prices is left out rather than spanning two days"
        )
    else:
        made = ", compounded from daily adjusted closes; the first, partial month dropped"
    return (
        f"Excess return is the fund's {period.adjective} total return (dividends reinvested"
        f"{made}) minus the one-month Treasury bill rate RF from the factor file."
    )


def _min_sample_text(min_months: Any, period: PeriodWords) -> str:
    """``36 months``, or ``36 months (156 weeks)`` in a weekly run (``--min-months``)."""
    text = f"{min_months} months"
    if period.frequency in ("weekly", "daily"):
        text += f" ({period.count(min_periods(int(min_months), period.frequency))})"
    return text


def _alpha_key_text(period: PeriodWords) -> str:
    """Where summary.json keeps the alpha of one period (its key says monthly)."""
    if period.frequency == "monthly":
        return ""
    return f" (under the key alpha_monthly, which holds the alpha of one {period.unit})"


def _factors_text(
    model: str,
    region: str,
    used: Sequence[tuple[str, str, int, str | None]] | None,
    units: str = "months",
) -> str:
    common = (
        " The factor returns are the Fama/French factors from Kenneth R. French's data "
        f"library; a model's sample is the {units} every factor file covers."
    )
    if not used or (len(used) == 1 and not used[0][3]):
        if used:
            region, model = used[0][0], used[0][1]
        return f"Factor model: {model}, region: {region}.{common}"
    parts = [
        f"{r}: {m} ({n} fund{'s' if n != 1 else ''}{f'; {note}' if note else ''})"
        for r, m, n, note in used
    ]
    return (
        "Each fund is regressed on its own region's factors (the region its label names, "
        "else the run's default); where the model needs a factor the region lacks, a named "
        f"fallback model is used. Regions and models: {'; '.join(parts)}.{common}"
    )


def _rules_text(threshold: float, min_beta: float, fdr: Any) -> str:
    text = (
        f"A beta is significant when |t| >= {threshold:g}"
        + (
            f" and its Benjamini-Hochberg q-value is at most {float(fdr):g}"
            if fdr is not None
            else ""
        )
        + f". A tilt delivers when it is significant and also material: |beta - threshold| >= "
        f"{min_beta:g}, measured from the market's 1 for Mkt-RF and from 0 for the other "
        "factors. A significant but smaller loading is faint: real, too small to act on; it "
        "never counts as a delivered or an unintended tilt. The same definition draws the "
        "charts (solid: material; outlined or pale: faint; faded or grey: not significant) "
        "and the tables. Benjamini-Hochberg q-values are computed over the whole table of "
        "funds x factors (alpha left out) and given in exposures.csv and summary.json."
    )
    return text


def _ladder_text(models: Sequence[str], units: str = "months") -> str:
    if not models:
        return "No model ladder was run: each verdict rests on the fund's own model only."
    return (
        f"Model ladder: every fund is also regressed on {', '.join(models)} over the {units} "
        "of its main regression, and judged by the same rules under each. A model without a "
        "tilt's factor does not test it ('not tested', never 'weak' or 'absent'); a tilt "
        "that delivers under some of the models that test it and not under others is flagged "
        "as depending on the model."
    )
