"""The blend finder: long-only weights whose implied exposures meet a target at least risk.

Given candidate funds with betas ``B`` (funds x factors, regressed on the same months) and a
target such as ``SMB>=0.2,HML>=0.2``, find weights ``w`` with

    minimise    w' Q w - 2 c' w + s
    subject to  sum(w) = 1,  0 <= w_i <= max_weight,  at most max_funds of them non-zero,
                (B' w)_f >= / <= / = value   for every constraint of the target

where ``Q`` is the covariance of the candidates' regression residuals (``c = 0, s = 0``: the
blend's residual variance, because OLS is linear in y) or, with a benchmark, the covariance
of their returns with ``c`` their covariances with the benchmark and ``s`` its variance (the
blend's tracking variance).

Solver (measured in bench/blend.py, argued in docs/portfolio.md): a linear program (HiGHS,
``scipy.optimize.linprog``) first finds the least total constraint violation, which is 0 when
the target is feasible and otherwise defines the closest blend; SLSQP
(``scipy.optimize.minimize``) then minimises the risk from that point with the constraints
(or, when infeasible, the violation bound) held, on whitened weights (so its quasi-Newton
start is the true Hessian) and, beyond :data:`WORKING_SET` candidates, on a working set of
funds grown by their reduced costs until the KKT conditions hold for every candidate.
``max_funds`` is a cardinality constraint,
which no convex solver takes: every support of ``max_funds`` funds is tried when there are
few (at most :data:`EXHAUSTIVE_LIMIT`), else a heuristic: the relaxed solution's funds,
dropped (the smallest weights first), then improved by swapping funds in and out.

Nothing here downloads: :func:`find_blend` consumes returns and factors;
:func:`factorxray.find_blend` (the pipeline) fetches them from fund names.
"""

from __future__ import annotations

import difflib
import itertools
import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg, optimize

from factorxray.engine import regress
from factorxray.engine.ols import blas_threads
from factorxray.errors import InsufficientDataError, UsageError, quote

__all__ = [
    "Blend",
    "BlendSolution",
    "Constraint",
    "OutOfSample",
    "Target",
    "find_blend",
    "parse_target",
    "solve_blend",
]

OPERATORS = (">=", "<=", "==", "=", ">", "<")
#: ``>`` and ``<`` are solved as ``>=`` and ``<=`` (a continuous optimum sits on the boundary).
_CANONICAL = {">=": ">=", "<=": "<=", "==": "=", "=": "=", ">": ">=", "<": "<="}
#: Names accepted for the market factor besides its own.
_ALIASES = {"MKT": "Mkt-RF", "MKTRF": "Mkt-RF", "MKT_RF": "Mkt-RF", "MARKET": "Mkt-RF"}
#: A constraint counts as met within this much (betas).
TOLERANCE = 1e-6
#: Weights below this are set to 0 (and the rest rescaled).
WEIGHT_FLOOR = 1e-7
#: Weights below this after SLSQP are tried at 0 (kept there when no worse).
POLISH_BELOW = 1e-4
#: Up to this many candidates SLSQP sees them all; beyond, it works on a working set of them
#: (SLSQP's dense subproblem grows as n^3: 200 funds cost seconds, a working set milliseconds).
WORKING_SET = 40
WORKING_START = 12
WORKING_PER_CONSTRAINT = 6
WORKING_ADD = 10
#: Ridge added to the (unit mean variance) risk matrix before whitening it.
WHITEN_RIDGE = 1e-9
#: A fund outside the working set enters when its reduced cost is below minus this (the
#: objective is scaled to a unit mean variance).
PRICE_TOLERANCE = 1e-7
#: With max_funds, the heuristic's swaps bring in funds from this many of the relaxed
#: solution's largest weights.
SWAP_POOL = 20
#: With max_funds, every support is tried when there are at most this many.
EXHAUSTIVE_LIMIT = 200
#: Share of the common window the out-of-sample check fits the blend on.
FIT_SHARE = 2 / 3
#: Fewest months in the out-of-sample part (else the check is skipped, with a note).
MIN_TEST_MONTHS = 24
_ITEM = re.compile(r"^\s*(?P<factor>[^<>=]*?)\s*(?P<op>>=|<=|==|=|>|<)\s*(?P<value>[^<>=]*?)\s*$")


# ------------------------------------------------------------------------------ targets


@dataclass(frozen=True)
class Constraint:
    """One condition on the blend's exposure to a factor: ``factor op value``.

    ``op`` is ``">="``, ``"<="`` or ``"="`` (``>``/``<`` are read as ``>=``/``<=``;
    ``given`` keeps what was typed).
    """

    factor: str
    op: str
    value: float
    given: str = ""

    def violation(self, beta: float) -> float:
        """How far ``beta`` is from meeting the constraint (0 when it does)."""
        if self.op == ">=":
            return max(0.0, self.value - beta)
        if self.op == "<=":
            return max(0.0, beta - self.value)
        return abs(beta - self.value)

    def holds(self, beta: float, tol: float = TOLERANCE) -> bool:
        """Whether ``beta`` meets the constraint within ``tol``."""
        return bool(np.isfinite(beta)) and self.violation(beta) <= tol

    def __str__(self) -> str:
        return f"{self.factor}{self.op}{self.value:g}"


@dataclass(frozen=True)
class Target:
    """The constraints a blend must meet (all of them)."""

    constraints: tuple[Constraint, ...]
    text: str = ""

    @property
    def factors(self) -> list[str]:
        """The factors constrained, in order of first mention."""
        return list(dict.fromkeys(c.factor for c in self.constraints))

    def __str__(self) -> str:
        return ",".join(str(c) for c in self.constraints)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{factor: [{"op", "value"}, ...]}`` and the text."""
        out: dict[str, Any] = {}
        for c in self.constraints:
            out.setdefault(c.factor, []).append({"op": c.op, "value": c.value})
        return {"text": str(self), "constraints": out}


def parse_target(
    target: str | Mapping[str, float] | Target | Sequence[Constraint],
    factors: Sequence[str],
) -> Target:
    """Parse ``"SMB>=0.2,HML>=0.2"`` into constraints on known factors.

    Items are separated by commas or semicolons; each is ``FACTOR OP VALUE`` with ``OP`` one
    of ``>=``, ``<=``, ``>``, ``<``, ``=`` (``==`` too). Factor names are matched ignoring
    case (``Mkt`` and ``MKT`` mean ``Mkt-RF``). A mapping ``{factor: value}`` means equalities.

    Parameters
    ----------
    target : str, mapping, Target or sequence of Constraint
    factors : sequence of str
        The factors of the model the candidates are regressed on.

    Returns
    -------
    Target

    Raises
    ------
    UsageError
        One line: an empty target, an item that is not ``FACTOR OP VALUE``, a value that is
        not a finite number, or an unknown factor (naming the closest one).

    Examples
    --------
    >>> names = ["Mkt-RF", "SMB", "HML"]
    >>> str(parse_target("smb>=0.2; HML > 0.1, mkt<=1", names))
    'SMB>=0.2,HML>=0.1,Mkt-RF<=1'
    >>> parse_target("SBM>=0.2", names)
    Traceback (most recent call last):
    ...
    factorxray.errors.UsageError: unknown factor 'SBM' in the target; did you mean SMB? (factors: Mkt-RF, SMB, HML)
    """
    if isinstance(target, Target):
        items: list[Constraint] = list(target.constraints)
        for c in items:
            _factor_name(c.factor, factors)
        return target
    if isinstance(target, Mapping):
        items = [
            Constraint(_factor_name(str(k), factors), "=", _value(v, f"{k}={v}"), f"{k}={v}")
            for k, v in target.items()
        ]
        text = ",".join(c.given for c in items)
    elif isinstance(target, str):
        text = target
        items = [_parse_item(part, factors) for part in re.split(r"[,;]", target) if part.strip()]
    else:
        items = list(target)
        text = ",".join(str(c) for c in items)
    if not items:
        raise UsageError(
            "the target is empty; give constraints such as --target 'SMB>=0.2,HML>=0.2'"
        )
    return Target(tuple(items), text)


def _parse_item(text: str, factors: Sequence[str]) -> Constraint:
    match = _ITEM.match(text)
    if match is None or not match["factor"] or not match["value"]:
        raise UsageError(
            f"{quote(text.strip())} is not FACTOR OP VALUE; write e.g. SMB>=0.2 "
            "(operators >=, <=, >, <, =)"
        )
    factor = _factor_name(match["factor"], factors)
    value = _value(match["value"], text.strip())
    op = match["op"]
    return Constraint(factor, _CANONICAL[op], value, text.strip())


def _value(raw: Any, item: str) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise UsageError(
            f"{quote(item)}: {quote(raw)} is not a number; write e.g. SMB>=0.2"
        ) from None
    if not math.isfinite(value):
        raise UsageError(f"{quote(item)}: the value must be a finite number")
    return value


def _factor_name(name: str, factors: Sequence[str]) -> str:
    cleaned = name.strip()
    by_key = {f.upper(): f for f in factors}
    key = cleaned.upper()
    if key in by_key:
        return by_key[key]
    alias = _ALIASES.get(key.replace(" ", ""))
    if alias in factors:
        return str(alias)
    close = difflib.get_close_matches(key, list(by_key), n=1, cutoff=0.3)
    hint = f"did you mean {by_key[close[0]]}? " if close else ""
    raise UsageError(
        f"unknown factor {quote(cleaned)} in the target; {hint}(factors: {', '.join(factors)})"
    )


# ------------------------------------------------------------------------------- solver


@dataclass(frozen=True)
class BlendSolution:
    """What :func:`solve_blend` found.

    Attributes
    ----------
    weights : ndarray
        One weight per candidate (zeros included), summing to 1.
    violation : float
        Total constraint violation (sum over constraints, in betas): 0 when the target is met.
    objective : float
        ``w' Q w - 2 c' w + s`` at ``weights`` (a monthly variance).
    supports_tried : int
        Candidate subsets solved (1 without ``max_funds``).
    exhaustive : bool
        Whether every support of ``max_funds`` funds was tried (else the heuristic ran).
    iterations : int
        SLSQP iterations, summed over the supports solved.
    status : str
        The last SLSQP message (``Optimization terminated successfully`` when all went well).
    """

    weights: np.ndarray
    violation: float
    objective: float
    supports_tried: int = 1
    exhaustive: bool = True
    iterations: int = 0
    status: str = ""


def _rows(
    betas: np.ndarray, factors: Sequence[str], target: Target
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Constraint rows as ``sign * (B' w)_f >= sign * value`` (eq flagged)."""
    index = {f: i for i, f in enumerate(factors)}
    a, b, eq = [], [], []
    for c in target.constraints:
        column = betas[:, index[c.factor]]
        sign = -1.0 if c.op == "<=" else 1.0
        a.append(sign * column)
        b.append(sign * c.value)
        eq.append(c.op == "=")
    return np.array(a), np.array(b), np.array(eq, dtype=bool)


class _Problem:
    """One blend problem; ``solve(support)`` solves it on a subset of the candidates."""

    def __init__(
        self,
        a: np.ndarray,
        b: np.ndarray,
        eq: np.ndarray,
        q: np.ndarray,
        c: np.ndarray,
        s: float,
        max_weight: float,
    ) -> None:
        self.a, self.b, self.eq = a, b, eq
        scale = float(np.mean(np.diag(q))) if q.size else 1.0
        self.scale = scale if scale > 0 else 1.0
        self.q, self.c, self.s = q, c, s
        self.max_weight = max_weight
        self.iterations = 0
        self.status = ""
        self.solved = 0

    def objective(self, w: np.ndarray) -> float:
        return float(w @ self.q @ w - 2.0 * self.c @ w + self.s)

    def violation(self, w: np.ndarray) -> float:
        gap = self.b - self.a @ w
        return float(np.where(self.eq, np.abs(gap), np.maximum(gap, 0.0)).sum())

    def least_violation(self, support: np.ndarray) -> tuple[float, np.ndarray]:
        """LP: the smallest total violation over blends of ``support`` (and such a blend)."""
        m, j = len(support), len(self.b)
        a = self.a[:, support]
        cost = np.concatenate([np.zeros(m), np.ones(j)])
        # inequality rows: -a w - s <= -b; equality rows also: a w - s <= b
        upper = [np.hstack([-a, -np.eye(j)])]
        rhs = [-self.b]
        if self.eq.any():
            upper.append(np.hstack([a[self.eq], -np.eye(j)[self.eq]]))
            rhs.append(self.b[self.eq])
        result = optimize.linprog(
            cost,
            A_ub=np.vstack(upper) if j else None,
            b_ub=np.concatenate(rhs) if j else None,
            A_eq=np.concatenate([np.ones(m), np.zeros(j)])[None, :],
            b_eq=[1.0],
            bounds=[(0.0, self.max_weight)] * m + [(0.0, None)] * j,
            method="highs",
        )
        if result.status != 0:  # pragma: no cover (the simplex with slack is always feasible)
            raise UsageError(f"the blend problem could not be solved: {result.message}")
        w = np.clip(result.x[:m], 0.0, self.max_weight)
        return max(0.0, float(result.fun)), w / w.sum()

    def solve(self, support: np.ndarray, polish: bool = True) -> tuple[np.ndarray, float, float]:
        """Least risk among the least-violation blends of ``support``: (w, violation, risk).

        SLSQP stops when the objective no longer moves by ``ftol``, which can leave dust
        (weights of 1e-6) where the optimum has 0; with ``polish`` the support without the
        dust is solved again and kept when it is no worse.
        """
        w, violation, risk = self._solve(support)
        dust = (w > 0) & (w < POLISH_BELOW)
        if polish and dust.any():
            keep = np.flatnonzero(w >= POLISH_BELOW)
            if len(keep) and self.max_weight * len(keep) >= 1.0 - 1e-12:
                w2, v2, r2 = self._solve(keep)
                if v2 <= violation + 1e-9 and r2 <= risk + 1e-9 * self.scale:
                    return w2, v2, r2
        return w, violation, risk

    def _solve(self, support: np.ndarray) -> tuple[np.ndarray, float, float]:
        self.solved += 1
        n = len(self.c)
        bound, start = self.least_violation(support)
        start_full = np.zeros(n)
        start_full[support] = start
        if len(support) <= WORKING_SET:
            full, result = self._slsqp(support, bound, start_full)
        else:
            full, result = self._working_set(support, bound, start_full)
        # keep SLSQP's answer only if it is no worse than the LP's blend on both counts
        if (
            not np.isfinite(result.fun)
            or self.violation(full) > bound + 1e-9
            or self.objective(full) > self.objective(start_full)
        ):
            full = start_full
        return full, self.violation(full), self.objective(full)

    def _working_set(
        self, support: np.ndarray, bound: float, start: np.ndarray
    ) -> tuple[np.ndarray, Any]:
        """Column generation: SLSQP on a working set of funds, grown until no fund outside it
        has a negative reduced cost (then the KKT conditions hold for every fund: optimal).

        The working set starts with the LP's blend, the funds of least risk and the funds
        with the most of each constrained exposure; each round adds the funds whose reduced
        cost is most negative (at least :data:`WORKING_ADD`, at most as many as it holds).
        """
        risk_order = support[np.argsort(np.diag(self.q)[support], kind="stable")]
        chosen = set(np.flatnonzero(start).tolist()) | set(risk_order[:WORKING_START].tolist())
        for row, is_eq in zip(self.a, self.eq, strict=True):
            ranked = support[np.argsort(-row[support], kind="stable")]
            chosen |= set(ranked[:WORKING_PER_CONSTRAINT].tolist())
            if is_eq:
                chosen |= set(ranked[-WORKING_PER_CONSTRAINT:].tolist())
        x0 = start
        while True:
            working = np.array(sorted(chosen))
            full, result, raw, pricing = self._slsqp(working, bound, x0, with_prices=True)
            outside = np.setdiff1d(support, working)
            if not len(outside):
                return full, result
            gradient = (self.q @ raw - self.c) / self.scale  # of the objective SLSQP saw
            reduced = gradient[outside] - pricing[outside]
            negative = outside[reduced < -PRICE_TOLERANCE]
            if not len(negative):
                return full, result
            order = np.argsort(reduced[reduced < -PRICE_TOLERANCE], kind="stable")
            # add the most negative: at least WORKING_ADD, up to doubling the set (so a dense
            # optimum costs a few solves, a sparse one stays small)
            grow = max(WORKING_ADD, len(working))
            chosen |= set(negative[order[:grow]].tolist())
            x0 = full

    def _slsqp(
        self,
        support: np.ndarray,
        bound: float,
        start: np.ndarray,
        with_prices: bool = False,
    ) -> Any:
        """SLSQP over ``support`` from ``start`` (full-length, feasible): (w, result[, prices]).

        The weights are whitened first, ``v = L' w`` with ``Q = L L'`` (Cholesky, plus a
        ridge of 1e-9 of the mean variance): the objective becomes ``v'v / 2 - c' w``, whose
        Hessian is the identity SLSQP starts from, so it needs a few iterations instead of
        about one per fund (measured in bench/blend.py). The bounds on ``w`` become linear
        constraints on ``v``.

        ``prices`` (with ``with_prices``) is, for every candidate, the constraints' part of
        the Lagrangian's gradient, sum_i multiplier_i * d constraint_i / d w_j (budget and
        target constraints: a change of variables leaves their multipliers alone), so that a
        fund's reduced cost is the objective's gradient minus it.
        """
        n = len(self.c)
        m = len(support)
        q = self.q[np.ix_(support, support)] / self.scale
        chol = linalg.cholesky(q + WHITEN_RIDGE * np.eye(m), lower=True)
        back = linalg.solve_triangular(chol.T, np.eye(m), lower=False)  # w = back @ v
        c = (self.c[support] / self.scale) @ back
        a = self.a[:, support] @ back
        b, eq = self.b, self.eq
        ones = back.sum(axis=0)
        caps = self.max_weight < 1.0
        # rows of w >= 0 (and w <= cap) as constraints on v
        box = np.vstack([back, -back]) if caps else back
        box_rhs = (
            np.concatenate([np.zeros(m), -np.full(m, self.max_weight)]) if caps else np.zeros(m)
        )
        v0 = chol.T @ start[support]
        j = len(b)
        feasible = bound <= TOLERANCE * 1e-3
        slack = 0 if feasible else j

        def part(x: np.ndarray) -> np.ndarray:
            return x[:m]

        def pad(rows: np.ndarray) -> np.ndarray:
            return np.hstack([rows, np.zeros((len(rows), slack))]) if slack else rows

        constraints = [
            {
                "type": "eq",
                "fun": lambda x: ones @ part(x) - 1.0,
                "jac": lambda x: pad(ones[None, :]),
            }
        ]
        rows = [np.ones((1, n))]
        if feasible:
            x0 = v0
            if eq.any():
                constraints.append(
                    {"type": "eq", "fun": lambda x: a[eq] @ x - b[eq], "jac": lambda x: a[eq]}
                )
                rows.append(self.a[eq])
            if (~eq).any():
                constraints.append(
                    {"type": "ineq", "fun": lambda x: a[~eq] @ x - b[~eq], "jac": lambda x: a[~eq]}
                )
                rows.append(self.a[~eq])
            bounds = None
        else:
            # variables [v, slack]; the violation may not exceed the LP's least violation
            w0 = start[support]
            a_w = self.a[:, support]
            s0 = np.where(eq, np.abs(b - a_w @ w0), np.maximum(b - a_w @ w0, 0.0))
            x0 = np.concatenate([v0, s0])
            budget = bound * (1.0 + 1e-9) + 1e-12
            constraints += [
                {
                    "type": "ineq",
                    "fun": lambda x: a @ x[:m] + x[m:] - b,
                    "jac": lambda x: np.hstack([a, np.eye(j)]),
                },
                {
                    "type": "ineq",
                    "fun": lambda x: budget - x[m:].sum(),
                    "jac": lambda x: np.concatenate([np.zeros(m), -np.ones(j)])[None, :],
                },
            ]
            rows += [self.a, np.zeros((1, n))]
            if eq.any():
                constraints.append(
                    {
                        "type": "ineq",
                        "fun": lambda x: x[m:][eq] - (a[eq] @ x[:m] - b[eq]),
                        "jac": lambda x: np.hstack([-a[eq], np.eye(j)[eq]]),
                    }
                )
                rows.append(-self.a[eq])
            bounds = [(None, None)] * m + [(0.0, None)] * j
        # the box last, so that the multipliers of the rows above come first
        constraints.append(
            {"type": "ineq", "fun": lambda x: box @ part(x) - box_rhs, "jac": lambda x: pad(box)}
        )

        def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
            v = part(x)
            grad = v - c
            value = float(0.5 * v @ v - c @ v)
            return value, np.concatenate([grad, np.zeros(slack)]) if slack else grad

        result = optimize.minimize(
            fun,
            x0,
            jac=True,
            method="SLSQP",
            bounds=bounds,
            constraints=constraints,
            options={"maxiter": 500, "ftol": 1e-14},
        )
        self.iterations += int(result.nit)
        self.status = str(result.message)
        w = back @ result.x[:m]
        full = np.zeros(n)
        full[support] = _clean_weights(w, self.max_weight)
        if not with_prices:
            return full, result
        gradients = np.vstack(rows)
        multipliers = np.asarray(getattr(result, "multipliers", np.zeros(0)))
        if len(multipliers) < len(gradients):  # pragma: no cover (scipy < 1.15)
            multipliers = np.zeros(len(gradients))
        raw = np.zeros(n)
        raw[support] = w
        return full, result, raw, multipliers[: len(gradients)] @ gradients


def _clean_weights(w: np.ndarray, max_weight: float) -> np.ndarray:
    w = np.clip(w, 0.0, max_weight)
    w[w < WEIGHT_FLOOR] = 0.0
    return w / w.sum()


def solve_blend(
    target: Target,
    betas: pd.DataFrame,
    risk: pd.DataFrame | np.ndarray,
    *,
    linear: np.ndarray | None = None,
    constant: float = 0.0,
    max_weight: float = 1.0,
    max_funds: int | None = None,
    exhaustive_limit: int = EXHAUSTIVE_LIMIT,
) -> BlendSolution:
    """Solve the blend problem on given betas and risk matrix (the numerical core).

    Parameters
    ----------
    target : Target
        From :func:`parse_target` on ``betas.columns``.
    betas : DataFrame
        Candidates x factors.
    risk : DataFrame or ndarray
        ``Q``: the candidates' residual covariance, or their return covariance when
        tracking a benchmark (candidates x candidates, positive semi-definite).
    linear, constant
        ``c`` and ``s`` of the objective ``w' Q w - 2 c' w + s`` (default 0: residual risk).
    max_weight : float
        Upper bound of every weight (``1 / max_weight`` funds at least).
    max_funds : int, optional
        Most funds with a non-zero weight.
    exhaustive_limit : int
        With ``max_funds``, try every support when there are at most this many.

    Returns
    -------
    BlendSolution
    """
    n = len(betas)
    _check_bounds(n, max_weight, max_funds)
    a, b, eq = _rows(betas.to_numpy(dtype=float), list(betas.columns), target)
    q = np.asarray(risk, dtype=float)
    c = np.zeros(n) if linear is None else np.asarray(linear, dtype=float)
    problem = _Problem(a, b, eq, q, c, float(constant), max_weight)
    with blas_threads():  # the engine's rule: small products, one BLAS thread
        w, violation, risk_value = problem.solve(np.arange(n))
        exhaustive = True
        if max_funds is not None and np.count_nonzero(w) > max_funds:
            w, violation, risk_value, exhaustive = _cardinality(
                problem, w, max_funds, exhaustive_limit
            )
    return BlendSolution(
        weights=w,
        violation=violation,
        objective=risk_value,
        supports_tried=problem.solved,
        exhaustive=exhaustive,
        iterations=problem.iterations,
        status=problem.status,
    )


def _check_bounds(n: int, max_weight: float, max_funds: int | None) -> None:
    if n == 0:
        raise UsageError("the candidate list is empty; give funds to blend, e.g. --from SPY,VTV")
    if not (0.0 < max_weight <= 1.0):
        raise UsageError(f"--max-weight {max_weight:g} must be in (0, 1], e.g. 0.5")
    if max_weight * n < 1.0 - 1e-12:
        raise UsageError(
            f"--max-weight {max_weight:g} with {n} fund(s) cannot add up to 1; "
            f"raise it to at least {1 / n:.3g} or give more funds"
        )
    if max_funds is not None:
        if max_funds < 1:
            raise UsageError(f"--max-funds {max_funds} must be at least 1")
        if max_weight * max_funds < 1.0 - 1e-12:
            raise UsageError(
                f"--max-funds {max_funds} with --max-weight {max_weight:g} cannot add up to "
                f"1; allow at least {math.ceil(1 / max_weight - 1e-12)} funds"
            )


def _better(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Lexicographic: less violation (beyond tolerance) first, then less risk."""
    if abs(a[0] - b[0]) > TOLERANCE:
        return a[0] < b[0]
    return a[1] < b[1] * (1 - 1e-9) - 1e-18


def _cardinality(
    problem: _Problem, relaxed: np.ndarray, k: int, limit: int
) -> tuple[np.ndarray, float, float, bool]:
    """Best blend of at most ``k`` funds: all supports if few, else drop-and-swap."""
    n = len(relaxed)
    best: tuple[np.ndarray, float, float] | None = None

    def consider(support: Sequence[int]) -> None:
        nonlocal best
        w, v, r = problem.solve(np.array(sorted(support)))
        if best is None or _better((v, r), (best[1], best[2])):
            best = (w, v, r)

    if math.comb(n, k) <= limit:
        for support in itertools.combinations(range(n), k):
            consider(support)
        assert best is not None
        return best[0], best[1], best[2], True
    # drop the smallest weights until k remain, re-solving each time (half the excess at a
    # time, then one by one)
    current = [int(i) for i in np.flatnonzero(relaxed)]
    w = relaxed
    while len(current) > k:
        drop = max(1, (len(current) - k) // 2)
        for _ in range(drop):
            current.remove(min(current, key=lambda i: w[i]))
        w, _, _ = problem.solve(np.array(current))
        current = [i for i in current if w[i] > 0] or current
    consider(current)
    # then swap one fund in, one out, while that helps (candidates ranked by relaxed weight)
    assert best is not None
    order = [int(i) for i in np.argsort(-relaxed, kind="stable")[:SWAP_POOL]]
    improved = True
    while improved:
        improved = False
        chosen = [int(i) for i in np.flatnonzero(best[0])]
        for out in chosen:
            for extra in order:
                if extra in chosen:
                    continue
                before = (best[1], best[2])
                consider([i for i in chosen if i != out] + [extra])
                if _better((best[1], best[2]), before):
                    improved = True
                    break
            if improved:
                break
    return best[0], best[1], best[2], False


def _bound(betas: np.ndarray, max_weight: float, largest: bool) -> float:
    """Largest (or smallest) exposure any long-only blend with weights <= max_weight reaches."""
    order = np.argsort(-betas if largest else betas, kind="stable")
    left, total = 1.0, 0.0
    for i in order:
        take = min(max_weight, left)
        total += take * betas[i]
        left -= take
        if left <= 1e-15:
            break
    return float(total)


# ----------------------------------------------------------------------- from returns


@dataclass(frozen=True)
class OutOfSample:
    """The blend fitted on the earlier part of the window, measured on the later part.

    Attributes
    ----------
    fit_start, fit_end, test_start, test_end : Period
    weights : Series
        The blend found on the fit part alone.
    in_sample : Series
        Its implied exposures on the fit part (factor -> beta).
    exposures : DataFrame
        Its return series regressed on the test part: term x (beta, se, t, p).
    constraints : DataFrame
        Per constraint: target value, in-sample and out-of-sample exposure, met in each.
    """

    fit_start: pd.Period
    fit_end: pd.Period
    test_start: pd.Period
    test_end: pd.Period
    weights: pd.Series
    in_sample: pd.Series
    exposures: pd.DataFrame
    constraints: pd.DataFrame

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "fit": {"start": str(self.fit_start), "end": str(self.fit_end)},
            "test": {"start": str(self.test_start), "end": str(self.test_end)},
            "weights": _nonzero(self.weights),
            "in_sample": _floats(self.in_sample),
            "out_of_sample": {
                term: _floats(row) for term, row in self.exposures.iterrows() if term != "alpha"
            },
            "constraints": _records(self.constraints),
        }


@dataclass
class Blend:
    """The blend :func:`find_blend` found, with how it meets the target.

    Attributes
    ----------
    target : Target
    candidates : list of str
    weights : Series
        Candidate -> weight (zeros included), summing to 1.
    betas : DataFrame
        The candidates' alphas and betas on the common window (candidates x terms).
    exposures : DataFrame
        The blend's return series (rebalanced monthly) regressed on the common window:
        term x (beta, se, t, p). Its betas equal ``weights @ betas`` (OLS is linear).
    constraints : DataFrame
        Per constraint: ``constraint``, ``factor``, ``op``, ``value``, ``achieved``,
        ``shortfall`` (0 when met), ``met``, ``best`` (the most any blend of these funds
        reaches on that factor alone, within ``max_weight``).
    feasible : bool
        Whether every constraint is met.
    message : str
        Empty when feasible; else which constraint binds, in one line.
    objective : str
        ``"residual risk"`` or ``"tracking error vs BENCH"``.
    risk : float
        The objective at the weights, annualized as a volatility: ``sqrt(12 * w'Qw ...)``.
    start, end : Period
        The common window (months where every candidate, the benchmark and the factors have
        data); ``nobs`` months in it.
    limited_by : dict
        ``{"start": [...], "end": [...]}``: the funds (or ``factors``) that set the window.
    out_of_sample : OutOfSample or None
        None (with ``notes`` saying why) when the window is too short to split.
    solver : dict
        ``method``, ``supports_tried``, ``exhaustive``, ``iterations``, ``seconds``, ``status``.
    returns : Series
        The blend's monthly total returns on the common window.
    benchmark : str or None
    notes : list of str
    xray : object or None
        Set by :func:`factorxray.find_blend`: the blend X-rayed like a fund
        (a :class:`~factorxray.portfolio.xray.PortfolioAnalysis`).
    """

    target: Target
    candidates: list[str]
    weights: pd.Series
    betas: pd.DataFrame
    exposures: pd.DataFrame
    constraints: pd.DataFrame
    feasible: bool
    message: str
    objective: str
    risk: float
    start: pd.Period
    end: pd.Period
    nobs: int
    limited_by: dict[str, list[str]]
    out_of_sample: OutOfSample | None
    solver: dict[str, Any]
    returns: pd.Series
    benchmark: str | None = None
    max_weight: float = 1.0
    max_funds: int | None = None
    notes: list[str] = field(default_factory=list)
    xray: Any = None

    @property
    def achieved(self) -> pd.Series:
        """The blend's betas (factor -> beta) from its regression on the common window."""
        return self.exposures["beta"].drop("alpha").rename("achieved")

    @property
    def holdings(self) -> pd.Series:
        """The non-zero weights, largest first."""
        w = self.weights[self.weights > 0]
        return w.sort_values(ascending=False)

    def to_frame(self) -> pd.DataFrame:
        """Target vs achieved per factor of the model, for a table or chart.

        Returns
        -------
        DataFrame
            Index ``factor``; columns ``target`` (the constraints on it as text, empty when
            unconstrained), ``achieved``, ``se``, ``t``, ``met`` (None when unconstrained),
            and ``out_of_sample`` (the out-of-sample blend's beta on the later part).
        """
        rows = []
        for factor in self.achieved.index:
            cons = [c for c in self.target.constraints if c.factor == factor]
            beta = float(self.achieved[factor])
            oos = self.out_of_sample
            rows.append(
                {
                    "factor": factor,
                    "target": ",".join(str(c) for c in cons),
                    "achieved": beta,
                    "se": float(self.exposures.loc[factor, "se"]),
                    "t": float(self.exposures.loc[factor, "t"]),
                    "met": all(c.holds(beta) for c in cons) if cons else None,
                    "out_of_sample": float(oos.exposures.loc[factor, "beta"])
                    if oos is not None
                    else np.nan,
                }
            )
        return pd.DataFrame(rows).set_index("factor")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: everything in ``blend.json`` (see docs/portfolio.md)."""
        return {
            "target": self.target.to_dict(),
            "candidates": list(self.candidates),
            "benchmark": self.benchmark,
            "max_weight": self.max_weight,
            "max_funds": self.max_funds,
            "weights": _nonzero(self.weights),
            "achieved": _floats(self.achieved),
            "exposures": {term: _floats(row) for term, row in self.exposures.iterrows()},
            "constraints": _records(self.constraints),
            "feasible": self.feasible,
            "message": self.message,
            "objective": self.objective,
            "risk_annualized": self.risk,
            "start": str(self.start),
            "end": str(self.end),
            "nobs": self.nobs,
            "limited_by": self.limited_by,
            "out_of_sample": self.out_of_sample.to_dict() if self.out_of_sample else None,
            "candidate_betas": {fund: _floats(row) for fund, row in self.betas.iterrows()},
            "solver": self.solver,
            "notes": list(self.notes),
        }


def _finite(value: Any) -> Any:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, float, np.floating, np.integer)):
        value = float(value)
        return value if math.isfinite(value) else None
    return value


def _floats(series: pd.Series) -> dict[str, Any]:
    return {str(k): _finite(v) for k, v in series.items()}


def _nonzero(weights: pd.Series) -> dict[str, float]:
    return {str(k): float(v) for k, v in weights.items() if v > 0}


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): _finite(v) for k, v in row.items()} for row in frame.to_dict("records")]


@dataclass
class _Fit:
    """Candidates' betas and the risk matrix on some months."""

    betas: pd.DataFrame  # candidates x terms
    q: np.ndarray
    c: np.ndarray
    s: float


def _fit(
    excess: pd.DataFrame,
    frame: pd.DataFrame,
    returns: pd.DataFrame,
    bench: pd.Series | None,
    cov: str,
    hac_lags: int | None,
) -> _Fit:
    res = regress(excess, frame, cov=cov, hac_lags=hac_lags, min_obs=frame.shape[1] + 2)
    params = res.params.loc[list(excess.columns)]
    x = np.column_stack([np.ones(len(frame)), frame.to_numpy()])
    resid = excess.to_numpy() - x @ params.to_numpy().T
    if bench is None:
        q = np.atleast_2d(np.cov(resid, rowvar=False, ddof=1))
        return _Fit(params, q, np.zeros(len(params)), 0.0)
    r = returns.to_numpy()
    full = np.cov(np.column_stack([r, bench.to_numpy()]), rowvar=False, ddof=1)
    return _Fit(params, full[:-1, :-1], full[:-1, -1], float(full[-1, -1]))


def find_blend(
    target: str | Mapping[str, float] | Target,
    returns: pd.DataFrame,
    factors: pd.DataFrame,
    *,
    candidates: Sequence[str] | None = None,
    benchmark: str | pd.Series | None = None,
    max_weight: float = 1.0,
    max_funds: int | None = None,
    cov: str = "hac",
    hac_lags: int | None = None,
    min_months: int = 36,
    fit_share: float = FIT_SHARE,
    name: str = "BLEND",
    exhaustive_limit: int = EXHAUSTIVE_LIMIT,
) -> Blend:
    """The long-only blend of ``candidates`` that meets ``target`` with the least risk.

    Parameters
    ----------
    target : str, mapping or Target
        ``"SMB>=0.2,HML>=0.2"`` (see :func:`parse_target`).
    returns : DataFrame
        Monthly total returns (decimals) of the candidates (and the benchmark).
    factors : DataFrame
        Factor returns with ``RF`` (decimals), from :func:`factorxray.load_factors`.
    candidates : sequence of str, optional
        The funds to blend (default: every column of ``returns`` but the benchmark).
    benchmark : str or Series, optional
        A column of ``returns`` or a Series of total returns: minimise the tracking error
        against it instead of the residual risk.
    max_weight : float
        Most weight on one fund (default 1).
    max_funds : int, optional
        Most funds in the blend.
    cov, hac_lags
        Standard errors of the blend's regression (as :func:`factorxray.regress`).
    min_months : int
        Fewest months the candidates must share.
    fit_share : float
        Share of the common window the out-of-sample check fits on (default 2/3).
    name : str
        Name of the blend's return series.
    exhaustive_limit : int
        See :func:`solve_blend`.

    Returns
    -------
    Blend
        Never raises for an infeasible target: ``feasible`` is False, ``message`` names
        the binding constraint, and the weights are the closest blend (least total
        violation, then least risk).

    Raises
    ------
    UsageError
        Bad target, no candidates, duplicates, a candidate without returns, bounds that
        cannot add up to 1.
    InsufficientDataError
        The candidates share fewer than ``min_months`` months with the factors.

    Examples
    --------
    >>> import factorxray as fx  # doctest: +SKIP
    >>> a = fx.analyze(["VBR", "VTV", "SPY"], offline=True, models=None)  # doctest: +SKIP
    >>> find_blend("SMB>=0.2", a.returns, a.factors).holdings  # doctest: +SKIP
    """
    started = time.perf_counter()
    bench_name, bench = _benchmark(benchmark, returns)
    pool = (
        list(candidates)
        if candidates is not None
        else [c for c in returns.columns if c != bench_name]
    )
    if not pool:
        raise UsageError("the candidate list is empty; give funds to blend, e.g. --from SPY,VTV")
    duplicates = sorted({c for c in pool if pool.count(c) > 1})
    if duplicates:
        raise UsageError(f"{', '.join(duplicates)} is listed twice among the candidates")
    absent = [c for c in pool if c not in returns.columns]
    if absent:
        raise UsageError(f"no returns for candidate {', '.join(absent)}; drop it")
    _check_bounds(len(pool), max_weight, max_funds)
    if "RF" not in factors.columns:
        raise UsageError("the factors have no 'RF' column to compute excess returns with")
    names = [c for c in factors.columns if c != "RF"]
    parsed = parse_target(target, names)
    data = returns[pool].astype(float)
    if bench is not None:
        data = data.assign(**{"\0bench": bench.reindex(data.index)})
    joined = data.join(factors, how="inner")
    usable = joined.notna().all(axis=1)
    window = joined[usable]
    limited_by = _limits(returns[pool], bench, factors, bench_name)
    if len(window) < max(min_months, len(names) + 3):
        raise InsufficientDataError(
            f"the candidates share only {len(window)} months with the factors "
            f"(window set by {', '.join(limited_by['start'])} at the start and "
            f"{', '.join(limited_by['end'])} at the end); at least {min_months} are needed: "
            "drop the short-lived funds or lower --min-months"
        )
    r = window[pool]
    rb = window["\0bench"] if bench is not None else None
    frame = window[names]
    excess = r.sub(window["RF"], axis=0)

    def solve(rows: slice) -> tuple[_Fit, BlendSolution]:
        fit = _fit(
            excess.iloc[rows],
            frame.iloc[rows],
            r.iloc[rows],
            None if rb is None else rb.iloc[rows],
            cov,
            hac_lags,
        )
        solution = solve_blend(
            parsed,
            fit.betas[names],
            fit.q,
            linear=fit.c,
            constant=fit.s,
            max_weight=max_weight,
            max_funds=max_funds,
            exhaustive_limit=exhaustive_limit,
        )
        return fit, solution

    fit, solution = solve(slice(None))
    weights = pd.Series(solution.weights, index=pd.Index(pool, name="fund"), name="weight")
    series = (r @ weights).rename(name)
    exposures = _regress_series(series - window["RF"], frame, cov, hac_lags)
    table = _constraint_table(parsed, exposures["beta"], fit.betas[names], max_weight)
    feasible = bool(table["met"].all())
    periods = 12.0
    risk = math.sqrt(max(solution.objective, 0.0) * periods)
    oos, notes = _out_of_sample(
        solve, parsed, r, frame, window["RF"], weights.index, fit_share, cov, hac_lags, names
    )
    if solution.status and "successfully" not in solution.status:
        notes.append(f"SLSQP: {solution.status}")
    return Blend(
        target=parsed,
        candidates=pool,
        weights=weights,
        betas=fit.betas,
        exposures=exposures,
        constraints=table,
        feasible=feasible,
        message="" if feasible else _binding_message(table, fit.betas[names], max_weight),
        objective="residual risk" if bench is None else f"tracking error vs {bench_name}",
        risk=risk,
        start=window.index[0],
        end=window.index[-1],
        nobs=len(window),
        limited_by=limited_by,
        out_of_sample=oos,
        solver={
            "method": "HiGHS LP (least violation) + SLSQP (least risk)",
            "supports_tried": solution.supports_tried,
            "exhaustive": solution.exhaustive,
            "iterations": solution.iterations,
            "status": solution.status,
            "seconds": time.perf_counter() - started,
        },
        returns=series,
        benchmark=bench_name,
        max_weight=max_weight,
        max_funds=max_funds,
        notes=notes,
    )


def _benchmark(
    benchmark: str | pd.Series | None, returns: pd.DataFrame
) -> tuple[str | None, pd.Series | None]:
    if benchmark is None:
        return None, None
    if isinstance(benchmark, pd.Series):
        return str(benchmark.name or "benchmark"), benchmark.astype(float)
    if benchmark not in returns.columns:
        raise UsageError(f"no returns for the benchmark {benchmark}; give one with returns")
    return str(benchmark), returns[benchmark].astype(float)


def _limits(
    returns: pd.DataFrame, bench: pd.Series | None, factors: pd.DataFrame, bench_name: str | None
) -> dict[str, list[str]]:
    """Which series start last and end first (funds, the benchmark, ``factors``)."""
    firsts: dict[str, Any] = {c: returns[c].first_valid_index() for c in returns.columns}
    lasts: dict[str, Any] = {c: returns[c].last_valid_index() for c in returns.columns}
    if bench is not None:
        firsts[str(bench_name)] = bench.first_valid_index()
        lasts[str(bench_name)] = bench.last_valid_index()
    complete = factors.dropna()
    firsts["factors"], lasts["factors"] = complete.index[0], complete.index[-1]
    valid = {k: v for k, v in firsts.items() if v is not None}
    start = max(valid.values())
    end = min(v for v in lasts.values() if v is not None)
    return {
        "start": [k for k, v in valid.items() if v == start],
        "end": [k for k, v in lasts.items() if v == end],
    }


def _regress_series(
    excess: pd.Series, frame: pd.DataFrame, cov: str, hac_lags: int | None
) -> pd.DataFrame:
    res = regress(excess.to_frame(), frame, cov=cov, hac_lags=hac_lags, min_obs=frame.shape[1] + 2)
    fund = res.funds[0]
    table = pd.DataFrame(
        {
            "beta": res.params.loc[fund],
            "se": res.bse.loc[fund],
            "t": res.tvalues.loc[fund],
            "p": res.pvalues.loc[fund],
        }
    )
    table.index.name = "term"
    return table


def _constraint_table(
    target: Target, achieved: pd.Series, betas: pd.DataFrame, max_weight: float
) -> pd.DataFrame:
    rows = []
    for c in target.constraints:
        beta = float(achieved[c.factor])
        column = betas[c.factor].to_numpy(dtype=float)
        if c.op == ">=":
            best = _bound(column, max_weight, largest=True)
        elif c.op == "<=":
            best = _bound(column, max_weight, largest=False)
        else:
            low, high = (
                _bound(column, max_weight, largest=False),
                _bound(column, max_weight, largest=True),
            )
            best = min(max(c.value, low), high)
        rows.append(
            {
                "constraint": str(c),
                "factor": c.factor,
                "op": c.op,
                "value": c.value,
                "achieved": beta,
                "shortfall": c.violation(beta),
                "met": c.holds(beta),
                "best": best,
            }
        )
    return pd.DataFrame(rows)


def _binding_message(table: pd.DataFrame, betas: pd.DataFrame, max_weight: float) -> str:
    """One line: which constraints bind, and by how much."""
    missed = table[~table["met"]]
    reasons = []
    alone = set()
    for _, row in missed.iterrows():
        c = Constraint(row["factor"], row["op"], row["value"])
        if c.holds(row["best"]):
            continue
        alone.add(row["constraint"])
        word = {">=": "largest", "<=": "smallest"}.get(row["op"], "nearest")
        cap = f" with weights <= {max_weight:g}" if max_weight < 1 else ""
        text = f"the {word} achievable {c.factor} with these funds{cap} is {row['best']:.3g}"
        if max_weight < 1:
            free = _bound(betas[c.factor].to_numpy(dtype=float), 1.0, largest=row["op"] != "<=")
            if c.holds(free):
                text += f" (without the cap: {free:.3g})"
        reasons.append(f"{text} (target {c})")
    if any(r not in alone for r in missed["constraint"]):
        reached = ", ".join(f"{r['factor']} {r['achieved']:.3g}" for _, r in table.iterrows())
        reasons.append(
            f"{', '.join(table['constraint'])} cannot all hold together with these funds "
            f"(the closest blend reaches {reached})"
        )
    total = float(table["shortfall"].sum())
    return (
        f"infeasible target: {'; '.join(reasons)}; "
        f"showing the closest blend (total shortfall {total:.3g})"
    )


def _out_of_sample(
    solve: Any,
    target: Target,
    r: pd.DataFrame,
    frame: pd.DataFrame,
    rf: pd.Series,
    pool: pd.Index,
    fit_share: float,
    cov: str,
    hac_lags: int | None,
    names: list[str],
) -> tuple[OutOfSample | None, list[str]]:
    total = len(r)
    cut = math.floor(total * fit_share)
    test = total - cut
    need = max(MIN_TEST_MONTHS, len(names) + 3)
    if cut < need or test < need:
        return None, [
            f"no out-of-sample check: {total} common months cannot be split "
            f"{fit_share:.0%}/{1 - fit_share:.0%} with at least {need} in each part"
        ]
    fit, solution = solve(slice(0, cut))
    weights = pd.Series(solution.weights, index=pool, name="weight")
    in_sample = (weights.to_numpy() @ fit.betas[names].to_numpy()).ravel()
    in_sample_s = pd.Series(in_sample, index=names, name="in_sample")
    later = r.iloc[cut:]
    series = later @ weights - rf.iloc[cut:]
    exposures = _regress_series(series, frame.iloc[cut:], cov, hac_lags)
    rows = []
    for c in target.constraints:
        before, after = float(in_sample_s[c.factor]), float(exposures.loc[c.factor, "beta"])
        rows.append(
            {
                "constraint": str(c),
                "value": c.value,
                "in_sample": before,
                "out_of_sample": after,
                "se": float(exposures.loc[c.factor, "se"]),
                "met_in_sample": c.holds(before),
                "met_out_of_sample": c.holds(after),
            }
        )
    return (
        OutOfSample(
            fit_start=r.index[0],
            fit_end=r.index[cut - 1],
            test_start=r.index[cut],
            test_end=r.index[-1],
            weights=weights,
            in_sample=in_sample_s,
            exposures=exposures,
            constraints=pd.DataFrame(rows),
        ),
        [],
    )
