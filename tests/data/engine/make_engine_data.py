"""Build the engine test fixtures from the shared real-data files.

Run from the repository root (needs ``../shared/data``)::

    uv run python tests/data/engine/make_engine_data.py [SHARED_DATA_DIR]

Writes ``etf_monthly_excess.csv`` and ``us_factors_monthly.csv`` next to this script.
See ``PROVENANCE.md`` for what the files hold.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
DEFAULT_SHARED = HERE.parents[3] / "shared" / "data"


def read_monthly_section(path: Path) -> pd.DataFrame:
    """Return the first (monthly) block of a Ken French CSV, in decimals, on a PeriodIndex."""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(","))
    block = [lines[start]]
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        block.append(line)
    frame = pd.read_csv(io.StringIO("\n".join(block)), index_col=0)
    frame.columns = [str(c).strip() for c in frame.columns]
    frame.index = pd.PeriodIndex([str(i).strip() for i in frame.index], freq="M")
    return frame.astype(float) / 100.0


def monthly_returns(path: Path) -> pd.Series:
    """Month-end last close over previous month-end last close minus one (first month dropped)."""
    prices = pd.read_csv(path, parse_dates=["Date"], index_col="Date")["Close"]
    month_end = prices.groupby(prices.index.to_period("M")).last()
    return (month_end / month_end.shift(1) - 1.0).iloc[1:]


def main(shared: Path) -> None:
    """Write the two fixture CSVs from the shared data directory."""
    five = read_monthly_section(shared / "kenfrench" / "F-F_Research_Data_5_Factors_2x3.csv")
    mom = read_monthly_section(shared / "kenfrench" / "F-F_Momentum_Factor.csv")
    mom.columns = ["MOM"]
    factors = five.join(mom, how="inner")
    factors = factors[["Mkt-RF", "SMB", "HML", "RMW", "CMA", "MOM", "RF"]]
    factors = factors.loc["1990-01":]

    etf_files = sorted((shared / "etf-prices").glob("*.csv"))
    returns = pd.DataFrame({p.stem: monthly_returns(p) for p in etf_files})
    returns = returns.loc[: factors.index[-1]]
    excess = returns.sub(factors["RF"].reindex(returns.index), axis=0)
    excess = excess.loc[excess.notna().any(axis=1)]

    factors.index.name = "period"
    excess.index.name = "period"
    factors.round(6).to_csv(HERE / "us_factors_monthly.csv", float_format="%.6f")
    excess.to_csv(HERE / "etf_monthly_excess.csv", float_format="%.10f")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SHARED)
