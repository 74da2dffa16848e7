"""PNG copies of the report's charts, drawn with matplotlib (Agg, imported lazily).

Same colours and rules as the interactive charts (:mod:`factorxray.report.charts`): betas
on one red-blue diverging scale, insignificant betas faded or grey, one colour per factor.

Speed matters (a report of 20 funds is part of a run that should take a few seconds), so:
the per-fund charts reuse one figure per kind; the beta bars, whose axes are the same for
every fund, draw their frame once and blit only the bars and labels per fund (the rolling
charts once per time range: each fund has its own); pixels go
straight from the Agg buffer to Pillow with light PNG compression.
"""

from __future__ import annotations

import io
import json
import os
import re
import select
import signal
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from factorxray._atomic import atomic_write_bytes
from factorxray.errors import UsageError
from factorxray.report import charts

if TYPE_CHECKING:
    from factorxray.report import ReportData

__all__ = ["png_names", "rolling_xlim", "write_pngs"]

DPI = 110
_COMPRESS = 1
_FONT = 8.5
#: Seconds the forked helper may take for its half (20 funds take about 1 s); past this it
#: is killed and its half is drawn in the main process.
CHILD_TIMEOUT = 60.0


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("._") or "fund"


def png_names(funds: Sequence[str], folder: str = "png") -> dict[str, str]:
    """File names (relative to the report folder) of every PNG, by chart key.

    Keys: ``heatmap``, ``correlations``, ``attribution``, ``bars:<fund>``, ``rolling:<fund>``.
    Fund names are made file-safe; clashes get a numeric suffix.

    Examples
    --------
    >>> png_names(["SPY", "A/B"])["bars:A/B"]
    'png/betas_A_B.png'
    """
    names = {
        "heatmap": f"{folder}/heatmap_betas.png",
        "correlations": f"{folder}/factor_correlations.png",
        "attribution": f"{folder}/attribution.png",
    }
    used: set[str] = set()
    for fund in funds:
        stem = _safe(fund)
        candidate, n = stem, 1
        while candidate.lower() in used:
            n += 1
            candidate = f"{stem}_{n}"
        used.add(candidate.lower())
        names[f"bars:{fund}"] = f"{folder}/betas_{candidate}.png"
        names[f"rolling:{fund}"] = f"{folder}/rolling_{candidate}.png"
    return names


def _mpl() -> Any:
    import matplotlib

    # Only the Agg canvas is used (never pyplot), so no global backend switch is needed.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import LinearSegmentedColormap, Normalize
    from matplotlib.figure import Figure

    return matplotlib, Figure, FigureCanvasAgg, LinearSegmentedColormap, Normalize


def _cmap() -> Any:
    _, _, _, segmented, _ = _mpl()
    return segmented.from_list("factorxray_diverging", [(p, c) for p, c in charts.DIVERGING])


def _save(canvas: Any, path: Path) -> None:
    """Encode the canvas as a PNG and write it atomically (temporary file, then rename)."""
    from PIL import Image

    width, height = canvas.get_width_height(physical=True)
    image = Image.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    # A 128-colour palette keeps anti-aliased text and lines smooth at a third of the size.
    palette = image.convert("RGB").quantize(colors=128, method=Image.Quantize.FASTOCTREE)
    buffer = io.BytesIO()
    palette.save(buffer, format="PNG", compress_level=_COMPRESS)
    atomic_write_bytes(path, buffer.getvalue())


def _new(figsize: tuple[float, float], dpi: int) -> tuple[Any, Any]:
    _, figure_cls, canvas_cls, _, _ = _mpl()
    fig = figure_cls(figsize=figsize, dpi=dpi, facecolor="white")
    return fig, canvas_cls(fig)


def _style(ax: Any) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#c4c8cc")
    ax.tick_params(labelsize=_FONT, colors="#333333", length=3)
    ax.grid(True, axis="y", color=charts.GRID_COLOR, linewidth=0.8)
    ax.set_axisbelow(True)


def _fmt(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:.2f}"


# ---------------------------------------------------------------------------- beta bars


def _beta_bars(
    data: ReportData,
    funds: Sequence[str],
    out: Path,
    names: dict[str, str],
    written: dict[str, str],
    dpi: int,
) -> None:
    if not funds:
        return
    results = data.analysis.results
    params, tvalues = results.params, results.tvalues
    factors = [c for c in params.columns if c != "alpha"]
    n = len(factors)
    x = np.arange(n)
    fig, canvas = _new((5.6, 3.5), dpi)
    ax = fig.add_axes((0.1, 0.2, 0.87, 0.66))
    _style(ax)
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_ylim(*data.y_range)
    ax.set_xticks([])
    ax.axhline(0, color="#9aa0a6", linewidth=0.9)
    ax.set_ylabel("Beta", fontsize=_FONT)
    fig.text(
        0.97,
        0.955,
        f"faded: |t| < {data.threshold:g}",
        ha="right",
        va="top",
        fontsize=7.5,
        color="#777777",
    )
    # Everything below changes per fund: animated artists are skipped by canvas.draw().
    bars = ax.bar(x, np.zeros(n), width=0.62, animated=True)
    xaxis = ax.get_xaxis_transform()
    values = [ax.text(i, 0, "", ha="center", fontsize=_FONT, animated=True) for i in x]
    for i, factor in zip(x, factors, strict=True):  # factor names: the same for every fund
        ax.text(i, -0.03, factor, transform=xaxis, ha="center", va="top", fontsize=_FONT)
    labels = [
        ax.text(i, -0.11, "", transform=xaxis, ha="center", va="top", fontsize=_FONT, animated=True)
        for i in x
    ]
    title = fig.text(0.1, 0.955, "", ha="left", va="top", fontsize=10, weight="bold", animated=True)
    canvas.draw()
    background = canvas.copy_from_bbox(fig.bbox)
    span = data.y_range[1] - data.y_range[0]
    for fund in funds:
        canvas.restore_region(background)
        betas = params.loc[fund, factors].to_numpy(float)
        tvals = tvalues.loc[fund, factors].to_numpy(float)
        for i, (bar, beta, t) in enumerate(zip(bars, betas, tvals, strict=True)):
            height = beta if np.isfinite(beta) else 0.0
            significant = bool(np.isfinite(t) and abs(t) >= data.threshold)
            bar.set_height(height)
            bar.set_color(charts.POSITIVE if height >= 0 else charts.NEGATIVE)
            bar.set_alpha(1.0 if significant else charts.FADED_OPACITY)
            offset = 0.015 * span
            values[i].set_text(_fmt(beta))
            values[i].set_y(height + offset if height >= 0 else height - offset)
            values[i].set_va("bottom" if height >= 0 else "top")
            labels[i].set_text(f"t={charts.format_t(t)}")
            ax.draw_artist(bar)
            ax.draw_artist(values[i])
            ax.draw_artist(labels[i])
        title.set_text(_title(data, fund))
        fig.draw_artist(title)
        _save(canvas, out / Path(names[f"bars:{fund}"]).name)
        written[f"bars:{fund}"] = names[f"bars:{fund}"]


def _title(data: ReportData, fund: str, limit: int = 64) -> str:
    try:
        name = data.analysis.universe.fund(fund).name
    except UsageError:  # analyzed but not in the universe (e.g. an Analysis built by hand)
        name = ""
    text = f"{fund}: {name}" if name and name != fund else str(fund)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------------------- rolling


def _rolling(
    data: ReportData,
    funds: Sequence[str],
    out: Path,
    names: dict[str, str],
    written: dict[str, str],
    dpi: int,
) -> None:
    frames = {f: data.rolling_data[f] for f in funds if f in data.rolling_data}
    frames = {f: frame for f, frame in frames.items() if not frame.empty}
    if not frames:
        return
    window = data.analysis.meta.get("rolling_window", 36)
    # Each fund on its own time axis (its first to last window, as the HTML chart) and one
    # beta axis for all (so they compare): the frame is drawn once per time range and only
    # the lines change (blitting); funds sharing a range share the frame.
    fig, canvas = _new((5.6, 3.3), dpi)
    ax = fig.add_axes((0.12, 0.12, 0.85, 0.68))
    _style(ax)
    ax.grid(True, axis="x", color=charts.GRID_COLOR, linewidth=0.8)
    ax.set_ylim(*data.rolling_y_range)
    ax.set_ylabel(f"{data.period.span(window)} beta, 95% band", fontsize=_FONT)
    ax.axhline(0, color="#9aa0a6", linewidth=0.9)
    title = fig.text(
        0.12, 0.975, "", ha="left", va="top", fontsize=10, weight="bold", animated=True
    )
    limits = {fund: rolling_xlim(frame.index) for fund, frame in frames.items()}
    drawn: tuple[float, float] | None = None
    background = None
    for fund in sorted(frames, key=lambda f: limits[f]):
        frame = frames[fund]
        if limits[fund] != drawn:
            ax.set_xlim(*limits[fund])
            canvas.draw()
            background = canvas.copy_from_bbox(fig.bbox)
            drawn = limits[fund]
        else:
            canvas.restore_region(background)
        artists = []
        x = _decimal_years(frame.index)
        for position, term in enumerate(data.rolling_terms.get(fund, [])):
            if (term, "estimate") not in frame.columns:
                continue
            color = charts.factor_color(term, position)
            band = ax.fill_between(
                x,
                frame[(term, "lower")].to_numpy(float),
                frame[(term, "upper")].to_numpy(float),
                color=color,
                alpha=0.16,
                linewidth=0,
                animated=True,
            )
            (line,) = ax.plot(
                x,
                frame[(term, "estimate")].to_numpy(float),
                color=color,
                lw=1.6,
                label=term,
                animated=True,
            )
            artists += [band, line]
        legend = ax.legend(
            loc="lower left",
            bbox_to_anchor=(0.0, 1.0),
            ncol=4,
            fontsize=_FONT,
            frameon=False,
            borderaxespad=0.1,
            handlelength=1.5,
        )
        legend.set_animated(True)
        for artist in artists:
            ax.draw_artist(artist)
        ax.draw_artist(legend)
        title.set_text(_title(data, fund))
        fig.draw_artist(title)
        _save(canvas, out / Path(names[f"rolling:{fund}"]).name)
        written[f"rolling:{fund}"] = names[f"rolling:{fund}"]
        legend.remove()
        for artist in artists:
            artist.remove()


def rolling_xlim(periods: Any, pad: float = 0.2) -> tuple[float, float]:
    """The time axis of a fund's rolling PNG: its first to last window end, in decimal years,
    padded by ``pad`` years on both sides (each fund on its own range, as in the HTML)."""
    years = _decimal_years(periods)
    return float(years[0]) - pad, float(years[-1]) + pad


def _decimal_years(periods: Any) -> np.ndarray:
    """Mid-period positions in years (2010-01 -> 2010.04): a plain numeric time axis.

    Months (and anything that is not a weekly or daily ``PeriodIndex``) by their month; weeks
    and days by their middle day within the year, so that the 52 weeks of a year get 52
    places instead of 12.
    """
    import pandas as pd

    if isinstance(periods, pd.PeriodIndex) and periods.freqstr != "M":
        middle = periods.start_time + (periods.end_time - periods.start_time) / 2
        days = np.where(middle.is_leap_year, 366.0, 365.0)
        elapsed = middle.day_of_year.to_numpy(float) - 1.0 + middle.hour.to_numpy(float) / 24
        return middle.year.to_numpy(float) + elapsed / days
    years = np.asarray(periods.year, dtype=float)
    months = np.asarray(periods.month, dtype=float)
    return years + (months - 0.5) / 12


# ---------------------------------------------------------------------------- heatmaps


def _heatmap(data: ReportData, path: Path, dpi: int) -> bool:
    _, _, _, _, normalize = _mpl()
    results = data.analysis.results
    factors = [c for c in results.params.columns if c != "alpha"]
    funds = data.funds
    betas = results.params.loc[funds, factors].to_numpy(float)
    tvals = results.tvalues.loc[funds, factors].to_numpy(float)
    significant = np.isfinite(tvals) & (np.abs(tvals) >= data.threshold)
    limit = charts.color_limit(results.params.loc[funds])
    cmap = _cmap()
    norm = normalize(-limit, limit)
    colors = cmap(norm(np.nan_to_num(betas)))
    grey = np.array([0xE6, 0xE6, 0xE6, 0xFF]) / 255.0
    colors[~significant] = grey
    n_rows, n_cols = betas.shape
    longest = max((len(c) for c, _ in data.groups), default=8)
    width = 1.6 + 0.72 * n_cols + 0.075 * longest
    height = 1.2 + 0.27 * n_rows
    fig, canvas = _new((width, height), dpi)
    right = 1 - (0.2 + 0.075 * longest) / width
    ax = fig.add_axes((0.9 / width, 0.55 / height, right - 0.9 / width, 1 - 1.05 / height))
    ax.imshow(colors, aspect="auto", interpolation="nearest")
    for i in range(n_rows):
        for j in range(n_cols):
            ax.text(
                j,
                i,
                _fmt(betas[i, j]),
                ha="center",
                va="center",
                fontsize=7.5,
                color="#111111" if significant[i, j] else charts.FAINT_TEXT,
            )
    ax.set_xticks(range(n_cols), factors, fontsize=_FONT)
    ax.xaxis.tick_top()
    ax.set_yticks(range(n_rows), funds, fontsize=_FONT)
    ax.set_xticks(np.arange(-0.5, n_cols), minor=True)
    ax.set_yticks(np.arange(-0.5, n_rows), minor=True)
    ax.grid(which="minor", color="white", linewidth=1.5)
    ax.tick_params(which="both", length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    position = 0
    transform = ax.get_yaxis_transform()
    for index, (category, members) in enumerate(data.groups):
        if index:
            ax.axhline(position - 0.5, color="black", linewidth=2)
        ax.text(
            1.02,
            position + (len(members) - 1) / 2,
            category,
            transform=transform,
            ha="left",
            va="center",
            fontsize=_FONT,
            weight="bold",
            color="#444444",
        )
        position += len(members)
    fig.text(
        0.9 / width,
        0.3 / height,
        f"Factor betas; grey: |t| < {data.threshold:g}; colour scale ±{limit:g}",
        fontsize=7.5,
        color="#555555",
        va="center",
    )
    canvas.draw()
    _save(canvas, path)
    return True


def _correlations(data: ReportData, path: Path, dpi: int) -> bool:
    if data.corr is None:
        return False
    _, _, _, _, normalize = _mpl()
    corr = data.corr
    names = [str(c) for c in corr.columns]
    values = corr.to_numpy(float)
    n = len(names)
    size = 1.9 + 0.55 * n
    fig, canvas = _new((size + 0.8, size), dpi)
    ax = fig.add_axes(
        (1.45 / (size + 0.8), 0.45 / size, (size - 1.6) / (size + 0.8), (size - 0.75) / size)
    )
    image = ax.imshow(values, cmap=_cmap(), norm=normalize(-1, 1), aspect="auto")
    for i in range(n):
        for j in range(n):
            ax.text(j, i, _fmt(values[i, j]), ha="center", va="center", fontsize=7.5)
    ylabels = names
    if data.vif is not None:
        ylabels = [f"{f} (VIF {_fmt(float(data.vif.get(f, np.nan)))})" for f in names]
    ax.set_xticks(range(n), names, fontsize=_FONT)
    ax.set_yticks(range(n), ylabels, fontsize=_FONT)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    bar = fig.colorbar(image, ax=ax, fraction=0.05, pad=0.03)
    bar.ax.tick_params(labelsize=7.5)
    bar.set_label("Correlation", fontsize=_FONT)
    canvas.draw()
    _save(canvas, path)
    return True


# ---------------------------------------------------------------------------- attribution


def _attribution(data: ReportData, path: Path, dpi: int) -> bool:
    frame = data.analysis.attribution.reindex(data.funds) * 100
    parts = [c for c in frame.columns if c not in ("fitted", "total")]
    n = len(frame)
    fig, canvas = _new((6.4, 1.3 + 0.24 * n), dpi)
    ax = fig.add_axes((0.12, 0.55 / (1.3 + 0.24 * n), 0.85, 1 - 1.2 / (1.3 + 0.24 * n)))
    _style(ax)
    ax.grid(True, axis="x", color=charts.GRID_COLOR, linewidth=0.8)
    ax.grid(False, axis="y")
    y = np.arange(n)
    positive = np.zeros(n)
    negative = np.zeros(n)
    for position, part in enumerate(parts):
        values = np.nan_to_num(frame[part].to_numpy(float))
        left = np.where(values >= 0, positive, negative)
        color = charts.ALPHA_COLOR if part == "alpha" else charts.factor_color(part, position)
        ax.barh(y, values, left=left, color=color, alpha=0.9, height=0.68, label=part)
        positive += np.where(values >= 0, values, 0)
        negative += np.where(values < 0, values, 0)
    if "total" in frame:
        ax.scatter(
            frame["total"].to_numpy(float),
            y,
            marker="D",
            s=22,
            facecolor="white",
            edgecolor="black",
            zorder=3,
            label="mean excess",
        )
    ax.axvline(0, color="#9aa0a6", linewidth=0.9)
    ax.set_yticks(y, list(frame.index), fontsize=_FONT)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xlabel("% a year (annualized mean excess return and its parts)", fontsize=_FONT)
    ax.legend(
        loc="lower left",
        bbox_to_anchor=(0.0, 1.0),
        ncol=min(len(parts) + 1, 5),
        fontsize=7.5,
        frameon=False,
        borderaxespad=0.2,
    )
    canvas.draw()
    _save(canvas, path)
    return True


# ---------------------------------------------------------------------------- entry point


def _remove_stale(out: Path, names: dict[str, str]) -> None:
    """Delete our own PNGs of an earlier report in the same folder that this one lacks."""
    keep = {Path(name).name for name in names.values()}
    fixed = {Path(names[key]).name for key in ("heatmap", "correlations", "attribution")}
    for path in out.glob("*.png"):
        ours = path.name.startswith(("betas_", "rolling_")) or path.name in fixed
        if ours and path.name not in keep:
            path.unlink(missing_ok=True)


def _draw_part(
    data: ReportData, out: Path, names: dict[str, str], dpi: int, part: int, parts: int
) -> dict[str, str]:
    """Draw one share of the charts: every ``parts``-th fund and single chart from ``part``."""
    written: dict[str, str] = {}
    funds = data.funds[part::parts]
    _beta_bars(data, funds, out, names, written, dpi)
    _rolling(data, funds, out, names, written, dpi)
    singles = (
        ("heatmap", _heatmap),
        ("attribution", _attribution),
        ("correlations", _correlations),
    )
    for key, draw in singles[part::parts]:
        if draw(data, out / Path(names[key]).name, dpi):
            written[key] = names[key]
    return written


def _native_threads() -> int | None:
    """Threads of this process as the OS counts them (native ones too); None if unknown."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def _baseline_threads() -> int | None:
    native = _native_threads()
    return None if native is None else native - (threading.active_count() - 1)


#: Native threads (plus the main one) running when this module was imported: the worker
#: pools numpy (OpenBLAS) and pandas (pyarrow) start at import, which handle fork
#: (pthread_atfork). A native thread started after that is one we know nothing about (it
#: could hold a lock the child would need), so no fork then.
_BASELINE_THREADS = _baseline_threads()


def _can_fork(data: ReportData) -> bool:
    """Fork a helper only where it is safe and worth it: POSIX, 2+ CPUs, 6+ funds, and no
    thread besides the main one (Python) and the library pools present at import (native)."""
    if not hasattr(os, "fork") or os.environ.get("FACTORXRAY_PNG_PROCESSES") == "1":
        return False
    if (os.cpu_count() or 1) < 2 or threading.active_count() != 1:
        return False
    native = _native_threads()
    if native is not None and (_BASELINE_THREADS is None or native > _BASELINE_THREADS):
        return False
    return len(data.funds) >= 6


def _child(data: ReportData, out: Path, names: dict[str, str], dpi: int, write_end: int) -> None:
    """In the forked child: draw the second half, send the files through the pipe, leave
    with os._exit (no cleanup of the parent's state, no return into the caller)."""
    code = 1
    # Any error here (not only expected ones) ends the child with status 1: the parent then
    # draws this half itself, where a real bug raises normally.
    try:
        written = _draw_part(data, out, names, dpi, 1, 2)
        with os.fdopen(write_end, "w", encoding="utf-8") as stream:
            json.dump(written, stream)
        code = 0
    finally:
        os._exit(code)


def _read_child(read_end: int, pid: int, deadline: float) -> tuple[bytes, bool]:
    """Read the child's message until it closes the pipe and exits, or until ``deadline``.

    Returns the bytes read and whether the child exited cleanly (status 0) in time; a child
    still running at the deadline is killed. The child is always reaped.
    """
    chunks: list[bytes] = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([read_end], [], [], left)[0]:
            break  # timed out
        chunk = os.read(read_end, 65536)
        if not chunk:  # end of file: the child closed its end (done, failed or died)
            break
        chunks.append(chunk)
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return b"".join(chunks), os.waitstatus_to_exitcode(status) == 0
        if time.monotonic() >= deadline:
            _kill(pid)
            return b"", False
        time.sleep(0.002)


def _kill(pid: int) -> None:
    """SIGKILL the child and reap it (nothing to do if it is already gone)."""
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def _remove_temporary(out: Path, names: dict[str, str]) -> None:
    """Temporary files of atomic writes a killed child left behind (``.<name>.*.tmp``)."""
    ours = {Path(name).name for name in names.values()}
    for path in out.glob(".*.tmp"):
        if path.name[1:].rsplit(".", 2)[0] in ours:
            path.unlink(missing_ok=True)


def _draw_forked(data: ReportData, out: Path, names: dict[str, str], dpi: int) -> dict[str, str]:
    """Draw half the charts in a forked child process and half here (matplotlib holds the
    GIL, so threads would not help). If the fork fails, or the child fails, dies or takes
    longer than :data:`CHILD_TIMEOUT` seconds (then it is killed), its half is drawn here."""
    read_end, write_end = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        return _draw_part(data, out, names, dpi, 0, 1)
    if pid == 0:
        os.close(read_end)
        _child(data, out, names, dpi, write_end)  # never returns
    deadline = time.monotonic() + CHILD_TIMEOUT
    os.close(write_end)
    reaped = False
    try:
        written = _draw_part(data, out, names, dpi, 0, 2)
        message, ok = _read_child(read_end, pid, deadline)
        reaped = True
    finally:
        os.close(read_end)
        if not reaped:  # our own half failed: stop the child before the error goes up
            _kill(pid)
    try:
        child_written = json.loads(message) if ok else None
    except ValueError:  # a cut-off message
        child_written = None
    if isinstance(child_written, dict):
        written.update(child_written)
    else:
        _remove_temporary(out, names)
        written.update(_draw_part(data, out, names, dpi, 1, 2))
    return written


def write_pngs(data: Any, out_dir: str | os.PathLike[str], *, dpi: int = DPI) -> dict[str, str]:
    """Draw every chart of the report as a PNG into ``out_dir``.

    Per fund: ``betas_<fund>.png`` (beta bars, t-values in the labels, faded when not
    significant) and ``rolling_<fund>.png`` (rolling betas with 95% bands, on the fund's own
    time range and one beta range for every fund); for all funds: ``heatmap_betas.png``, ``factor_correlations.png`` (with
    VIFs) and ``attribution.png``. On a multi-core POSIX machine half the charts are drawn
    in a forked helper process (set ``FACTORXRAY_PNG_PROCESSES=1`` to stay in one).

    Parameters
    ----------
    data : ReportData or Analysis
        What the report is drawn from (an Analysis is prepared first).
    out_dir : path
        Folder for the PNG files (created if needed), usually ``<report>/png``.
    dpi : int
        Resolution; 110 gives charts about 600 pixels wide.

    Returns
    -------
    dict of str to str
        Chart key (see :func:`png_names`) -> path relative to the folder above ``out_dir``,
        for the charts that were drawn.
    """
    from factorxray.report import ReportData, prepare

    if not isinstance(data, ReportData):
        data = prepare(data)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = png_names(data.funds, out.name)
    _remove_stale(out, names)
    _mpl()  # import before forking, so the helper inherits it
    if _can_fork(data):
        written = _draw_forked(data, out, names, dpi)
    else:
        written = _draw_part(data, out, names, dpi, 0, 1)
    return {key: names[key] for key in names if key in written}
