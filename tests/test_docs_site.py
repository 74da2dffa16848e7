"""The documentation site that ``scripts/docs.sh`` builds (``mkdocs build --strict``).

These tests read the built site named by ``FACTORXRAY_DOCS_SITE`` (``scripts/docs.sh`` sets
it after its build), so CI builds the site once; in a plain ``pytest`` run they are skipped.
They check that the API page holds the docstrings of the public API, that the CLI page holds
every command with every option, that the gallery report was built from the snapshot, that
the tutorial notebook was executed (its outputs are on the page), that every link inside the
site resolves, and that a notebook with an error fails the strict build.
"""

from __future__ import annotations

import html
import inspect
import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml

import factorxray as fx

ROOT = Path(__file__).parents[1]
SITE_ENV = "FACTORXRAY_DOCS_SITE"

pytestmark = pytest.mark.skipif(
    not os.environ.get(SITE_ENV),
    reason="checks the site scripts/docs.sh builds (run: bash scripts/docs.sh)",
)


@pytest.fixture(scope="module")
def site() -> Path:
    path = Path(os.environ[SITE_ENV])
    assert (path / "index.html").is_file(), f"no built site in {path}"
    return path


def _text(page: Path) -> str:
    """A page's text: tags dropped, entities decoded, whitespace collapsed."""
    raw = re.sub(r"<[^>]+>", " ", page.read_text(encoding="utf-8"))
    return " ".join(html.unescape(raw).split())


def _words(text: str) -> str:
    """Letters and digits only: docstring markup (``code``, roles) renders as tags."""
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text.lower()).split())


class _Links(HTMLParser):
    """Every href and src of a page, and every id."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.links.append(value)
            if name == "id" and value:
                self.ids.add(value)


def _parse(page: Path) -> _Links:
    parser = _Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def test_api_page_holds_the_docstring_of_every_public_name(site: Path) -> None:
    page = site / "api" / "index.html"
    text = _words(_text(page))
    ids = _parse(page).ids
    for name in fx.__all__:
        if name in ("presets", "snapshot", "errors", "__version__"):
            continue
        assert any(i.endswith(f".{name}") for i in ids), f"fx.{name} has no entry in the API page"
        obj = getattr(fx, name)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            summary = _words(inspect.getdoc(obj).split("\n\n")[0])
            assert summary in text, f"the docstring of fx.{name} is not on the API page"
    # the whole docstring of the main entry point, parameter by parameter
    assert _words("Reverse-engineer funds") in text
    for parameter in inspect.signature(fx.analyze).parameters:
        assert _words(parameter) in text, parameter


def _commands() -> dict[str, object]:
    import typer

    from factorxray.cli import app

    found: dict[str, object] = {}

    def visit(command: object, path: list[str]) -> None:
        found[" ".join(path)] = command
        for name, sub in getattr(command, "commands", {}).items():
            visit(sub, [*path, name])

    visit(typer.main.get_command(app), [])
    return found


def test_cli_page_holds_every_command_with_every_option(site: Path) -> None:
    page = site / "cli" / "index.html"
    text = _text(page)
    ids = _parse(page).ids
    commands = _commands()
    assert {"analyze", "portfolio", "blend", "panel", "factors show", "cache clear"} <= set(
        commands
    )
    for path, command in commands.items():
        anchor = "-".join(["factorxray", *path.split()])
        assert anchor in ids, f"`factorxray {path}` has no section on the CLI page"
        assert f"Usage: factorxray {path}".strip() in text, path
        for param in getattr(command, "params", []):
            if getattr(param, "hidden", False):  # kept for old scripts, left out of --help
                continue
            for option in param.opts:
                if option.startswith("-"):
                    assert option in text, f"`factorxray {path}` {option} is not on the CLI page"


def test_gallery_holds_the_snapshot_report(site: Path) -> None:
    report = site / "reports" / "smart-beta-20"
    index = report / "index.html"
    tickers = fx.presets.get("smart-beta-20").tickers
    assert index.stat().st_size > 500_000  # plotly.js is embedded: self-contained
    summary = json.loads((report / "summary.json").read_text())
    assert sorted(f["fund"] for f in summary["funds"]) == sorted(tickers)
    assert summary["run"]["offline"] and "bundled snapshot" in summary["run"]["price_source"]
    exposures = (report / "exposures.csv").read_text().splitlines()
    assert exposures[0].startswith("fund,factor,beta,se,t,p")
    gallery = site / "gallery" / "index.html"
    frames = re.findall(r'<iframe src="([^"]+)"', gallery.read_text(encoding="utf-8"))
    assert frames and all((gallery.parent / src).resolve() == index.resolve() for src in frames)
    console = _text(gallery)
    for ticker in tickers:
        assert ticker in console, ticker


def test_tutorial_page_shows_the_executed_notebook(site: Path) -> None:
    page = site / "tutorial" / "index.html"
    content = page.read_text(encoding="utf-8")
    text = _text(page)
    assert content.count("data:image/png;base64,") >= 2, "the notebook's charts are missing"
    # no cell wrote to stderr (an error or a warning would be shown in such an output)
    assert not re.search(r'<[^>]*data-mime-type="application/vnd\.jupyter\.stderr"', content)
    assert "Traceback (most recent call last)" not in text
    factors = fx.load_factors("xray7", region="us", snapshot=True)
    assert str(factors.attrs["vintages"]) in text  # the printed output of a cell
    excess = fx.excess_returns(
        fx.monthly_total_returns(fx.snapshot.month_end_prices(["MTUM"])), factors
    )
    # (not fx.judge: once factorxray.judge is imported, the subpackage shadows that name)
    from factorxray.judge.verdicts import judge

    verdict = judge(fx.regress(excess, factors, cov="hac"), fx.presets.get("smart-beta-20"))
    assert verdict["MTUM"].sentence in text
    # committed without outputs: the site is where they live
    notebook = json.loads((ROOT / "docs" / "tutorial.ipynb").read_text())
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert code and all(not cell["outputs"] for cell in code)
    assert all(cell["execution_count"] is None for cell in code)


def test_every_link_inside_the_site_resolves(site: Path) -> None:
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 10
    broken = []
    for page in pages:
        if "reports" in page.relative_to(site).parts or page.name == "404.html":
            continue  # the report is tested in test_report*.py; 404.html links from the root
        parsed = _parse(page)
        for link in parsed.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith(("#", "mailto:", "data:")):
                continue
            target = (page.parent / unquote(parts.path)).resolve()
            if parts.path.endswith("/") or target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{page.relative_to(site)} -> {link}")
            elif parts.fragment and target.suffix == ".html":
                if parts.fragment not in _parse(target).ids:
                    broken.append(f"{page.relative_to(site)} -> {link} (no such anchor)")
    assert not broken, broken


def _build_flags() -> list[str]:
    """The flags scripts/docs.sh gives ``mkdocs build`` (before ``--site-dir``)."""
    script = (ROOT / "scripts" / "docs.sh").read_text()
    flags = re.search(r"mkdocs build (.*?) --site-dir", script)
    assert flags, "scripts/docs.sh no longer runs mkdocs build ... --site-dir"
    return flags.group(1).split()


def test_a_broken_link_fails_the_build_as_scripts_docs_sh_runs_it(tmp_path: Path) -> None:
    """Our validation settings and docs.sh's flags turn a broken link into a failure."""
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# Home\n\nSee [the methods](methods.md#nowhere).\n")
    (tmp_path / "mkdocs.yml").write_text(
        yaml.safe_dump(
            {"site_name": "t", "strict": config["strict"], "validation": config["validation"]}
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", *_build_flags()],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "methods.md" in done.stdout + done.stderr


def test_a_notebook_with_an_error_fails_the_strict_build(tmp_path: Path) -> None:
    """The notebook options of mkdocs.yml fail the build on a cell that raises."""
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    plugin = next(p["mkdocs-jupyter"] for p in config["plugins"] if "mkdocs-jupyter" in p)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# Home\n")
    cells = [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": []}]
    cells[0]["source"] = "raise ValueError('the tutorial broke')"
    kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook = {"cells": cells, "metadata": {"kernelspec": kernelspec}}
    (docs / "tutorial.ipynb").write_text(
        json.dumps({**notebook, "nbformat": 4, "nbformat_minor": 5})
    )
    (tmp_path / "mkdocs.yml").write_text(
        yaml.safe_dump(
            {
                "site_name": "t",
                "strict": True,
                "nav": ["index.md", "tutorial.ipynb"],
                "plugins": [{"mkdocs-jupyter": plugin}],
            }
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", *_build_flags()],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "the tutorial broke" in done.stdout + done.stderr
