"""Structural promises of the package layout, checked on the source tree."""

from __future__ import annotations

import ast
import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import tomllib

from vprkit import hookspecs

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "faiss", "timm", "hnswlib", "torchvision", "cv2", "kornia")


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_core_never_imports_a_plugin_package():
    offenders = {
        str(path.relative_to(ROOT)): sorted(m for m in _imported_modules(path) if m.startswith("vprkit_"))
        for path in (ROOT / "vprkit").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_every_plugin_folder_has_its_entry_point_and_no_extra():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = {value.partition(":")[0] for value in pyproject["project"]["entry-points"]["vprkit"].values()}
    folders = {
        p.name
        for base in ("plugins", "datasets")
        for p in (ROOT / base).iterdir()
        if p.is_dir() and p.name.startswith("vprkit_")
    }
    assert folders == declared
    assert not (ROOT / "plugins" / "__init__.py").exists() and not (ROOT / "datasets" / "__init__.py").exists()


def _heavy_modules_after(argv: list[str]) -> list[str]:
    code = (
        "import sys\n"
        "from vprkit.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        f"print('HEAVY=' + ','.join(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("HEAVY=")][-1]
    return [m for m in line[len("HEAVY=") :].split(",") if m]


def test_help_and_plugin_listing_import_no_heavy_library():
    assert _heavy_modules_after(["--help"]) == []
    assert _heavy_modules_after(["plugins", "list", "--json"]) == []


def test_hook_reference_page_matches_hookspecs():
    specs = sorted(n for n, f in inspect.getmembers(hookspecs, inspect.isfunction) if n.startswith("vprkit_"))
    assert specs == sorted(
        [
            "vprkit_partitioners",
            "vprkit_classifiers",
            "vprkit_retrievers",
            "vprkit_indexes",
            "vprkit_rerankers",
            "vprkit_datasets",
            "vprkit_commands",
        ]
    )
    page = (ROOT / "docs" / "reference" / "hooks.md").read_text(encoding="utf-8")
    documented = dict(re.findall(r"^## `(vprkit_\w+)\(([^)]*)\)", page, flags=re.M))
    assert sorted(documented) == specs
    for name in specs:
        func = getattr(hookspecs, name)
        params = [p.split(":")[0].strip() for p in documented[name].split(",") if p.strip()]
        assert params == list(inspect.signature(func).parameters), f"{name}: parameters differ from hookspecs.py"
        first_line = inspect.getdoc(func).splitlines()[0].replace("``", "`")
        assert first_line in page, f"{name}: the hook's summary line is missing from hooks.md"


def test_version_flag_matches_the_distribution():
    from vprkit import __version__

    proc = subprocess.run([sys.executable, "-m", "vprkit", "--version"], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == f"vprkit {__version__}"


def test_plugins_list_json_is_pure_json_on_stdout():
    proc = subprocess.run(
        [sys.executable, "-m", "vprkit", "plugins", "list", "--json"], capture_output=True, text=True, timeout=60
    )
    data = json.loads(proc.stdout)
    assert set(data["methods"]) == {"partitioner", "classifier", "retriever", "index", "reranker", "dataset"}
    assert {p["name"] for p in data["plugins"]} >= {"dnc", "cosplace", "faiss", "synthcity"}


def _package_imports() -> dict[str, set[str]]:
    """Sub-package of vprkit → the other sub-packages its modules import (lazy imports included)."""
    packages = {p.name for p in (ROOT / "vprkit").iterdir() if (p / "__init__.py").is_file()}
    edges: dict[str, set[str]] = {p: set() for p in packages}
    for package in packages:
        for path in (ROOT / "vprkit" / package).rglob("*.py"):
            for module in _imported_modules(path):
                parts = module.split(".")
                if parts[0] == "vprkit" and len(parts) > 1 and parts[1] in packages and parts[1] != package:
                    edges[package].add(parts[1])
    return edges


def test_no_import_cycle_between_packages():
    edges = _package_imports()

    def reachable(start: str) -> set[str]:
        seen: set[str] = set()
        todo = [start]
        while todo:
            for nxt in edges[todo.pop()] - seen:
                seen.add(nxt)
                todo.append(nxt)
        return seen

    cycles = sorted((a, b) for a in edges for b in reachable(a) if a < b and a in reachable(b))
    assert cycles == [], f"packages importing each other: {cycles}"
    # the layering the architecture page draws: models know nothing of training, the index
    # nothing of models, and only the CLI knows the CLI
    assert "training" not in edges["models"]
    assert not edges["index"] & {"models", "training", "pipeline"}
    assert all("cli" not in targets for package, targets in edges.items() if package != "cli")
