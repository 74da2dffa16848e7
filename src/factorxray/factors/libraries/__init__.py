"""Factor libraries beyond Ken French's: q-factors, AQR, Pastor-Stambaugh, fund-defined, yours.

Each client module has the seams of :mod:`factorxray.data.kenfrench`: bytes through the
one HTTP client and the cache, a pure parser, a vintage stamp, offline from the cache.

==================  ===========================================================
module              what it reads
==================  ===========================================================
:mod:`.q`           global-q.org q5 factors (q4 = the first four), monthly, weekly, daily
:mod:`.aqr`         AQR workbooks: BAB, QMJ, HML Devil, UMD, MKT, SMB, HML, RF by country
:mod:`.liquidity`   Pastor-Stambaugh liquidity (the traded factor LIQ_V), monthly, US
:mod:`.fund_factors` TERM, CREDIT and any long-minus-short pair of funds
:mod:`.user`        your own CSV or Parquet factor file (units stated by you)
==================  ===========================================================
"""

from __future__ import annotations

from factorxray.factors.libraries._base import FactorFile
from factorxray.factors.libraries.aqr import read_aqr
from factorxray.factors.libraries.fund_factors import FUND_FACTORS, fund_factor_returns
from factorxray.factors.libraries.liquidity import read_liquidity
from factorxray.factors.libraries.q import read_q_factors
from factorxray.factors.libraries.user import read_user_factors

__all__ = [
    "FUND_FACTORS",
    "FactorFile",
    "fund_factor_returns",
    "read_aqr",
    "read_liquidity",
    "read_q_factors",
    "read_user_factors",
]
