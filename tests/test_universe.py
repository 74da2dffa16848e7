"""Universes: tilts, funds, user files in TOML/YAML/CSV, and the shipped presets."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from factorxray import presets
from factorxray.errors import UsageError
from factorxray.factors import FACTOR_ORDER
from factorxray.universe import (
    CATEGORY_TILTS,
    Fund,
    Tilt,
    Universe,
    category_tilts,
    load_universe,
    parse_universe,
    universe_from_tickers,
)

# ----------------------------------------------------------------------------------- tilts


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("HML>0", Tilt("HML", ">", 0.0)),
        (" hml > 0 ", Tilt("HML", ">", 0.0)),
        ("Mkt-RF<1", Tilt("Mkt-RF", "<", 1.0)),
        ("MKT<1", Tilt("Mkt-RF", "<", 1.0)),
        ("market <= 0.9", Tilt("Mkt-RF", "<=", 0.9)),
        ("UMD>=0.1", Tilt("MOM", ">=", 0.1)),
        ("SMB<-0.1", Tilt("SMB", "<", -0.1)),
        ("VOL ≥ 0", Tilt("VOL", ">=", 0.0)),
        ("multi>=2", Tilt("multi", ">=", 2.0)),
        ("QMJ>0", Tilt("QMJ", ">", 0.0)),  # custom factor: kept, checked by validate()
    ],
)
def test_tilt_parse(text: str, expected: Tilt) -> None:
    assert Tilt.parse(text) == expected


@pytest.mark.parametrize(
    "text", ["", "HML", "HML>", ">0", "HML=0", "HML==0", "HML>>0", "HML>zero", "HML>0>1", "1>0"]
)
def test_tilt_parse_errors(text: str) -> None:
    with pytest.raises(UsageError, match=r"bad tilt .*e\.g\. 'HML>0' or 'Mkt-RF<1'"):
        Tilt.parse(text)


@pytest.mark.parametrize("text", ["multi>2", "multi>=0", "multi>=1.5", "multi<3"])
def test_multi_rule_errors(text: str) -> None:
    with pytest.raises(UsageError, match=r"write 'multi>=N'"):
        Tilt.parse(text)


def test_tilt_direct_construction_is_validated() -> None:
    with pytest.raises(UsageError, match="bad tilt operator"):
        Tilt("HML", "=", 0)
    with pytest.raises(UsageError, match="finite"):
        Tilt("HML", ">", float("inf"))


def test_tilt_helpers() -> None:
    market = Tilt.parse("Mkt-RF<1")
    assert str(market) == "Mkt-RF<1"
    assert market.sign == -1
    assert market.holds(0.86) and not market.holds(1.0)
    assert Tilt.parse("HML>=0").holds(0.0)
    assert not Tilt.parse("HML>0").holds(0.0)
    assert str(Tilt.parse("SMB > -0.25")) == "SMB>-0.25"
    assert Tilt.parse("multi>=2").is_multi


@given(
    factor=st.sampled_from(FACTOR_ORDER),
    op=st.sampled_from([">", ">=", "<", "<="]),
    threshold=st.floats(-5, 5, allow_nan=False).map(lambda x: round(x, 3)),
)
def test_tilt_str_round_trips(factor: str, op: str, threshold: float) -> None:
    tilt = Tilt(factor, op, threshold)
    assert Tilt.parse(str(tilt)) == tilt


# ----------------------------------------------------------------------------------- funds


def test_fund_defaults_and_cleaning() -> None:
    fund = Fund("  spy ")
    assert (fund.ticker, fund.name, fund.category, fund.region) == (
        "SPY",
        "SPY",
        "unlabelled",
        "",
    )
    assert fund.tilts == () and fund.tilt_source == "none"
    assert not fund.labelled and not fund.expects_no_tilt


def test_category_defaults_and_explicit_override() -> None:
    assert Fund("VTV", category="value").tilts == (Tilt("HML", ">", 0),)
    assert Fund("VTV", category="value").tilt_source == "category"
    usmv = Fund("USMV", category="Low-Volatility")
    assert usmv.tilts_text() == "VOL>0; Mkt-RF<1"
    vbr = Fund("VBR", category="small-cap", tilts=["SMB>0", Tilt("HML", ">", 0)])
    assert vbr.tilts_text() == "SMB>0; HML>0" and vbr.tilt_source == "explicit"
    core = Fund("SPY", category="large/core")
    assert core.tilts == () and core.expects_no_tilt
    explicit_none = Fund("RSP", category="value", tilts="none")
    assert explicit_none.tilts == () and explicit_none.expects_no_tilt
    assert Fund("X", category="multi factor").tilts_text() == "multi>=2"


def test_category_lookup() -> None:
    for name, tilts in CATEGORY_TILTS.items():
        assert category_tilts(name) == tilts
        assert category_tilts(name.upper().replace("-", " ")) == tilts
    assert category_tilts("Small Cap") == CATEGORY_TILTS["small-cap"]
    assert category_tilts("min vol") == CATEGORY_TILTS["low volatility"]
    assert category_tilts("thematic") is None


@pytest.mark.parametrize("ticker", ["", "   ", "S P Y", "SPY!", None, 42])
def test_bad_ticker(ticker: object) -> None:
    with pytest.raises(UsageError, match="ticker"):
        Fund(ticker)  # type: ignore[arg-type]


def test_repeated_tilt_factor_is_an_error() -> None:
    with pytest.raises(UsageError, match="more than one tilt on HML"):
        Fund("X", tilts="HML>0; HML>0.2")


def test_other_text_fields_must_be_text() -> None:
    with pytest.raises(UsageError, match="name must be text"):
        Fund("X", name=3)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------- universes


def _small() -> Universe:
    return Universe(
        "small",
        [
            Fund("VBR", "Vanguard Small Cap Value ETF", "small-cap", tilts="SMB>0; HML>0"),
            Fund("SPY", "SPDR S&P 500 ETF", "large/core"),
            Fund("VTV", "Vanguard Value ETF", "value"),
            Fund("IJR", "iShares Core S&P Small-Cap ETF", "small-cap"),
        ],
    )


def test_universe_accessors() -> None:
    universe = _small()
    assert universe.tickers == ["VBR", "SPY", "VTV", "IJR"]
    assert universe.categories == ["small-cap", "large/core", "value"]
    groups = universe.by_category()
    assert list(groups) == universe.categories
    assert [f.ticker for f in groups["small-cap"]] == ["VBR", "IJR"]
    assert universe.fund("vtv").name == "Vanguard Value ETF"
    assert "spy" in universe and "QQQ" not in universe and 3 not in universe
    assert universe.get("QQQ") is None
    assert len(universe) == 4 and [f.ticker for f in universe] == universe.tickers
    with pytest.raises(UsageError, match=r"'QQQ' is not in universe 'small'; its tickers: VBR"):
        universe.fund("QQQ")


def test_universe_rejects_duplicates() -> None:
    with pytest.raises(UsageError, match="duplicate ticker SPY"):
        Universe("u", [Fund("SPY"), Fund("spy ")])


def test_to_frame() -> None:
    frame = _small().to_frame()
    assert list(frame.index) == ["VBR", "SPY", "VTV", "IJR"]
    assert frame.index.name == "ticker"
    assert list(frame.columns) == [
        "name",
        "category",
        "region",
        "tilts",
        "tilt_source",
        "description",
    ]
    assert frame.loc["VBR", "tilts"] == "SMB>0; HML>0"
    assert frame.loc["SPY", "tilts"] == ""


def test_validate_names_unknown_factor_and_valid_ones() -> None:
    universe = Universe("u", [Fund("X", tilts="QMJ>0")])
    with pytest.raises(UsageError) as info:
        universe.validate()
    message = str(info.value)
    assert "'QMJ'" in message and "'X'" in message
    assert "Mkt-RF, SMB, HML, RMW, CMA, MOM, VOL" in message
    assert universe.validate([*FACTOR_ORDER, "QMJ"]) is universe
    assert Universe("u", [Fund("Y", tilts="multi>=2")]).validate(["Mkt-RF"])


def test_subset_takes_labels_from_the_universe() -> None:
    sub = _small().subset(["spy", "QQQ", " vbr"])
    assert sub.tickers == ["SPY", "QQQ", "VBR"]
    assert sub.fund("SPY").category == "large/core"
    assert sub.fund("VBR").tilts_text() == "SMB>0; HML>0"
    assert sub.fund("QQQ").category == "unlabelled" and sub.fund("QQQ").name == "QQQ"
    with pytest.raises(UsageError, match="duplicate ticker SPY"):
        _small().subset(["SPY", "spy"])


def test_universe_from_tickers() -> None:
    plain = universe_from_tickers(["spy", "mtum"])
    assert plain.tickers == ["SPY", "MTUM"]
    assert all(f.category == "unlabelled" and f.tilts == () for f in plain)
    labelled = universe_from_tickers(["MTUM", "QQQ"], labels=presets.get("smart-beta-20"))
    assert labelled.fund("MTUM").category == "momentum"
    assert labelled.fund("MTUM").name == "iShares MSCI USA Momentum Factor ETF"
    assert labelled.fund("QQQ").category == "unlabelled"
    assert labelled.name == "custom"


# ----------------------------------------------------------------------------------- files

TOML_TEXT = """\
name = "My funds"
description = "three funds"

[[fund]]
ticker = "vbr"
name = "Vanguard Small Cap Value ETF"
category = "small-cap"
tilts = ["SMB>0", "HML>0"]

[[fund]]
ticker = "SPY"
category = "large/core"

[[fund]]
ticker = "USMV"
name = "iShares Edge MSCI Min Vol USA ETF"
category = "low volatility"
region = "US"
description = "Tracks an index of U.S. stocks with the lowest realized volatility"
"""

YAML_TEXT = """\
name: My funds
funds:
  - ticker: vbr
    name: Vanguard Small Cap Value ETF
    category: small-cap
    tilts: [SMB>0, HML>0]
  - ticker: SPY
    category: large/core
  - ticker: USMV
    name: iShares Edge MSCI Min Vol USA ETF
    category: low volatility
    region: US
    description: Tracks an index of U.S. stocks with the lowest realized volatility
"""

CSV_TEXT = """\
ticker,name,category,region,tilts,description
vbr,Vanguard Small Cap Value ETF,small-cap,,SMB>0;HML>0,
SPY,,large/core,,,
USMV,iShares Edge MSCI Min Vol USA ETF,low volatility,US,,Tracks an index of U.S. stocks with the lowest realized volatility
"""


@pytest.mark.parametrize(
    ("suffix", "text"), [(".toml", TOML_TEXT), (".yaml", YAML_TEXT), (".csv", CSV_TEXT)]
)
def test_load_each_format(tmp_path: Path, suffix: str, text: str) -> None:
    path = tmp_path / f"mine{suffix}"
    path.write_text(text, encoding="utf-8")
    universe = load_universe(path)
    assert universe.name == ("mine" if suffix == ".csv" else "My funds")
    assert universe.tickers == ["VBR", "SPY", "USMV"]
    assert universe.categories == ["small-cap", "large/core", "low volatility"]
    assert universe.fund("VBR").tilts_text() == "SMB>0; HML>0"
    assert universe.fund("VBR").tilt_source == "explicit"
    assert universe.fund("SPY").name == "SPY" and universe.fund("SPY").expects_no_tilt
    usmv = universe.fund("USMV")
    assert usmv.tilts_text() == "VOL>0; Mkt-RF<1" and usmv.region == "us"
    assert usmv.description.startswith("Tracks an index")


def test_formats_agree(tmp_path: Path) -> None:
    loaded = []
    for suffix, text in ((".toml", TOML_TEXT), (".yml", YAML_TEXT), (".csv", CSV_TEXT)):
        path = tmp_path / f"mine{suffix}"
        path.write_text(text, encoding="utf-8")
        loaded.append(load_universe(path).funds)
    assert loaded[0] == loaded[1] == loaded[2]


def test_yaml_keeps_tickers_that_look_like_booleans_or_numbers() -> None:
    text = "funds:\n  - ticker: ON\n  - ticker: NO\n  - ticker: 1301\n  - ticker: 'y'\n"
    assert parse_universe(text, "yaml").tickers == ["ON", "NO", "1301", "Y"]


def test_yaml_top_level_list_and_csv_bom(tmp_path: Path) -> None:
    assert parse_universe("- ticker: spy\n", "yaml").tickers == ["SPY"]
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffticker,category\nNA,value\n".encode())
    universe = load_universe(path)
    assert universe.tickers == ["NA"]  # not turned into a missing value
    assert universe.fund("NA").category == "value"


def test_names_and_categories_kept_verbatim(tmp_path: Path) -> None:
    nasty = '<script>alert("x")</script> & "co"'
    path = tmp_path / "x.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([["ticker", "name", "category"], ["EVIL", nasty, nasty]])
    fund = load_universe(path).fund("EVIL")
    assert fund.name == nasty and fund.category == nasty
    assert fund.tilt_source == "none"  # an unknown category promises nothing testable


def test_preset_round_trips_through_csv(tmp_path: Path) -> None:
    preset = presets.get("smart-beta-20")
    frame = preset.to_frame().reset_index()
    path = tmp_path / "sb20.csv"
    frame[["ticker", "name", "category", "region", "tilts", "description"]].assign(
        tilts=lambda f: f["tilts"].where(preset.to_frame()["tilt_source"].values == "explicit", "")
    ).to_csv(path, index=False)
    assert load_universe(path).funds == preset.funds


MALFORMED = [
    ("bad.toml", '[[fund]]\nticker = "SPY\n', r"invalid TOML"),
    ("bad.yaml", "funds:\n  - ticker: [SPY\n", r"invalid YAML"),
    ("nofunds.toml", 'name = "x"\n', r"no funds"),
    ("empty.toml", "", r"no funds"),
    ("empty.yaml", "", r"expected a list under 'funds:'"),
    ("emptylist.yaml", "funds: []\n", r"no funds listed"),
    ("scalar.yaml", "funds: SPY\n", r"not a single value"),
    ("notable.yaml", "funds:\n  - SPY\n", r"fund 1: expected a table of keys"),
    ("both.toml", '[[fund]]\nticker="A"\n[[funds]]\nticker="B"\n', r"not both"),
    ("topkey.toml", 'nmae = "x"\n[[fund]]\nticker="A"\n', r"unknown key 'nmae'"),
    (
        "key.toml",
        '[[fund]]\nticker = "SPY"\ncatgory = "value"\n',
        r"fund 1 \(SPY\): unknown key 'catgory'",
    ),
    ("noticker.toml", '[[fund]]\nname = "x"\n', r"fund 1: no ticker"),
    ("intticker.toml", "[[fund]]\nticker = 5\n", r"fund 1: bad ticker 5"),
    ("badticker.csv", "ticker\nS P Y\n", r"fund 1 \(S P Y\): 'S P Y' is not a ticker: a ticker is"),
    ("slash.csv", "ticker\nBRK/B\n", r"'BRK/B' is not a ticker"),
    ("underscore.csv", "ticker\nVTV_US\n", r"'VTV_US' is not a ticker"),
    ("dot.csv", "ticker\nMTUM.\n", r"'MTUM\.' is not a ticker"),
    ("deep.yaml", "funds: " + "[" * 60 + "]" * 60 + "\n", r"nested more than 50 levels deep"),
    ("deep.toml", "a = " + "[" * 2000 + "]" * 2000 + "\n", r"invalid TOML: nested too deeply"),
    ("loop.yaml", "funds: &f\n  - *f\n", r"alias inside its own anchor"),
    ("ctrl.yaml", "funds:\n  - ticker: SPY\x08\n", r"invalid YAML: unacceptable character"),
    ("field.csv", 'ticker,name\nSPY,"' + "x" * 200_000 + '"\n', r"invalid CSV: field larger"),
    ("dup.toml", '[[fund]]\nticker = "SPY"\n[[fund]]\nticker = "spy"\n', r"duplicate ticker SPY"),
    ("dup.csv", "ticker\nSPY\nVTV\n spy\n", r"duplicate ticker SPY"),
    (
        "tilt.yaml",
        "funds:\n  - ticker: VTV\n    tilts: [HML>>0]\n",
        r"fund 1 \(VTV\): bad tilt 'HML>>0'",
    ),
    ("tilttype.toml", '[[fund]]\nticker = "VTV"\ntilts = [1]\n', r"tilts must be text"),
    ("tiltmap.yaml", "funds:\n  - ticker: VTV\n    tilts: {HML: 0}\n", r"tilts must be a list"),
    (
        "factor.csv",
        "ticker,tilts\nVTV,HLM>0\n",
        r"unknown factor 'HLM'; valid factors: Mkt-RF, SMB",
    ),
    ("nocol.csv", "symbol,name\nSPY,x\n", r"no 'ticker' column"),
    ("col.csv", "ticker,catgory\nSPY,value\n", r"unknown column 'catgory'"),
    ("twice.csv", "ticker,name,name\nSPY,a,b\n", r"a column appears twice"),
    ("cells.csv", "ticker,name\nSPY,SPDR, S&P 500\n", r"line 2: 3 cells but the header has 2"),
    # a quote left open swallowed every later line into one field (issue 12)
    (
        "unclosed.csv",
        'ticker,name\n"VTV,Vanguard\nSPY,oops\n',
        r"unclosed\.csv line 2: unclosed quote .*; close the quote or remove it$",
    ),
    (
        "unclosed_name.csv",
        'ticker,name\n\nVTV,"Vanguard, Inc"\nMTUM,"iShares\nmomentum"\nSPY,"oops\nUSMV,x\n',
        r"unclosed_name\.csv line 6: unclosed quote",
    ),
    (
        "after_quote.csv",
        'ticker,name\nVTV,"Van"guard\nSPY,x\n',
        r"after_quote\.csv line 2: text after a closing quote; quote the whole field",
    ),
    ("empty.csv", "\n\n", r"empty CSV"),
    ("name.toml", '[[fund]]\nticker = "SPY"\nname = 3\n', r"name must be text"),
    ("multi.toml", '[[fund]]\nticker = "X"\ntilts = ["multi>2"]\n', r"write 'multi>=N'"),
]


@pytest.mark.parametrize(("filename", "content", "match"), MALFORMED)
def test_malformed_files(tmp_path: Path, filename: str, content: str, match: str) -> None:
    path = tmp_path / filename
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UsageError, match=match) as info:
        load_universe(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert "\n" not in message
    assert info.value.exit_code == 2


def test_unreadable_or_unknown_files(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"cannot read universe file .*missing\.toml"):
        load_universe(tmp_path / "missing.toml")
    with pytest.raises(
        UsageError, match=r"unknown format '\.json'; use \.toml, \.yaml/\.yml or \.csv"
    ):
        load_universe(tmp_path / "funds.json")
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"ticker\n\xff\xfe\n")
    with pytest.raises(UsageError, match=r"binary\.csv: not UTF-8 text"):
        load_universe(binary)
    for name in ("folder.toml", "funds"):  # a folder, with a suffix or without (issue 12)
        folder = tmp_path / name
        folder.mkdir()
        with pytest.raises(
            UsageError,
            match=rf"universe file .*{name} is a folder; give a fund list file \(\.toml, "
            r"\.yaml/\.yml or \.csv\)",
        ):
            load_universe(folder)


def test_custom_factors_allowed_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "custom.csv"
    path.write_text("ticker,tilts\nX,QMJ>0\n", encoding="utf-8")
    assert load_universe(path, factor_names=None).fund("X").tilts_text() == "QMJ>0"
    assert load_universe(path, factor_names=["QMJ"]).tickers == ["X"]


def test_parse_universe_unknown_format() -> None:
    with pytest.raises(UsageError, match="unknown format 'json'"):
        parse_universe("{}", "json")


# --------------------------------------------------------------------------------- presets


def test_preset_names_and_unknown_preset() -> None:
    assert "smart-beta-20" in presets.names()
    assert presets.get("Smart-Beta-20") is presets.get("smart-beta-20")
    with pytest.raises(UsageError, match=r"unknown preset 'nope'; presets: .*smart-beta-20"):
        presets.get("nope")


def test_smart_beta_20_matches_the_article() -> None:
    universe = presets.get("smart-beta-20")
    assert len(universe) == 20
    assert universe.tickers == [
        "VBR", "IJR",
        "USMC", "SPY", "RSP",
        "RPV", "IUSV", "VTV", "VLUE", "HDV",
        "QUAL", "QGRO", "JQUA",
        "MTUM", "VFMO",
        "USMV", "SPLV",
        "LRGF", "GSLC", "VFMF",
    ]  # fmt: skip
    assert universe.categories == [
        "small-cap",
        "large/core",
        "value",
        "quality",
        "momentum",
        "low volatility",
        "multi-factor",
    ]
    sizes = [len(funds) for funds in universe.by_category().values()]
    assert sizes == [2, 3, 5, 3, 2, 2, 3]  # derived from the data (the article hard-coded 4 last)
    assert universe.fund("VTV").name == "Vanguard Value ETF"
    assert (
        universe.fund("SPLV").description
        == "Selects the 100 least volatile stocks from the S&P 500"
    )
    assert universe.fund("VBR").tilts_text() == "SMB>0; HML>0"
    assert universe.fund("USMC").tilts_text() == "SMB<0"
    assert universe.fund("USMV").tilts_text() == "VOL>0; Mkt-RF<1"
    assert universe.fund("GSLC").tilts_text() == "multi>=2"
    assert universe.fund("SPY").expects_no_tilt
    assert all(f.region == "us" and f.description for f in universe)
    universe.validate()


def test_describe_presets() -> None:
    table = presets.describe()
    assert list(table.columns) == ["funds", "categories", "description"]
    row = table.loc["smart-beta-20"]
    assert row["funds"] == 20
    assert row["categories"].startswith("small-cap, large/core, value")


def test_validate_rejects_an_unknown_region() -> None:
    from factorxray.errors import UsageError
    from factorxray.universe import Fund, Universe

    with pytest.raises(
        UsageError, match="fund 'X' has unknown region 'mars'; valid regions: us, developed"
    ):
        Universe("u", [Fund("X", region="mars")]).validate()
    assert Universe("u", [Fund("X", region="Developed")]).validate().fund("X").region == "developed"


# ----------------------------------------------------------------- hostile files


def _billion_laughs() -> str:
    """Nine levels of nine aliases each: 9**9 (387 million) strings once expanded, in 400 bytes."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    previous = "a"
    for name in "bcdefghi":
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
        previous = name
    return (
        "x:\n"
        + "".join(f"  {line}\n" for line in lines)
        + "funds:\n  - ticker: SPY\n    name: *i\n"
    )


def test_a_billion_laughs_yaml_is_refused_quickly_in_one_short_line(tmp_path: Path) -> None:
    """The issue's case: 374 bytes of nested aliases took 5.7 GB and a minute."""
    path = tmp_path / "laughs.yaml"
    path.write_text(_billion_laughs(), encoding="utf-8")
    assert path.stat().st_size < 450
    started = time.perf_counter()
    with pytest.raises(UsageError, match=r"expands to more than 1,000,000 values") as info:
        load_universe(path)
    assert time.perf_counter() - started < 1.0
    assert len(str(info.value)) < 250 and "\n" not in str(info.value)


def test_aliases_that_expand_modestly_are_fine() -> None:
    text = (
        "x: &value [HML>0]\n"
        "funds:\n  - {ticker: VTV, tilts: *value}\n  - {ticker: IUSV, tilts: *value}\n"
    )
    text = text.replace("x: &value", "name: x\nvalue_tilts: &value")
    with pytest.raises(UsageError, match="unknown key 'value_tilts'"):
        parse_universe(text, "yaml")
    shared = "funds:\n  - &vtv {ticker: VTV, tilts: [HML>0]}\n  - {ticker: IUSV, tilts: [HML>0]}\n"
    assert parse_universe(shared, "yaml").fund("IUSV").tilts_text() == "HML>0"


@pytest.mark.parametrize(
    "text",
    [
        # a huge value where text is expected: quoted, not printed whole
        "funds:\n  - ticker: SPY\n    name: [" + ", ".join(["long value"] * 5_000) + "]\n",
        "funds:\n  - ticker: SPY\n    category: {"
        + ", ".join(f"k{i}: v" for i in range(5_000))
        + "}\n",
        "funds:\n  - ticker: SPY\n    tilts: " + "HML>0;" * 100_000 + "X\n",
        "funds:\n  - ticker: SPY\n    tilts: [" + "Q" * 500_000 + ">0]\n",
        "funds:\n  - ticker: " + "S" * 500_000 + "\n",
        "funds:\n  - ticker: SPY\n    " + "k" * 500_000 + ": 1\n",
        "funds:\n  - " + "[x, " * 40 + "]" * 40 + "\n",
    ],
    ids=["list-name", "map-category", "tilts", "factor", "ticker", "key", "nested-record"],
)
def test_errors_quote_a_short_prefix_of_a_value(text: str) -> None:
    """The issue: a 275-byte file gave a 3.8 MB "one-line" error."""
    with pytest.raises(UsageError) as info:
        parse_universe(text, "yaml", source="u.yaml")
    message = str(info.value)
    assert len(message) < 400, message[:500]
    assert "\n" not in message and message.startswith("u.yaml: ")


def test_csv_header_and_ticker_list_are_cut_in_messages() -> None:
    header = ",".join(f"col{i}" for i in range(10_000))
    with pytest.raises(UsageError, match=r"col9 and 9990 more\); columns are") as info:
        parse_universe(header + "\n1\n", "csv", source="u.csv")
    assert len(str(info.value)) < 400
    many = Universe("big", [Fund(f"T{i}") for i in range(2000)])
    with pytest.raises(UsageError, match=r"its tickers: T0, T1, .* T9 and 1990 more$"):
        many.fund("NOPE")


def test_a_huge_universe_file_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    with path.open("wb") as handle:
        handle.truncate(17 * 1024 * 1024)
    with pytest.raises(UsageError, match=r"huge\.csv is larger than 16 MB"):
        load_universe(path)


def test_universe_tickers_follow_the_price_sources_rule() -> None:
    """^GSPC is accepted (it was refused by a message saying ^ was allowed); / and _ are
    refused here as the price sources refuse them."""
    from factorxray.data.tickers import check_ticker

    for ticker in ("^GSPC", "BRK-B", "BRK.B", "EURUSD=X", "7203.T"):
        assert Fund(ticker).ticker == check_ticker(ticker)
    for ticker in ("BRK/B", "VTV_US", "MTUM.", "^", "A" * 21):
        with pytest.raises(UsageError, match="is not a ticker: a ticker is 1 to 20"):
            Fund(ticker)
    assert universe_from_tickers(["^gspc"]).tickers == ["^GSPC"]
