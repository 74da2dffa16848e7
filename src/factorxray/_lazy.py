"""Lazy exports for packages (PEP 562): a name's module is imported on first access.

``import factorxray`` and the command line's start stay light (no pandas, numpy or httpx)
while ``fx.analyze``, ``from factorxray.factors import load_factors`` and the like keep working.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_exports(
    package: str,
    exports: Mapping[str, str],
    submodules: Iterable[str] = (),
    defined: Iterable[str] = (),
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's ``__getattr__`` and ``__dir__`` for names defined in its modules.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : mapping of str to str
        Public name -> the module that defines it.
    submodules : iterable of str
        Subpackages or modules reachable as attributes (``fx.presets``).
    defined : iterable of str
        Names the package defines itself (``__version__``), listed by ``dir()`` too.

    Returns
    -------
    (__getattr__, __dir__)
        To assign at module level; a name found is stored in the package's namespace, so the
        module is looked up once.

    Examples
    --------
    >>> getattr_, dir_ = lazy_exports("json", {"dumps": "json"})
    >>> getattr_("dumps")({"a": 1}), "dumps" in dir_()
    ('{"a": 1}', True)
    """
    names = dict(exports)
    modules = tuple(submodules)
    public = sorted({*names, *modules, *defined})

    def __getattr__(name: str) -> Any:
        if name in modules:
            return importlib.import_module(f"{package}.{name}")
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        vars(importlib.import_module(package))[name] = value
        return value

    def __dir__() -> list[str]:
        return list(public)

    return __getattr__, __dir__
