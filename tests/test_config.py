"""Typed configs: YAML files, --set overrides, forbidden extras, saved next to artifacts."""

from __future__ import annotations

import pytest
import yaml
from pydantic import Field, ValidationError

from vprkit.config import VprkitConfig, build_config, load_config, parse_overrides, save_config
from vprkit.errors import ConfigError


class Optim(VprkitConfig):
    lr: float = 0.01
    betas: list[float] = Field(default_factory=lambda: [0.9, 0.999])


class Demo(VprkitConfig):
    M: float = Field(20.0, description="cell side in metres")
    N: int = 2
    easy_margin: bool = True
    optim: Optim = Field(default_factory=Optim)


def test_overrides_parse_yaml_scalars_and_dotted_keys():
    assert parse_overrides(["M=50", "easy_margin=false", "optim.lr=1e-4", "optim.betas=[0.5, 0.9]"]) == {
        "M": 50,
        "easy_margin": False,
        "optim": {"lr": 1e-4, "betas": [0.5, 0.9]},
    }


@pytest.mark.parametrize("bad", ["M", "=3", ""])
def test_malformed_override_is_an_error(bad):
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides([bad])


def test_file_then_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("M: 100\noptim:\n  lr: 0.5\n")
    cfg = load_config(Demo, path, ["N=3"])
    assert (cfg.M, cfg.N, cfg.optim.lr, cfg.optim.betas) == (100.0, 3, 0.5, [0.9, 0.999])


def test_unknown_key_in_file_names_it_and_the_valid_ones(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("MM: 3\n")
    with pytest.raises(ConfigError) as info:
        load_config(Demo, path, owner="partitioner 'dnc'")
    assert "unknown option 'MM'" in str(info.value) and "easy_margin" in str(info.value)
    assert "partitioner 'dnc'" in str(info.value)


def test_missing_file_and_non_mapping(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(Demo, tmp_path / "nope.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(Demo, tmp_path / "list.yaml")


def test_assignment_is_validated():
    cfg = Demo()
    with pytest.raises(ValidationError, match="N"):
        cfg.N = "many"


def test_save_and_reload_round_trip(tmp_path):
    cfg = build_config(Demo, {"M": 10}, {"optim": {"lr": 0.2}})
    path = save_config(cfg, tmp_path / "sub" / "config.yaml")
    assert yaml.safe_load(path.read_text())["optim"]["lr"] == 0.2
    assert load_config(Demo, path) == cfg
    assert [p.name for p in path.parent.iterdir()] == ["config.yaml"]  # no temp file left
