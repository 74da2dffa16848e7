"""The blend finder on real data (the bundled snapshot): targets, bounds, infeasibility, out of sample."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import factorxray as fx
from factorxray.data.cache import Cache
from factorxray.errors import UsageError
from factorxray.portfolio import find_blend, parse_target, solve_blend
from factorxray.portfolio.blend import Constraint

CANDIDATES = ["VBR", "IJR", "VTV", "VLUE", "SPY", "MTUM", "USMV"]
NAMES = ["Mkt-RF", "SMB", "HML", "RMW", "CMA", "MOM", "VOL"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> fx.Analysis:
    cache = Cache(tmp_path_factory.mktemp("cache"))
    return fx.analyze(
        CANDIDATES, offline=True, cache=cache, models=None, region_fit=False, drift=False
    )


@pytest.fixture(scope="module")
def value_and_size(data):
    """The issue's example: SMB>=0.2,HML>=0.2 from the seven funds."""
    return find_blend("SMB>=0.2,HML>=0.2", data.returns, data.factors, candidates=CANDIDATES)


# ------------------------------------------------------------------------------ targets


def test_parse_target_operators_and_names() -> None:
    target = parse_target("smb>=0.2; HML > 0.1, mkt<=1.1 ,VOL=0,MOM==-0.05,RMW<0.3", NAMES)
    assert [(c.factor, c.op, c.value) for c in target.constraints] == [
        ("SMB", ">=", 0.2),
        ("HML", ">=", 0.1),
        ("Mkt-RF", "<=", 1.1),
        ("VOL", "=", 0.0),
        ("MOM", "=", -0.05),
        ("RMW", "<=", 0.3),
    ]
    assert str(parse_target({"SMB": 0.3}, NAMES)) == "SMB=0.3"
    assert Constraint("SMB", ">=", 0.2).violation(0.15) == pytest.approx(0.05)
    assert Constraint("SMB", "=", 0.2).violation(0.25) == pytest.approx(0.05)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("SBM>=0.2", r"unknown factor 'SBM' in the target; did you mean SMB\?"),
        ("HMl>=0.2,Momentum>=0.1", r"unknown factor 'Momentum'.*did you mean MOM\?"),
        ("SMB>>0.2", r"'SMB>>0\.2' is not FACTOR OP VALUE"),
        ("SMB=>0.2", r"is not FACTOR OP VALUE"),
        ("SMB 0.2", r"is not FACTOR OP VALUE"),
        (">=0.2", r"is not FACTOR OP VALUE"),
        ("SMB>=", r"is not FACTOR OP VALUE"),
        ("SMB>=high", r"'high' is not a number"),
        ("SMB>=nan", r"finite number"),
        (" , ", r"the target is empty"),
    ],
)
def test_bad_targets_are_one_line(text, message) -> None:
    with pytest.raises(UsageError, match=message) as info:
        parse_target(text, NAMES)
    assert "\n" not in str(info.value)


# ------------------------------------------------------------------------- known answers


@pytest.mark.parametrize("fund", ["VBR", "VTV", "MTUM", "USMV", "SPY"])
def test_a_target_equal_to_one_funds_exposures_returns_that_fund(data, fund) -> None:
    betas = find_blend("SMB>=-9", data.returns, data.factors, candidates=CANDIDATES).betas
    target = {factor: float(betas.loc[fund, factor]) for factor in NAMES}
    blend = find_blend(target, data.returns, data.factors, candidates=CANDIDATES)
    assert blend.feasible
    assert blend.weights[fund] == pytest.approx(1.0, abs=1e-9)
    assert blend.holdings.index.tolist() == [fund]
    np.testing.assert_allclose(blend.achieved[NAMES], betas.loc[fund, NAMES], atol=1e-9)


def test_a_benchmark_that_meets_the_target_is_its_own_blend(data) -> None:
    blend = find_blend(
        "Mkt-RF>=0.9", data.returns, data.factors, candidates=CANDIDATES, benchmark="SPY"
    )
    assert blend.holdings.to_dict() == {"SPY": 1.0}
    assert blend.risk == pytest.approx(0.0, abs=1e-9)
    assert blend.objective == "tracking error vs SPY"


def test_the_issue_example_meets_the_target_at_least_residual_risk(data, value_and_size) -> None:
    blend = value_and_size
    assert blend.feasible and blend.message == ""
    w = blend.weights
    assert w.sum() == pytest.approx(1.0, abs=1e-12) and (w >= 0).all()
    assert blend.achieved["SMB"] >= 0.2 - 1e-9 and blend.achieved["HML"] >= 0.2 - 1e-9
    # the blend's own regression equals the weighted candidate betas (OLS is linear in y)
    implied = w.to_numpy() @ blend.betas[NAMES].to_numpy()
    np.testing.assert_allclose(blend.achieved[NAMES].to_numpy(), implied, atol=1e-12)
    # the window: VLUE and MTUM start last, the factors end first
    assert (str(blend.start), str(blend.end), blend.nobs) == ("2013-05", "2025-11", 151)
    assert blend.limited_by == {"start": ["VLUE", "MTUM"], "end": ["factors"]}
    # real answer: small and value funds with SPY, HML binding at 0.2
    assert set(blend.holdings.index) == {"VBR", "SPY", "IJR", "VTV", "VLUE"}
    assert blend.weights["VBR"] == pytest.approx(0.351, abs=5e-3)
    assert blend.achieved["HML"] == pytest.approx(0.2, abs=1e-7)
    assert blend.risk == pytest.approx(0.0150, abs=5e-4)  # residual volatility a year


def test_no_random_feasible_blend_has_less_residual_risk(data, value_and_size) -> None:
    """The optimum, checked against 20,000 random long-only blends (Dirichlet)."""
    months = pd.period_range(value_and_size.start, value_and_size.end, freq="M")
    x = np.column_stack([np.ones(len(months)), data.factors.loc[months, NAMES].to_numpy()])
    excess = data.returns.loc[months, CANDIDATES].sub(data.factors.loc[months, "RF"], axis=0)
    resid = excess.to_numpy() - x @ np.linalg.lstsq(x, excess.to_numpy(), rcond=None)[0]
    omega = np.cov(resid, rowvar=False)
    w = value_and_size.weights[CANDIDATES].to_numpy()
    best = np.sqrt(12 * w @ omega @ w)
    assert value_and_size.risk == pytest.approx(best, rel=1e-9)
    rng = np.random.default_rng(14)
    samples = rng.dirichlet(np.full(len(CANDIDATES), 0.5), size=20_000)
    betas = value_and_size.betas.loc[CANDIDATES, ["SMB", "HML"]].to_numpy()
    feasible = samples[((samples @ betas) >= 0.2).all(axis=1)]
    assert len(feasible) > 500
    risks = np.sqrt(12 * np.einsum("ij,jk,ik->i", feasible, omega, feasible))
    assert risks.min() >= best * (1 - 1e-9)


# ------------------------------------------------------------------------------ bounds


def test_max_weight_is_respected(data) -> None:
    blend = find_blend(
        "SMB>=0.2,HML>=0.2", data.returns, data.factors, candidates=CANDIDATES, max_weight=0.3
    )
    assert blend.feasible
    assert blend.weights.max() <= 0.3 + 1e-12
    assert blend.weights["VBR"] == pytest.approx(0.3, abs=1e-9)  # the cap binds on VBR
    assert blend.weights.sum() == pytest.approx(1.0, abs=1e-12)
    assert blend.out_of_sample is not None and blend.out_of_sample.weights.max() <= 0.3 + 1e-12


@pytest.mark.parametrize("max_funds", [1, 2, 3])
def test_max_funds_is_respected_and_matches_the_heuristic(data, max_funds) -> None:
    kwargs = {"candidates": CANDIDATES, "max_funds": max_funds, "fit_share": 0.99}
    exact = find_blend("SMB>=0.2,HML>=0.2", data.returns, data.factors, **kwargs)
    assert exact.solver["exhaustive"]
    assert (exact.weights > 0).sum() <= max_funds
    heuristic = find_blend(
        "SMB>=0.2,HML>=0.2", data.returns, data.factors, exhaustive_limit=0, **kwargs
    )
    assert not heuristic.solver["exhaustive"]
    assert (heuristic.weights > 0).sum() <= max_funds
    if max_funds == 1:
        # one fund alone: VBR (SMB 0.60, HML 0.31) is the only one with both tilts
        assert exact.holdings.to_dict() == {"VBR": 1.0}
    else:
        assert exact.feasible and heuristic.feasible
    # exhaustive search is optimal over supports; on these funds the heuristic finds it too
    assert heuristic.risk >= exact.risk * (1 - 1e-9)
    assert heuristic.risk == pytest.approx(exact.risk, rel=1e-6)


def test_bounds_that_cannot_add_up_are_refused(data) -> None:
    with pytest.raises(UsageError, match=r"--max-weight 0\.1 with 7 fund\(s\) cannot add up to 1"):
        find_blend("SMB>=0.2", data.returns, data.factors, candidates=CANDIDATES, max_weight=0.1)
    with pytest.raises(UsageError, match=r"--max-funds 2 with --max-weight 0\.4 cannot add up"):
        find_blend(
            "SMB>=0.2",
            data.returns,
            data.factors,
            candidates=CANDIDATES,
            max_weight=0.4,
            max_funds=2,
        )
    with pytest.raises(UsageError, match="candidate list is empty"):
        find_blend("SMB>=0.2", data.returns, data.factors, candidates=[])
    with pytest.raises(UsageError, match="listed twice"):
        find_blend("SMB>=0.2", data.returns, data.factors, candidates=["SPY", "SPY"])


# ------------------------------------------------------------------------ infeasibility


def test_an_infeasible_target_names_the_binding_constraint(data) -> None:
    blend = find_blend("SMB>=0.3,HML>=0.4", data.returns, data.factors, candidates=CANDIDATES)
    assert not blend.feasible
    # VLUE alone has the most HML of the seven funds: 0.349 < 0.4
    assert "the largest achievable HML with these funds is 0.349 (target HML>=0.4)" in (
        blend.message
    )
    assert "\n" not in blend.message
    table = blend.constraints.set_index("constraint")
    assert bool(table.loc["SMB>=0.3", "met"]) and not bool(table.loc["HML>=0.4", "met"])
    assert table.loc["HML>=0.4", "best"] == pytest.approx(blend.betas["HML"].max())
    # the closest blend: least total shortfall, checked against 20,000 random blends
    rng = np.random.default_rng(3)
    samples = rng.dirichlet(np.full(len(CANDIDATES), 0.5), size=20_000)
    betas = blend.betas.loc[CANDIDATES, ["SMB", "HML"]].to_numpy()
    exposures = samples @ betas
    shortfall = np.maximum(0.3 - exposures[:, 0], 0) + np.maximum(0.4 - exposures[:, 1], 0)
    assert table["shortfall"].sum() <= shortfall.min() + 1e-9
    assert blend.weights.sum() == pytest.approx(1.0, abs=1e-12)


def test_constraints_that_conflict_are_named_together(data) -> None:
    blend = find_blend("MOM>=0.3,VOL>=0.2", data.returns, data.factors, candidates=CANDIDATES)
    assert not blend.feasible
    assert "MOM>=0.3, VOL>=0.2 cannot all hold together with these funds" in blend.message
    assert set(blend.holdings.index) == {"MTUM", "USMV"}


def test_a_cap_that_makes_the_target_infeasible_says_so(data) -> None:
    blend = find_blend(
        "HML>=0.34", data.returns, data.factors, candidates=CANDIDATES, max_weight=0.5
    )
    assert not blend.feasible
    # at most half in VLUE (HML 0.349), the rest in VBR (0.313): 0.331 < 0.34
    assert "the largest achievable HML with these funds with weights <= 0.5 is 0.331" in (
        blend.message
    )
    assert "without the cap: 0.349" in blend.message


def test_solve_blend_alone_on_given_betas() -> None:
    """min |w|^2 with sum(w) = 1 and b'w >= 0.75, b = (0, 1, 0.5): w = 1/12 + b/2 (KKT)."""
    betas = pd.DataFrame({"SMB": [0.0, 1.0, 0.5]}, index=["A", "B", "C"])
    solution = solve_blend(parse_target("SMB>=0.75", ["SMB"]), betas, np.eye(3))
    np.testing.assert_allclose(solution.weights, [1 / 12, 7 / 12, 4 / 12], atol=1e-8)
    assert solution.violation == 0
    assert solution.objective == pytest.approx((1 + 49 + 16) / 144)


# ------------------------------------------------------------------------- out of sample


def test_out_of_sample_numbers(data, value_and_size) -> None:
    oos = value_and_size.out_of_sample
    assert oos is not None
    assert (str(oos.fit_start), str(oos.fit_end)) == ("2013-05", "2021-08")  # 100 of 151
    assert (str(oos.test_start), str(oos.test_end)) == ("2021-09", "2025-11")
    assert oos.weights.sum() == pytest.approx(1.0)
    assert set(oos.exposures.columns) == {"beta", "se", "t", "p"}
    assert (oos.in_sample[["SMB", "HML"]] >= 0.2 - 1e-9).all()
    rows = oos.constraints.set_index("constraint")
    assert rows.loc["HML>=0.2", "out_of_sample"] == pytest.approx(0.187, abs=2e-3)
    assert rows.loc["SMB>=0.2", "out_of_sample"] == pytest.approx(0.318, abs=2e-3)
    # the later part's exposures are those of the fit-part weights on the later months
    months = pd.period_range(oos.test_start, oos.test_end, freq="M")
    x = np.column_stack([np.ones(len(months)), data.factors.loc[months, NAMES].to_numpy()])
    y = data.returns.loc[months, CANDIDATES].sub(data.factors.loc[months, "RF"], axis=0)
    direct = np.linalg.lstsq(x, y.to_numpy() @ oos.weights[CANDIDATES].to_numpy(), rcond=None)[0]
    np.testing.assert_allclose(oos.exposures["beta"].to_numpy(), direct, atol=1e-12)
    record = value_and_size.to_dict()["out_of_sample"]
    assert record["out_of_sample"]["HML"]["beta"] == pytest.approx(
        rows.loc["HML>=0.2", "out_of_sample"]
    )


def test_a_short_window_skips_the_out_of_sample_check_with_a_note(data) -> None:
    blend = find_blend(
        "SMB>=0.2", data.returns.loc["2021-01":], data.factors, candidates=CANDIDATES
    )
    assert blend.out_of_sample is None
    assert any("no out-of-sample check" in note for note in blend.notes)


# ---------------------------------------------------------------------------- pipeline


def test_fx_find_blend_from_names_offline(tmp_path) -> None:
    blend = fx.find_blend(
        "SMB>=0.2,HML>=0.2",
        "VBR,IJR,VTV,VLUE,SPY,MTUM,USMV,ZZZZ",
        offline=True,
        cache=Cache(tmp_path),
        models=None,
    )
    assert blend.candidates == CANDIDATES  # ZZZZ dropped, with a note
    assert blend.notes[0].startswith("ZZZZ dropped:")
    assert blend.weights["VBR"] == pytest.approx(0.351, abs=5e-3)
    assert blend.xray is not None
    assert blend.xray.analysis.analyzed[-1] == "BLEND"
    assert blend.xray.exposures.gap.abs().max() < 1e-12
    np.testing.assert_allclose(
        blend.xray.exposures.regressed[NAMES].to_numpy(),
        blend.achieved[NAMES].to_numpy(),
        atol=1e-10,
    )


def test_fx_find_blend_checks_the_target_before_downloading(tmp_path) -> None:
    with pytest.raises(UsageError, match="did you mean SMB"):
        fx.find_blend("SBM>=0.2", "VBR,SPY", cache=Cache(tmp_path))  # no network needed
    with pytest.raises(UsageError, match="benchmark"):
        fx.find_blend("SMB>=0.2", "VBR,SPY", benchmark="ZZZZ", offline=True, cache=Cache(tmp_path))
