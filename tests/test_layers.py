"""Imports run one way: ``simulators`` ← ``analysis`` ← ``eae_sindy``. A lower package never
imports a higher one, not even inside a function (a deferred import hides a loop, it does not
remove it)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
LAYERS = ["simulators", "analysis", "eae_sindy"]


def _imported_packages(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", LAYERS[:-1])
def test_no_import_runs_back_up(package):
    higher = set(LAYERS[LAYERS.index(package) + 1 :])
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imported_packages(path) & higher)
        for path in sorted((ROOT / package).rglob("*.py"))
        if _imported_packages(path) & higher
    }
    assert offenders == {}


def test_scripts_do_not_shadow_the_packages():
    """``python benchmarks/X.py`` puts benchmarks/ first on sys.path: a script named like a
    package (``analysis.py``) would be imported in its place."""
    folders = (ROOT / "benchmarks", ROOT / "examples")
    scripts = {path.stem for folder in folders for path in folder.glob("*.py")}
    assert scripts.isdisjoint(LAYERS)
