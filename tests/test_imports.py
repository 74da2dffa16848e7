"""The command line starts light: heavy libraries load only when a command needs them.

``factorxray --help`` and the start of every command import typer and rich only; pandas,
numpy, scipy, httpx, matplotlib, jinja2, plotly and dask load inside the command that uses
them (issue 13). Checked on ``sys.modules`` in a fresh interpreter, not by timing.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("pandas", "numpy", "scipy", "httpx", "matplotlib", "jinja2", "plotly", "dask", "pyarrow")


def _modules_after(code: str) -> set[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "code",
    [
        "import factorxray",
        "import factorxray.cli",
        "from factorxray.factors.registry import MODELS",
        "from factorxray.judge.defaults import DEFAULT_MODEL_LADDER",
    ],
)
def test_start_imports_no_heavy_library(code: str) -> None:
    loaded = _modules_after(code)
    heavy = sorted(name for name in HEAVY if name in loaded)
    assert heavy == [], f"{code!r} imported {heavy}"


def test_help_runs_without_heavy_libraries() -> None:
    code = (
        "import sys\n"
        "from factorxray.cli import app\n"
        "try:\n"
        "    app(['analyze', '--help'], prog_name='factorxray')\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
    )
    loaded = _modules_after(code)
    assert sorted(name for name in HEAVY if name in loaded) == []


def test_lazy_packages_still_export_everything() -> None:
    import factorxray.factors as factors
    import factorxray.judge as judge

    for package in (factors, judge):
        for name in package.__all__:
            assert getattr(package, name) is not None, f"{package.__name__}.{name}"
    assert factors.MODELS["ff5"][0] == ("Mkt-RF", "SMB", "HML", "RMW", "CMA")
    assert judge.DEFAULT_MIN_BETA == pytest.approx(0.10)
    with pytest.raises(AttributeError, match="no attribute 'nosuch'"):
        factors.nosuch  # noqa: B018


def test_fx_judge_is_callable_after_the_judge_package_is_imported() -> None:
    """``fx.judge(results, universe)`` (README) works once ``factorxray.judge`` is imported.

    Importing the subpackage binds ``factorxray.judge`` to it, shadowing the lazily exported
    function; the package is callable for that reason.
    """
    import factorxray as fx
    import factorxray.judge.verdicts as verdicts
    from factorxray import presets
    from factorxray.pipeline import analyze

    analysis = analyze(preset="smart-beta-20", offline=True, models=None, drift=False)
    direct = verdicts.judge(analysis.results, presets.get("smart-beta-20"))
    through_fx = fx.judge(analysis.results, presets.get("smart-beta-20"))
    assert set(direct) == set(through_fx) == set(analysis.results.funds)
    assert {fund: v.status for fund, v in through_fx.items()} == {
        fund: v.status for fund, v in direct.items()
    }


def test_offline_analyze_needs_neither_httpx_nor_scipy(tmp_path) -> None:
    """A run that downloads nothing never loads httpx (nor sets up TLS), and the default
    (robust, normal) p-values need no scipy: 0.4-0.5 s of a command-line run."""
    code = (
        "import os\n"
        f"os.environ['FACTORXRAY_CACHE_DIR'] = {str(tmp_path / 'cache')!r}\n"
        "import factorxray as fx\n"
        "analysis = fx.analyze(preset='smart-beta-20', offline=True)\n"
        "assert len(analysis.results.funds) == 20\n"
    )
    loaded = _modules_after(code)
    assert "pandas" in loaded  # the probe did run the analysis
    assert sorted(name for name in ("httpx", "httpcore", "ssl", "scipy") if name in loaded) == []
    assert "yaml" not in loaded  # a TOML preset: PyYAML (25 ms) only for YAML fund lists


def test_a_report_reads_the_plotlyjs_version_without_importing_plotly(tmp_path) -> None:
    """The report embeds the vendored plotly.js bundle when its version is the installed
    plotly's: that version is read from plotly's version file (importing plotly costs
    20-100 ms), and equals what plotly itself reports."""
    from plotly.offline import get_plotlyjs_version

    from factorxray.report import _installed_plotlyjs_version

    assert _installed_plotlyjs_version() == get_plotlyjs_version()
    code = (
        "import os\n"
        f"os.environ['FACTORXRAY_CACHE_DIR'] = {str(tmp_path / 'cache')!r}\n"
        "import factorxray as fx\n"
        "analysis = fx.analyze(preset='smart-beta-20', offline=True)\n"
        f"page = fx.write_report(analysis, {str(tmp_path / 'report')!r}, png=False)\n"
        "assert 'factorxray partial bundle' in page.read_text()\n"
    )
    loaded = _modules_after(code)
    assert "jinja2" in loaded  # the probe did write the page
    assert "plotly" not in loaded and "matplotlib" not in loaded
