"""Whole-market runs: long panels read lazily, chunks of series regressed on Dask workers.

``regress_panel`` reads a long panel (``date, id, return`` or prices; Parquet or CSV) in
pieces, regroups it by chunks of series, runs the existing engine on each chunk on a
``distributed`` cluster and writes Parquet datasets plus a manifest. See docs/scaling.md.
"""

from __future__ import annotations

from factorxray.scale.backend import CHUNK_ROWS, ClusterError, PanelRun, regress_panel
from factorxray.scale.panel import Panel, open_panel

__all__ = ["CHUNK_ROWS", "ClusterError", "Panel", "PanelRun", "open_panel", "regress_panel"]
