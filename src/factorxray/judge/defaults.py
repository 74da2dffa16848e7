"""The judge's default settings: pure data, no imports.

The command line shows these in its help without loading pandas; :mod:`.verdicts` and
:mod:`.robustness` re-export them.
"""

from __future__ import annotations

#: |t| at or above this is significant.
DEFAULT_T_THRESHOLD = 2.0
#: A tenth of a full long-short factor position: about 0.3-0.5% a year at the factors'
#: historical premia, the size of the fee gap between a smart-beta fund and an index fund.
DEFAULT_MIN_BETA = 0.10
#: The models every fund is also judged under (cheap: the engine is batched).
DEFAULT_MODEL_LADDER = ("capm", "ff3", "carhart", "ff5", "ff6", "xray7")
