"""How ``write_report`` writes its files: the exports on a helper thread while the page is
built (without PNGs), each file atomic, the page last.

Real analysis: the 20 ETFs of ``tests/test_report.py`` (real returns, US factors).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pandas as pd
import pytest

from factorxray.analysis import Analysis
from factorxray.report import exports, folder, write_report
from tests.test_report import build_test_analysis


@pytest.fixture(scope="module")
def analysis() -> Analysis:
    return build_test_analysis()


def test_every_file_is_written_whole_and_no_thread_is_left(
    analysis: Analysis, tmp_path: Path
) -> None:
    threads = threading.active_count()
    index = write_report(analysis, tmp_path, png=False)
    assert threading.active_count() == threads
    names = {p.name for p in tmp_path.iterdir()}
    assert names == {
        "index.html",
        "exposures.csv",
        "rolling_betas.csv",
        "summary.json",
        folder.MARKER,
    }  # no temporary file left
    assert index.read_text(encoding="utf-8").rstrip().endswith("</html>")
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert len(summary["funds"]) == len(analysis.results.params)
    exposures = pd.read_csv(tmp_path / "exposures.csv")
    pd.testing.assert_frame_equal(
        exposures, exports.exposures_frame(analysis), check_dtype=False, check_exact=True
    )
    rolling = pd.read_csv(tmp_path / "rolling_betas.csv")
    assert len(rolling) == len(exports.rolling_frame(analysis)) > 10_000
    assert {"index.html", "exposures.csv", "rolling_betas.csv", "summary.json"} <= (
        folder.written_files(tmp_path)
    )


@pytest.mark.parametrize("png", [False, True])
def test_a_failed_write_raises_and_the_page_is_not_written(
    analysis: Analysis, tmp_path: Path, png: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if png:  # the PNGs are not what is tested here: none drawn
        from factorxray.report import static_png

        monkeypatch.setattr(static_png, "write_pngs", lambda data, out: {})
    # a folder where summary.json must go: the rename onto it fails (as a full disk would)
    (tmp_path / "summary.json").mkdir()
    (tmp_path / "summary.json" / "keep").write_text("x")
    threads = threading.active_count()
    with pytest.raises(OSError):
        write_report(analysis, tmp_path, png=png, force=True)
    assert threading.active_count() == threads
    assert not (tmp_path / "index.html").exists()
    # the files before it are whole, and nothing temporary is left
    assert (tmp_path / "exposures.csv").read_text().startswith("fund,factor,beta")
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    # the folder stays the tool's own: a rerun (once the obstacle is gone) needs no force
    (tmp_path / "summary.json" / "keep").unlink()
    (tmp_path / "summary.json").rmdir()
    write_report(analysis, tmp_path, png=False)
    assert (tmp_path / "index.html").is_file()
