"""Options shared by the commands that fetch funds and write a report (analyze, portfolio, blend).

One definition per option, so that ``--model`` or ``--offline`` reads and behaves the same on
every command. Each is an ``Annotated`` type: ``model: ModelOption = "xray7"``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from factorxray.factors.registry import MODELS, REGIONS
from factorxray.judge.defaults import DEFAULT_MODEL_LADDER

ModelOption = Annotated[
    str, typer.Option("--model", "-m", help=f"Factor model: {', '.join(MODELS)}.")
]
RegionOption = Annotated[
    str,
    typer.Option(
        "--region", "-r", help=f"Factor region of funds without their own: {', '.join(REGIONS)}."
    ),
]
CovOption = Annotated[
    str, typer.Option("--cov", help="Standard errors: hac (Newey-West), HC1 or nonrobust.")
]
HacLagsOption = Annotated[
    int | None,
    typer.Option("--hac-lags", help="Newey-West lags (default: per fund from its length)."),
]
StartOption = Annotated[str | None, typer.Option("--start", help="First month, YYYY-MM.")]
EndOption = Annotated[str | None, typer.Option("--end", help="Last month, YYYY-MM.")]
ModelsOption = Annotated[
    str,
    typer.Option("--models", help="Model ladder every fund is also judged under ('none' to skip)."),
]
SourceOption = Annotated[str, typer.Option("--source", help="Prices: yahoo, fmp, tiingo or file.")]
PricesFileOption = Annotated[
    Path | None, typer.Option("--prices-file", help="CSV/Parquet prices for --source file.")
]
OfflineOption = Annotated[
    bool, typer.Option("--offline", help="No network: the cache, else the bundled snapshot.")
]
RefreshOption = Annotated[
    bool, typer.Option("--refresh", help="Download again even if the cache is fresh.")
]
PngOption = Annotated[
    bool,
    typer.Option(
        "--png/--no-png",
        help="Also write PNG copies of the charts (matplotlib; about 3 s for 20 funds).",
    ),
]
OpenOption = Annotated[bool, typer.Option("--open", help="Open the report in a browser.")]
ForceOption = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Write into --out even if it holds files factorxray did not write (may replace them).",
    ),
]
AllCardsOption = Annotated[
    bool,
    typer.Option("--all-cards", help="A card for every fund (beyond 60 funds only some get one)."),
]


def models_list(models: str) -> list[str]:
    """``--models capm,ff3`` as a list; ``none`` (or empty) for no ladder."""
    return [] if models.strip().lower() in ("", "none") else models.split(",")


#: The default of ``--models``: the whole ladder.
DEFAULT_MODELS = ",".join(DEFAULT_MODEL_LADDER)
