"""The report's jinja2 template, shipped precompiled so a run does not parse it.

Parsing and compiling ``templates/report.html.j2`` with jinja2 took about 0.15-0.35 s of
every report (lexing, parsing and code generation; Python's own ``compile`` of the result is
about 0.02 s). The package therefore ships jinja2's generated Python source of the template,
``templates/report.html.j2.compiled``, whose first line holds a key: the sha256 of the
template source, the environment's settings and the jinja2 version. :func:`template` uses
it when the key matches and compiles the template as before otherwise (after an edit of the
template, or with another jinja2), so a stale file can cost time but never change a page.

After editing the template, regenerate the file (a test fails until then)::

    uv run python -m factorxray.report._template
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = ["COMPILED", "TEMPLATE", "compiled_key", "environment", "template", "write_compiled"]

TEMPLATE = "report.html.j2"
COMPILED = "report.html.j2.compiled"
_FOLDER = Path(__file__).with_name("templates")
#: Environment settings that change the generated code (the key covers them).
_SETTINGS: dict[str, Any] = {"autoescape": True, "trim_blocks": True, "lstrip_blocks": True}
_HEADER = "# factorxray precompiled jinja2 template, key "


@lru_cache(maxsize=1)
def environment() -> Any:
    """The report's jinja2 environment (autoescaping, strict undefined)."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("factorxray.report", "templates"),
        undefined=jinja2.StrictUndefined,
        **_SETTINGS,
    )


def compiled_key(source: str) -> str:
    """The key of a compiled template: sha256 of the source, the settings and jinja2's version."""
    import jinja2

    text = f"{jinja2.__version__}\n{sorted(_SETTINGS.items())}\nStrictUndefined\n{source}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _source() -> tuple[str, Path]:
    path = _FOLDER / TEMPLATE
    return path.read_text(encoding="utf-8"), path


def _generated(source: str, path: Path) -> str:
    return str(environment().compile(source, TEMPLATE, str(path), raw=True))


@lru_cache(maxsize=1)
def template() -> Any:
    """The report template: from the shipped compiled code when it is current, else parsed.

    Returns
    -------
    jinja2.Template
    """
    env = environment()
    source, path = _source()
    try:
        text = (_FOLDER / COMPILED).read_text(encoding="utf-8")
    except OSError:
        return env.get_template(TEMPLATE)
    header, _, code = text.partition("\n")
    if header != _HEADER + compiled_key(source):
        return env.get_template(TEMPLATE)
    return env.template_class.from_code(env, compile(code, str(path), "exec"), env.globals)


def write_compiled() -> Path:
    """Regenerate ``templates/report.html.j2.compiled`` from the template; return its path."""
    from factorxray._atomic import atomic_write_text

    source, path = _source()
    target = _FOLDER / COMPILED
    atomic_write_text(target, f"{_HEADER}{compiled_key(source)}\n{_generated(source, path)}")
    return target


if __name__ == "__main__":
    print(write_compiled())
