"""Judging funds against their labels: rules, sentences and robustness.

- :mod:`~factorxray.judge.verdicts`: the rules (significance *and* size) and the verdicts;
- :mod:`~factorxray.judge.sentences`: the plain words;
- :mod:`~factorxray.judge.robustness`: other models, rolling windows, drift, FDR, regions.

The package is also callable: ``fx.judge(results, universe)`` is
:func:`factorxray.judge.verdicts.judge`. Importing a subpackage binds its name on the parent
(``factorxray.judge`` becomes this package as soon as anything imports it), so the documented
``fx.judge(...)`` must work whichever of the two the name holds.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from factorxray._lazy import lazy_exports

#: Public name -> the module that defines it, imported on first access (PEP 562), so that
#: ``from factorxray.judge.defaults import ...`` (the command line's start) stays light.
_EXPORTS = {
    "DEFAULT_MIN_BETA": "factorxray.judge.defaults",
    **dict.fromkeys(
        (
            "CHECK_STATUSES",
            "VERDICT_STATUSES",
            "Rules",
            "TiltCheck",
            "Verdict",
            "judge",
            "verdict_table",
        ),
        "factorxray.judge.verdicts",
    ),
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


class _CallablePackage(types.ModuleType):
    """This package, callable as :func:`factorxray.judge.verdicts.judge` (see the docstring)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from factorxray.judge.verdicts import judge

        return judge(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
