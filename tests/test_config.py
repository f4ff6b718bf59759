"""Config loading: nested dataclasses from YAML, unknown keys rejected, overrides applied."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from audiointerp.config import from_dict, load_config, parse_overrides, save_yaml, to_dict
from audiointerp.errors import ParameterError


@dataclass
class Inner:
    n_fft: int = 512
    fmax: float | None = None


@dataclass
class Outer:
    name: str = "x"
    folds: tuple[int, ...] = (1, 2)
    inner: Inner = field(default_factory=Inner)
    maybe: Inner | None = None


def test_nested_dict_builds_nested_dataclasses():
    cfg = from_dict(Outer, {"inner": {"n_fft": 1024}, "folds": [4], "maybe": {"fmax": 8000.0}})
    assert cfg.inner == Inner(n_fft=1024)
    assert cfg.folds == (4,)
    assert cfg.maybe == Inner(fmax=8000.0)


def test_unknown_key_names_source_and_valid_keys():
    with pytest.raises(ParameterError, match=r"my.yaml: inner: unknown key\(s\) \['nfft'\].*n_fft"):
        from_dict(Outer, {"inner": {"nfft": 1}}, where="my.yaml")


def test_non_mapping_rejected():
    with pytest.raises(ParameterError, match="expected a mapping"):
        from_dict(Outer, [1, 2])


def test_yaml_round_trip_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    save_yaml(Outer(name="a", inner=Inner(n_fft=256)), path)
    assert to_dict(load_config(Outer, path)) == to_dict(Outer(name="a", inner=Inner(n_fft=256)))
    cfg = load_config(Outer, path, overrides={"inner.n_fft": 2048, "name": "b"})
    assert (cfg.name, cfg.inner.n_fft) == ("b", 2048)
    with pytest.raises(ParameterError, match="unknown key"):
        load_config(Outer, path, overrides={"inner.bogus": 1})


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ParameterError, match="does not exist"):
        load_config(Outer, tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ParameterError, match="bad.yaml is not valid YAML"):
        load_config(Outer, bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("42\n")
    with pytest.raises(ParameterError, match="mapping at top level"):
        load_config(Outer, scalar)


def test_parse_overrides_reads_yaml_values_and_rejects_malformed_items():
    assert parse_overrides(["a.b=1", "c=[clean, white]", "d=null"]) == {
        "a.b": 1,
        "c": ["clean", "white"],
        "d": None,
    }
    assert parse_overrides(None) == {}
    with pytest.raises(ParameterError, match="expected key=value"):
        parse_overrides(["n_clips"])
    with pytest.raises(ParameterError, match="not valid YAML"):
        parse_overrides(["x=[1, 2"])
