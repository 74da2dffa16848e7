"""Render a report and screenshot it at desktop and phone widths (a dev script, not a test).

Usage::

    uv run python docs/make_screenshots.py [--out docs/screenshots] [--report DIR] [--full]

The report is the seed article's study, ``smart-beta-20`` on the bundled offline snapshot
(``factorxray.analyze(preset="smart-beta-20", offline=True)``); when that is not possible
(no snapshot, no cache), it falls back to the test fixtures in ``tests/data/engine``.
Screenshots (headless Chromium at ``/usr/bin/chromium`` through playwright):

- ``desktop-top.png`` and ``phone-top.png``: the first screen (1366 and 390 pixels wide);
- ``desktop-<section>.png`` / ``phone-<section>.png``: the overview table, the heatmap,
  correlations and the first fund card;
- with ``--full``, ``desktop-full.png``: the whole page.

Every PNG is then made smaller (Pillow: 256 colours, median cut, no dithering, optimized
deflate; kept only where smaller): a screenshot of text and flat charts loses nothing visible.
Pass ``--no-optimize`` to keep Chromium's full-colour files.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
WIDTHS = {"desktop": (1366, 900), "phone": (390, 844)}
SECTIONS = {
    "overview": "#overview",
    "heatmap": "#heatmap",
    "correlations": "#correlations",
    "fund": "article.fund",
}


def build_analysis() -> Any:
    """The smart-beta-20 analysis: bundled snapshot, else the engine test fixtures."""
    try:
        import factorxray.pipeline as pipeline

        return pipeline.analyze(preset="smart-beta-20", offline=True)
    except Exception as exc:  # fall back to the fixtures
        print(f"offline analyze failed ({exc}); using tests/data/engine", file=sys.stderr)
    import pandas as pd

    from factorxray import presets
    from factorxray.analysis import build_analysis as build

    data = ROOT / "tests" / "data" / "engine"
    excess = pd.read_csv(data / "etf_monthly_excess.csv", index_col=0)
    excess.index = pd.PeriodIndex(excess.index, freq="M")
    factors = pd.read_csv(data / "us_factors_monthly.csv", index_col=0)
    factors.index = pd.PeriodIndex(factors.index, freq="M")
    factors.attrs.update(model="ff6", region="us", vintages={"test fixture": "202511"})
    total = excess.add(factors["RF"], axis=0)
    return build(
        presets.get("smart-beta-20"), factors, total, meta={"price_source": "test fixture"}
    )


def optimize_png(path: Path) -> tuple[int, int]:
    """Rewrite ``path`` with a 256-colour palette (median cut, no dithering) and optimized
    deflate when that is smaller; return its size before and after, in bytes."""
    from PIL import Image

    before = path.stat().st_size
    with Image.open(path) as image:
        palette = image.convert("RGB").quantize(
            colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        )
    buffer = io.BytesIO()
    palette.save(buffer, format="PNG", optimize=True)
    if buffer.tell() < before:
        path.write_bytes(buffer.getvalue())
    return before, path.stat().st_size


def main(argv: list[str] | None = None) -> int:
    """Write the screenshots; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--report", type=Path, default=None, help="keep the report here")
    parser.add_argument("--full", action="store_true", help="also a full-page desktop shot")
    parser.add_argument(
        "--no-optimize", action="store_true", help="keep Chromium's full-colour PNGs"
    )
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    from factorxray.report import write_report

    report_dir = args.report or Path(tempfile.mkdtemp(prefix="factorxray-report-"))
    index = write_report(build_analysis(), report_dir, png=False)
    args.out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
        )
        for label, (width, height) in WIDTHS.items():
            page = browser.new_page(
                viewport={"width": width, "height": height},
                device_scale_factor=1,
                is_mobile=label == "phone",
                has_touch=label == "phone",
            )
            page.goto(index.as_uri())
            page.wait_for_selector("body[data-charts-ready='true']", timeout=60_000)
            page.screenshot(path=str(args.out / f"{label}-top.png"))
            # the sticky navigation bar would cover the top of each section's shot
            page.add_style_tag(content="nav.sections { position: static; }")
            for name, selector in SECTIONS.items():
                page.locator(selector).first.scroll_into_view_if_needed()
                page.locator(selector).first.screenshot(path=str(args.out / f"{label}-{name}.png"))
            if args.full and label == "desktop":
                page.screenshot(path=str(args.out / "desktop-full.png"), full_page=True)
            page.close()
        browser.close()
    total = [0, 0]
    for path in sorted(args.out.glob("*.png")):
        before, after = (path.stat().st_size,) * 2 if args.no_optimize else optimize_png(path)
        total[0] += before
        total[1] += after
        name = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        print(f"{name}: {after / 1024:.0f} KB (Chromium's {before / 1024:.0f} KB)")
    print(f"total {total[1] / 1024:.0f} KB (Chromium's {total[0] / 1024:.0f} KB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
