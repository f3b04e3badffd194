"""The plugin contract: discovery through entry points, named load errors, conflicts, blocking."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vprkit import create_partitioner, list_partitioners
from vprkit.errors import PluginConflictError, PluginError, PluginLoadError
from vprkit.plugins import plugin_infos, registered_specs

FAKE = Path(__file__).parent / "fake_dists"


@pytest.fixture
def with_dists(monkeypatch, fresh_plugins):
    """Put fake third-party distributions (dist-info + module) on sys.path."""

    def add(*names: str) -> None:
        for name in names:
            monkeypatch.syspath_prepend(str(FAKE / name))
        from vprkit.plugins import reset_plugins

        reset_plugins()

    return add


def test_third_party_plugin_is_discovered_with_its_distribution(with_dists):
    with_dists("good")
    assert "foo" in list_partitioners()
    assert list_partitioners("f*") == ["foo"]
    reg = registered_specs("partitioner")["foo"]
    assert reg.plugin.name == "foo"
    assert reg.plugin.distribution == "foo-pkg"
    assert reg.plugin.version == "0.1.0"
    assert "foo" in {p.name for p in plugin_infos()}


def test_create_builds_the_third_party_method_with_validated_config(with_dists):
    with_dists("good")
    part = create_partitioner("foo", cell_size=20)
    assert type(part).__name__ == "FooPartitioner"
    assert part.config.cell_size == 20.0
    assert part.cell_of(45.0, 19.0) == (2, 0)


def test_plugin_that_fails_to_import_names_plugin_and_distribution(with_dists):
    with_dists("good", "broken")
    with pytest.raises(PluginLoadError) as info:
        list_partitioners()
    message = str(info.value)
    assert "'broken'" in message and "'broken-pkg'" in message
    assert "vprkit_missing_dependency_for_tests" in message
    assert "VPRKIT_DISABLE_PLUGINS=broken" in message


def test_disable_env_blocks_a_plugin_before_import(with_dists, monkeypatch):
    monkeypatch.setenv("VPRKIT_DISABLE_PLUGINS", "broken, foo")
    with_dists("good", "broken")
    assert "foo" not in list_partitioners()
    assert {"foo", "broken"}.isdisjoint(p.name for p in plugin_infos())
    assert "broken_pkg" not in sys.modules


def test_two_plugins_claiming_one_name_is_an_error_naming_both(with_dists):
    with_dists("good", "dup")
    with pytest.raises(PluginConflictError) as info:
        list_partitioners()
    message = str(info.value)
    assert "'foo'" in message and "'foo-pkg'" in message and "'dup-pkg'" in message


def test_redeclaring_a_builtin_name_names_both_providers(with_dists):
    with_dists("clash")
    with pytest.raises(PluginConflictError) as info:
        list_partitioners()
    message = str(info.value)
    assert "'dnc'" in message
    assert "'clash-pkg'" in message and "'vprkit'" in message


def test_misspelt_hook_is_caught_by_check_pending(with_dists):
    with_dists("misspelt")
    with pytest.raises(PluginError) as info:
        list_partitioners()
    assert "'typo'" in str(info.value) and "vprkit_partitoners" in str(info.value)


def test_hook_returning_wrong_spec_type_names_the_plugin(fresh_plugins):
    from vprkit import IndexSpec, hookimpl
    from vprkit.config import VprkitConfig
    from vprkit.plugins import get_plugin_manager

    class WrongKind:
        @hookimpl
        def vprkit_partitioners(self):
            return [IndexSpec(name="oops", factory="x:y", config=VprkitConfig, description="wrong kind")]

    get_plugin_manager().register(WrongKind(), name="wrongkind")
    with pytest.raises(PluginError, match=r"wrongkind.*IndexSpec.*PartitionerSpec"):
        list_partitioners()


def test_spec_plugin_returns_each_kind_of_its_specs_from_that_kinds_hook(fresh_plugins):
    from vprkit import IndexSpec, PartitionerSpec, SpecPlugin
    from vprkit.config import VprkitConfig
    from vprkit.plugins import get_plugin_manager

    specs = [
        PartitionerSpec(name="sp_part", factory="x:y", config=VprkitConfig, description="a partitioner"),
        IndexSpec(name="sp_index", factory="x:y", config=VprkitConfig, description="an index"),
    ]
    plugin = SpecPlugin(*specs)
    assert plugin.vprkit_partitioners() == specs[:1] and plugin.vprkit_classifiers() == []
    assert repr(plugin) == "SpecPlugin(partitioner 'sp_part', index 'sp_index')"
    get_plugin_manager().register(plugin, name="specs")
    assert registered_specs("partitioner")["sp_part"].plugin.name == "specs"
    assert registered_specs("index")["sp_index"].spec is specs[1]
    assert "sp_part" not in registered_specs("index")


def test_spec_plugin_refuses_what_is_not_a_spec():
    from vprkit import SpecPlugin

    with pytest.raises(PluginError, match=r"SpecPlugin takes spec objects .*PartitionerSpec.*, not dict"):
        SpecPlugin({"name": "foo"})


def _run_cli(args: list[str], extra_path: list[Path], env_extra: dict[str, str] | None = None):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(p) for p in extra_path] + [env.get("PYTHONPATH", "")])
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "vprkit", *args], capture_output=True, text=True, env=env, timeout=120)


def test_cli_lists_third_party_plugin_and_its_commands():
    proc = _run_cli(["plugins", "list", "--json"], [FAKE / "good"])
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    foo = [row for row in data["methods"]["partitioner"] if row["name"] == "foo"]
    assert foo and foo[0]["distribution"] == "foo-pkg"
    proc = _run_cli(["foo-hello"], [FAKE / "good"])
    assert proc.returncode == 0 and proc.stdout.strip() == "hello from foo"


def test_cli_reports_broken_plugin_without_traceback():
    proc = _run_cli(["plugins", "list"], [FAKE / "broken"])
    assert proc.returncode == 1
    assert "broken-pkg" in proc.stderr and "Traceback" not in proc.stderr
    proc = _run_cli(["plugins", "list"], [FAKE / "broken"], {"VPRKIT_DISABLE_PLUGINS": "broken"})
    assert proc.returncode == 0, proc.stderr


def test_pip_installed_plugin_shows_up_and_builds(tmp_path):
    """The real thing: `pip install` a plugin package, then vprkit finds and builds it. The package
    is copied to tmp_path first: pip builds in the source folder (build/, *.egg-info), and the
    checkout must stay untouched (it may be read-only)."""
    src = shutil.copytree(
        Path(__file__).parent / "fake_src" / "bar_src",
        tmp_path / "bar_src",
        ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"),
    )
    target = tmp_path / "site"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(src),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    if proc.returncode != 0:
        pytest.fail(f"pip could not install the fake plugin: {proc.stderr[-2000:]}")
    proc = _run_cli(["plugins", "list", "--json"], [target])
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)["methods"]["partitioner"]}
    assert rows["bar"]["distribution"] == "vprkit-bar" and rows["bar"]["version"] == "0.3.0"
    code = "from vprkit import create_partitioner; print(create_partitioner('bar', levels=5).config.levels)"
    env = dict(os.environ, PYTHONPATH=str(target))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "5"
