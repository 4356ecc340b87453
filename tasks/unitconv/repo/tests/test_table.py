"""The generated unit table must match data/units.csv and be self-consistent."""

import importlib.util
from pathlib import Path

import pytest

from unitconv._units import ALIASES, UNITS

ROOT = Path(__file__).resolve().parent.parent


def _generator():
    spec = importlib.util.spec_from_file_location("gen_units", ROOT / "tools" / "gen_units.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_module_is_up_to_date():
    gen = _generator()
    expected = gen.render(gen.load())
    actual = (ROOT / "unitconv" / "_units.py").read_text(encoding="utf-8")
    assert actual == expected, "unitconv/_units.py is stale: run python tools/gen_units.py"


def test_aliases_point_to_units():
    assert set(ALIASES.values()) <= set(UNITS)
    assert not set(ALIASES) & set(UNITS)


@pytest.mark.parametrize("dimension, si", [("length", "m"), ("mass", "kg"), ("time", "s"), ("volume", "m3"), ("temperature", "K")])
def test_each_dimension_has_an_si_unit(dimension, si):
    name, dim, factor, offset = UNITS[si]
    assert (dim, factor, offset) == (dimension, 1.0, 0.0)


def test_duplicate_alias_is_rejected(tmp_path):
    bad = tmp_path / "units.csv"
    bad.write_text("symbol,name,dimension,factor,offset,aliases\nm,metre,length,1,0,x\nkm,kilometre,length,1000,0,x\n")
    with pytest.raises(ValueError, match="duplicate"):
        _generator().load(bad)
