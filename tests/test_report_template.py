"""The precompiled report template: current, the same page as the parsed template, and a
stale copy is never used (real analysis of ``tests/data/engine``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from factorxray.report import _build_page as build_page
from factorxray.report import _template, prepare
from tests.test_report import build_test_analysis


@pytest.fixture(autouse=True)
def fresh_template():
    """Each test loads the template anew (the tests undo their patches, then clear)."""
    _template.template.cache_clear()
    _template.environment.cache_clear()


def test_the_shipped_compiled_template_is_current() -> None:
    source = (_template._FOLDER / _template.TEMPLATE).read_text(encoding="utf-8")
    header = (_template._FOLDER / _template.COMPILED).read_text(encoding="utf-8").split("\n", 1)[0]
    assert header.endswith(_template.compiled_key(source)), (
        "templates/report.html.j2 changed: run `uv run python -m factorxray.report._template`"
    )


@pytest.fixture(scope="module")
def data():
    return prepare(build_test_analysis())


def test_compiled_and_parsed_templates_write_the_same_page(data, monkeypatch) -> None:
    compiled = _template.template()
    assert compiled.root_render_func.__code__.co_filename.endswith(_template.TEMPLATE)
    page = build_page(data, {}, "2026-01-01T00:00:00Z")
    parsed = _template.environment().get_template(_template.TEMPLATE)
    assert parsed is not compiled
    monkeypatch.setattr(_template, "template", lambda: parsed)
    assert build_page(data, {}, "2026-01-01T00:00:00Z") == page
    monkeypatch.undo()


def test_a_stale_compiled_template_is_not_used(data, tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "templates"
    shutil.copytree(_template._FOLDER, folder)
    source = (folder / _template.TEMPLATE).read_text(encoding="utf-8")
    (folder / _template.TEMPLATE).write_text(source.replace("<title>", "<title>EDITED "))
    monkeypatch.setattr(_template, "_FOLDER", folder)
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        undefined=jinja2.StrictUndefined,
        **_template._SETTINGS,
    )
    monkeypatch.setattr(_template, "environment", lambda: env)
    page = build_page(data, {}, "2026-01-01T00:00:00Z")
    assert "<title>EDITED " in page
    parsed = _template.template()
    assert parsed is env.get_template(_template.TEMPLATE)  # parsed, not the stale code
    _template.template.cache_clear()
    _template.write_compiled()  # regenerated: used again, same page
    regenerated = _template.template()
    assert regenerated is not parsed  # from the regenerated code
    assert build_page(data, {}, "2026-01-01T00:00:00Z") == page
    monkeypatch.undo()
    _template.template.cache_clear()
    _template.environment.cache_clear()
