"""`factorxray portfolio` and `factorxray blend` through the CLI runner, offline on the snapshot."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from factorxray.cli import app

runner = CliRunner()
FROM = "VBR,IJR,VTV,VLUE,SPY,MTUM,USMV"


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables as on a wide terminal, so columns are not squeezed."""
    from factorxray.cli import _common

    monkeypatch.setattr(_common.out_console, "width", 250)
    monkeypatch.setattr(_common.err_console, "width", 250)


def run(*args: str):
    return runner.invoke(app, list(args))


def test_portfolio_offline_writes_the_report_and_summary(tmp_path: Path) -> None:
    out = tmp_path / "p"
    result = run(
        "portfolio",
        "SPY=0.6",
        "VLUE=0.2",
        "MTUM=0.2",
        "--benchmark",
        "SPY",
        "--offline",
        "--models",
        "capm,ff3",
        "--no-png",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "PORTFOLIO: SPY 60% + VLUE 20% + MTUM 20%, rebalanced monthly" in text
    assert "implied" in text and "gap" in text and "TE vs SPY" in text
    assert "start set by VLUE, MTUM" in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["weights"] == {"SPY": 0.6, "VLUE": 0.2, "MTUM": 0.2}
    assert (summary["start"], summary["end"], summary["nobs"]) == ("2013-05", "2025-11", 151)
    assert set(summary["exposures"]) == {
        "alpha",
        "Mkt-RF",
        "SMB",
        "HML",
        "RMW",
        "CMA",
        "MOM",
        "VOL",
    }
    for row in summary["exposures"].values():
        assert set(row) == {"beta", "se", "t", "p"}
    assert max(abs(v) for v in summary["gap"].values()) < 1e-12
    assert abs(sum(summary["risk"]["shares"].values()) - 1) < 1e-12
    # the report's own keys are kept, with the portfolio as one more fund
    assert [f["fund"] for f in summary["funds"]] == ["SPY", "VLUE", "MTUM", "PORTFOLIO"]
    assert (out / "index.html").exists() and (out / "exposures.csv").exists()
    with (out / "implied_exposures.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["term"] for r in rows][:2] == ["alpha", "Mkt-RF"]
    assert {"regressed", "se", "t", "p", "implied", "gap"} <= set(rows[0])
    with (out / "risk_attribution.csv").open() as handle:
        risk = list(csv.DictReader(handle))
    shares = [float(r["share"]) for r in risk if r["fund"] == "PORTFOLIO"]
    assert len(shares) == 8 and abs(sum(shares) - 1) < 1e-12
    assert (out / "performance.csv").exists() and (out / "holdings.csv").exists()


def test_buy_and_hold_portfolio(tmp_path: Path) -> None:
    out = tmp_path / "bh"
    result = run(
        "portfolio",
        "RSP=50%",
        "MTUM=25%",
        "USMV=25%",
        "--buy-and-hold",
        "--offline",
        "--models",
        "none",
        "--no-png",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    assert "bought and held" in result.stdout and "avg held" in result.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rebalance"] == "buy-and-hold"
    assert 0 < max(abs(v) for v in summary["gap"].values()) < summary["gap_tolerance"] == 0.02


def test_blend_offline_writes_blend_json_and_summary(tmp_path: Path) -> None:
    out = tmp_path / "b"
    result = run(
        "blend",
        "--target",
        "SMB>=0.2,HML>=0.2",
        "--from",
        FROM,
        "--offline",
        "--no-report",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    assert "SMB>=0.2" in result.stdout and "VBR" in result.stdout
    assert "Out of sample: fitted on 2013-05..2021-08" in result.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert {"weights", "target", "achieved", "out_of_sample"} <= set(summary)
    assert abs(sum(summary["weights"].values()) - 1) < 1e-12
    assert summary["achieved"]["SMB"] >= 0.2 - 1e-9 and summary["achieved"]["HML"] >= 0.2 - 1e-9
    assert summary["target"]["constraints"] == {
        "SMB": [{"op": ">=", "value": 0.2}],
        "HML": [{"op": ">=", "value": 0.2}],
    }
    oos = summary["out_of_sample"]
    assert oos["test"] == {"start": "2021-09", "end": "2025-11"}
    assert set(oos["out_of_sample"]["HML"]) == {"beta", "se", "t", "p"}
    blend = json.loads((out / "blend.json").read_text())
    assert blend["feasible"] is True and blend["candidates"] == FROM.split(",")


def test_blend_with_its_report_and_bounds(tmp_path: Path) -> None:
    out = tmp_path / "br"
    result = run(
        "blend",
        "-t",
        "SMB>=0.2,HML>=0.2",
        "-f",
        FROM,
        "--max-weight",
        "0.6",
        "--max-funds",
        "2",
        "--offline",
        "--models",
        "none",
        "--no-png",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["weights"]) <= 2 and max(summary["weights"].values()) <= 0.6 + 1e-12
    assert summary["funds"][-1]["fund"] == "BLEND"  # the blend X-rayed in the report
    assert (out / "index.html").exists() and (out / "blend.json").exists()


def test_infeasible_blend_exits_3_naming_the_binding_constraint(tmp_path: Path) -> None:
    result = run(
        "blend",
        "--target",
        "SMB>=0.3,HML>=0.4",
        "--from",
        FROM,
        "--offline",
        "--no-report",
        "--out",
        str(tmp_path / "inf"),
    )
    assert result.exit_code == 3, result.output
    assert "the largest achievable HML with these funds is 0.349" in result.stderr
    assert json.loads((tmp_path / "inf" / "summary.json").read_text())["feasible"] is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["portfolio", "SPY=0.6", "VLUE=0.3"], "the weights sum to 0.9, not 1"),
        (["portfolio", "SPY=1.2", "VLUE=-0.2"], "negative weight -0.2 on VLUE"),
        (["portfolio", "SPY=0.5", "SPY=0.5"], "SPY is given twice"),
        (["portfolio", "SPY0.6"], "'SPY0.6' is not TICKER=WEIGHT"),
        (["portfolio"], "a portfolio needs at least one fund"),
        (["portfolio", "SPY=0.6", "ZZZZ=0.4"], "ZZZZ carries 0.4 of the portfolio but could not"),
        (["portfolio", "SPY=1", "--benchmark", "ZZZZ"], "ZZZZ is the benchmark but could not"),
        (["blend", "--target", "SBM>=0.2", "--from", FROM], "did you mean SMB?"),
        (["blend", "--target", "SMB>>0.2", "--from", FROM], "is not FACTOR OP VALUE"),
        (["blend", "--target", "", "--from", FROM], "the target is empty"),
        (["blend", "--target", "SMB>=0.2", "--from", ","], "the candidate list is empty"),
        (["blend", "--target", "SMB>=0.2", "--from", "SPY,spy"], "SPY is listed twice"),
        (["blend", "-t", "SMB>=0.2", "-f", FROM, "--max-weight", "0.1"], "cannot add up to 1"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args, message) -> None:
    result = run(*args, "--offline", "--out", str(tmp_path / "x"))
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ")
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_fund_list_with_a_weight_column_is_a_portfolio(tmp_path) -> None:
    """Issue 14: a `weight` column in a universe file gives the weights (and the labels)."""
    from factorxray.universe import parse_universe

    text = "ticker,category,weight\nSPY,large/core,60%\nVLUE,value,0.2\nMTUM,momentum,0.2\n"
    assert parse_universe(text, "csv").weights == {"SPY": 0.6, "VLUE": 0.2, "MTUM": 0.2}
    path = tmp_path / "blend.csv"
    path.write_text(text)
    out = tmp_path / "p"
    result = CliRunner().invoke(
        app,
        ["portfolio", "--universe", str(path), "--offline", "--models", "none", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["weights"] == {"SPY": 0.6, "VLUE": 0.2, "MTUM": 0.2}
    by_args = CliRunner().invoke(
        app,
        [
            "portfolio",
            "SPY=0.6",
            "VLUE=0.2",
            "MTUM=0.2",
            "--offline",
            "--models",
            "none",
            "--out",
            str(tmp_path / "q"),
        ],
    )
    assert by_args.exit_code == 0, by_args.output
    same = json.loads((tmp_path / "q" / "summary.json").read_text())
    assert summary["exposures"] == same["exposures"]
    bad = tmp_path / "bad.csv"
    bad.write_text("ticker,weight\nSPY,lots\n")
    refused = CliRunner().invoke(app, ["portfolio", "--universe", str(bad), "--offline"])
    assert refused.exit_code == 2
    assert "weight 'lots' is not a number; write e.g. 0.6 or 60%" in refused.output
    plain = tmp_path / "plain.csv"
    plain.write_text("ticker\nSPY\n")
    none = CliRunner().invoke(app, ["portfolio", "--universe", str(plain), "--offline"])
    assert none.exit_code == 2 and "has no weight column" in none.output
