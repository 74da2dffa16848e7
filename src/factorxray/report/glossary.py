"""Plain-words glossary of factors and terms, and the methods text of the report.

Everything here is plain text (no markup): the template escapes it like any other string.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["FACTORS", "TERMS", "factor_label", "methods"]

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

#: Term -> plain-words meaning.
TERMS: dict[str, str] = {
    "Beta": "How much the fund's excess return moves when a factor moves by one unit, holding "
    "the other factors fixed: the fund's exposure, or loading, on that factor.",
    "Alpha": "The average monthly return the factors do not explain. Shown monthly and "
    "annualized; a small negative alpha often just reflects fees.",
    "t-value": "A beta divided by its standard error. |t| of about 2 or more means the exposure "
    "is unlikely to be noise; smaller |t| values are shown faded or grey.",
    "R²": "The share of the fund's monthly return variance the factors explain. Close to 1 "
    "for diversified equity funds.",
    "HAC standard errors": "Newey-West standard errors, robust to heteroskedasticity and to "
    "autocorrelation up to a number of lags; they make t-values more honest for returns.",
    "VIF": "Variance inflation factor: how much a factor's beta uncertainty grows because the "
    "factor correlates with the other factors. Above about 5 deserves caution.",
    "Rolling betas": "The same regression over a moving window (36 months by default), showing "
    "how the exposures drift over time, with 95% confidence bands.",
    "Return attribution": "The fund's average annual excess return split into alpha plus each "
    "factor's beta times that factor's average return over the fund's sample.",
}


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


def _hac_text(cov_type: str, lags: tuple[int, int] | None) -> str:
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
            f"{span}; by default the lag is floor(4 x (T/100)^(2/9)) for a fund with T months."
        )
    if kind == "HC1":
        return "Standard errors are heteroskedasticity-robust (HC1); no autocorrelation correction."
    return "Standard errors are the classical (non-robust) OLS ones."


def methods(meta: Mapping[str, Any], *, hac_lags: tuple[int, int] | None = None) -> list[str]:
    """The methods section as a list of plain-text paragraphs.

    Parameters
    ----------
    meta : mapping
        ``Analysis.meta`` (model, region, cov_type, t_threshold, min_months, rolling_window,
        factors_vintage, price_source ...).
    hac_lags : tuple of int, optional
        Smallest and largest HAC lag used across funds.

    Returns
    -------
    list of str

    Examples
    --------
    >>> methods({"cov_type": "HAC", "t_threshold": 2.0})[0][:40]
    'Each fund is regressed by ordinary least'
    """
    threshold = float(meta.get("t_threshold") or 2.0)
    min_months = meta.get("min_months") or 36
    window = meta.get("rolling_window") or 36
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
        "months: excess return = alpha + sum of beta_k x factor_k + error, with monthly data "
        "in decimals.",
        "Excess return is the fund's monthly total return (dividends reinvested, compounded "
        "from daily adjusted closes; the first, partial month dropped) minus the one-month "
        "Treasury bill rate RF from the factor file.",
        f"Factor model: {model}, region: {region}. The factor returns are the Fama/French "
        "factors from Kenneth R. French's data library; a model's sample is the months every "
        "factor file covers.",
        _hac_text(str(meta.get("cov_type") or ""), hac_lags),
        f"A beta counts as significant when |t| >= {threshold:g}; insignificant betas are faded "
        "in the bar charts and grey in the summary heatmap. p-values are shown on hover and in "
        "exposures.csv.",
        f"Sample rules: a fund is analyzed over its overlap with the factor data and needs at "
        f"least {min_months} months; funds with fewer months, or whose prices could not be "
        "fetched, are listed as not analyzed with the reason, never dropped silently. Rolling "
        f"betas use {window}-month windows.",
        "Alpha is per month in the regression; the overview shows it annualized geometrically, "
        "(1 + alpha)^12 - 1. summary.json also gives the arithmetic 12 x alpha.",
        "VOL, the low-volatility factor, is built from Ken French's 25 portfolios formed on size "
        "and variance (value-weighted, monthly): the average of the small and big low-variance "
        "portfolios minus the average of the small and big high-variance portfolios. It is a "
        "long-short return, so RF is not subtracted, and it exists for the US only.",
        "Return attribution: over each fund's sample, its mean excess return equals alpha plus "
        "the sum of beta_k times the mean of factor k (an identity of least squares); both "
        "sides are annualized by x12.",
        f"Data: factor vintages {vintage_text}. Prices: {price_source}.",
    ]
    return paragraphs
