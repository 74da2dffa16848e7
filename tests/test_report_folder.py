"""The report folder guard: ``--out`` never silently replaces files factorxray did not write.

Real runs on the bundled snapshot (offline) through the CLI runner and the Python API: a
folder holding a user's own ``index.html`` or ``notes.txt`` is refused before anything is
written (exit 2, one line naming the folder and ``--force``, the files untouched);
``--force`` writes; a rerun into a folder factorxray wrote (with or without PNGs, and one
written before the manifest existed) needs no ``--force``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from factorxray.cli import app
from factorxray.report import folder, write_report

runner = CliRunner()
USER_PAGE = "<html><body>my own page</body></html>\n"


def analyze(out: Path, *extra: str):
    return runner.invoke(
        app, ["analyze", "SPY", "USMV", "--offline", "--models", "none", "--out", str(out), *extra]
    )


def _error_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("own", ["index.html", "notes.txt"])
def test_a_folder_with_the_users_files_is_refused(tmp_path: Path, own: str) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / own).write_text(USER_PAGE)
    before = sorted(p.name for p in out.iterdir())
    result = analyze(out)
    assert result.exit_code == 2, result.output
    line = _error_line(result)
    assert str(out) in line and own in line and "--force" in line
    assert (out / own).read_text() == USER_PAGE  # untouched
    assert sorted(p.name for p in out.iterdir()) == before  # nothing written


def test_force_writes_and_a_rerun_needs_no_force(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "index.html").write_text(USER_PAGE)
    result = analyze(out, "--force")
    assert result.exit_code == 0, result.output
    assert 'content="factorxray' in (out / "index.html").read_text()
    written = folder.written_files(out)
    assert {"index.html", "exposures.csv", "summary.json", "rolling_betas.csv"} <= written
    # the folder is now the tool's own: rerun, with PNGs, and again without
    for extra in ((), ("--png",), ()):
        result = analyze(out, *extra)
        assert result.exit_code == 0, result.output
    pngs = {f"png/{p.name}" for p in (out / "png").iterdir()}
    assert pngs and pngs <= folder.written_files(out)


def test_force_keeps_refusing_a_later_foreign_file(tmp_path: Path) -> None:
    out = tmp_path / "report"
    assert analyze(out).exit_code == 0
    (out / "notes.txt").write_text("mine")
    (out / ".DS_Store").write_bytes(b"\0")  # hidden entries are not counted
    result = analyze(out)
    assert result.exit_code == 2
    assert "notes.txt" in _error_line(result) and ".DS_Store" not in result.stderr
    (out / "notes.txt").unlink()
    assert analyze(out).exit_code == 0


def test_a_user_file_inside_png_is_foreign(tmp_path: Path) -> None:
    out = tmp_path / "report"
    assert analyze(out, "--png").exit_code == 0
    (out / "png" / "my-chart.png").write_bytes(b"mine")
    result = analyze(out, "--png")
    assert result.exit_code == 2 and "png/my-chart.png" in _error_line(result)
    assert (out / "png" / "my-chart.png").read_bytes() == b"mine"


def test_a_report_written_before_the_manifest_is_ours(tmp_path: Path) -> None:
    out = tmp_path / "old"
    assert analyze(out).exit_code == 0
    (out / folder.MARKER).unlink()  # as an older factorxray left it
    assert analyze(out).exit_code == 0
    (out / folder.MARKER).unlink()
    (out / "index.html").write_text(USER_PAGE)  # not made by factorxray: foreign
    assert analyze(out).exit_code == 2


def test_portfolio_and_blend_refuse_and_take_force(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    commands = {
        "portfolio": ["portfolio", "SPY=0.6", "USMV=0.4", "--offline", "--models", "none"],
        "blend": [
            "blend",
            "--target",
            "SMB>=0.1",
            "--from",
            "SPY,IJR",
            "--offline",
            "--models",
            "none",
        ],
    }
    for args in commands.values():
        result = runner.invoke(app, [*args, "--out", str(out)])
        assert result.exit_code == 2, result.output
        assert "--force" in _error_line(result)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    result = runner.invoke(app, [*commands["portfolio"], "--out", str(out), "--force"])
    assert result.exit_code == 0, result.output
    written = folder.written_files(out)
    assert {"index.html", "implied_exposures.csv", "performance.csv", "holdings.csv"} <= written
    result = runner.invoke(app, [*commands["blend"], "--out", str(out)])
    assert result.exit_code == 2  # notes.txt is still there
    (out / "notes.txt").unlink()
    result = runner.invoke(app, [*commands["blend"], "--out", str(out)])
    assert result.exit_code in (0, 3), result.output  # 3: target not met, still written
    assert {"blend.json", "blend_target.csv"} <= folder.written_files(out)
    assert json.loads((out / "blend.json").read_text())["weights"]


def test_write_report_api_refuses_and_forces(tmp_path: Path) -> None:
    import factorxray as fx

    analysis = fx.analyze(["SPY"], offline=True, models=None)
    out = tmp_path / "mine"
    out.mkdir()
    (out / "index.html").write_text(USER_PAGE)
    with pytest.raises(folder.ReportFolderError, match=r"holds files factorxray did not write"):
        write_report(analysis, out, png=False)
    assert (out / "index.html").read_text() == USER_PAGE
    index = write_report(analysis, out, png=False, force=True)
    assert index == out / "index.html"
    assert write_report(analysis, out, png=False) == index  # rerun: ours now
    manifest = (out / folder.MARKER).read_text().splitlines()
    assert manifest[0].startswith("#")
    assert set(manifest[1:]) == {p.name for p in out.iterdir() if not p.name.startswith(".")}
