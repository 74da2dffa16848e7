"""``summary.json``'s writer: the text of ``json.dumps(indent=2, allow_nan=False)``, faster.

``exports._json_text`` writes indented JSON itself (the standard library's indented
encoder is pure Python); it must give ``json.dumps``'s text for every value, and its
errors for what JSON cannot hold. Checked on generated values and on the real summary of
the report's test analysis (``tests/test_report.py``: the 20 ETFs' real returns).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from factorxray.analysis import Analysis
from factorxray.report import exports
from tests.test_report import build_test_analysis

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
PLAIN = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=40,
)


def _dumps(value: object) -> str:
    return json.dumps(value, indent=2, allow_nan=False)


@settings(max_examples=400, deadline=None)
@given(PLAIN)
def test_plain_values_give_json_dumps_text(value: object) -> None:
    assert exports._json_text(value) == _dumps(value)


@pytest.mark.parametrize(
    "value",
    [
        {"a": 1.0, "b": -0.0, "c": 1e-7, "d": 1.2345678901234567e17, "e": 5e-324},
        {"é": 'ünïcode ✓ \u2028 \x00 "quoted" \\ back'},
        {"empty": {}, "none": [], "nested": [[], [{}], {"x": [None]}]},
        [True, False, None, 0, -1, 10**40],
        "just a string",
        3.5,
        # not plain: handed to json.dumps, which writes them its way
        {1: "int key", 2.5: "float key", None: "none key", False: "bool key"},
        {"tuple": (1, 2), "numpy": np.float64(0.1), "int64": 3},
        {"deep": json.loads("[" * 100 + "]" * 100)},
    ],
)
def test_edge_values_give_json_dumps_text(value: object) -> None:
    assert exports._json_text(value) == _dumps(value)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, [1.0, {"x": math.nan}]])
def test_not_finite_raises_as_json_dumps(bad: object) -> None:
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        _dumps(bad)
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        exports._json_text(bad)


def test_cycle_raises_as_json_dumps() -> None:
    cycle: dict[str, object] = {}
    cycle["self"] = [cycle]
    with pytest.raises(ValueError, match="Circular reference detected"):
        exports._json_text(cycle)


def test_unknown_type_raises_as_json_dumps() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        exports._json_text({"path": Path("x")})


@pytest.fixture(scope="module")
def analysis() -> Analysis:
    return build_test_analysis()


def test_summary_json_is_json_dumps_text(analysis: Analysis, tmp_path: Path) -> None:
    path = exports.write_summary_json(
        analysis, tmp_path / exports.SUMMARY_JSON, generated_at="2026-01-02T03:04:05Z"
    )
    record = exports.summary(analysis, generated_at="2026-01-02T03:04:05Z")
    text = path.read_text(encoding="utf-8")
    assert text == _dumps(record) + "\n"
    assert json.loads(text) == record
    # real numbers of the engine: SPY's market beta, read back exactly
    spy = next(f for f in record["funds"] if f["fund"] == "SPY")
    beta = analysis.results.params.loc["SPY", "Mkt-RF"]
    assert spy["exposures"]["Mkt-RF"]["beta"] == beta
    assert 0.9 < beta < 1.1


def test_clean_gives_plain_values() -> None:
    import pandas as pd

    raw = {
        "floats": [1.5, math.nan, np.float32(0.5), np.float64(-math.inf)],
        "ints": (np.int64(3), True, np.bool_(False)),
        "missing": [pd.NA, pd.NaT, None],
        "period": pd.Period("2020-04", freq="M"),
        3: {"nested": np.array([1.0, math.nan])},
    }
    assert exports._clean(raw) == {
        "floats": [1.5, None, 0.5, None],
        "ints": [3, True, False],
        "missing": [None, None, None],
        "period": "2020-04",
        "3": {"nested": [1.0, None]},
    }
