"""The house rules a newcomer relies on, checked on the source (nothing is imported or run):
imports run one way (``simulators`` ← ``analysis`` ← ``eae_sindy``), no module uses another
module's underscore names, no function runs past 120 lines, and the README's layout names every
module."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PACKAGES = ("simulators", "analysis", "eae_sindy")  # floors, lowest first
SHIPPED = [p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))]
CHECKED = SHIPPED + sorted((ROOT / "benchmarks").glob("*.py")) + sorted(
    (ROOT / "examples").glob("*.py")
)
MAX_FUNCTION_LINES = 120
NAMEDTUPLE_API = {"_asdict", "_field_defaults", "_fields", "_make", "_replace"}
PRIVATE_ALLOWED = {
    # JAX has no public cluster detection; the import is guarded (None when it is missing)
    ("eae_sindy/distributed.py", "jax._src"),
}


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _imported_modules(tree: ast.Module) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(node.module)
    return found


@pytest.mark.parametrize("path", SHIPPED, ids=_relative)
def test_imports_run_one_way(path):
    floor = PACKAGES.index(path.relative_to(ROOT).parts[0])
    above = PACKAGES[floor + 1 :]
    upward = [m for m in _imported_modules(_tree(path)) if m.split(".")[0] in above]
    assert not upward, f"{_relative(path)} imports from a higher floor: {upward}"


def _imported_names(tree: ast.Module) -> set[str]:
    """The names ``import`` statements bind in a module (modules and the names taken from
    them)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names |= {a.asname or a.name for a in node.names}
    return names


def _private_uses(path: Path) -> list[str]:
    """Underscore names (or modules) that ``path`` takes from another module: imported, or
    reached as ``module._name`` through an imported name (a NamedTuple's ``_replace``,
    ``_fields``, ... are its public API)."""
    tree = _tree(path)
    imported = _imported_names(tree)
    uses = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if any(_private(part) for part in node.module.split(".")):
                uses.append(node.module)
            uses += [f"{node.module}.{a.name}" for a in node.names if _private(a.name)]
        elif isinstance(node, ast.Import):
            uses += [a.name for a in node.names if any(map(_private, a.name.split(".")))]
        elif isinstance(node, ast.Attribute) and _private(node.attr):
            if node.attr in NAMEDTUPLE_API:
                continue
            if isinstance(node.value, ast.Name) and node.value.id in imported:
                uses.append(f"{node.value.id}.{node.attr}")
    return [u for u in uses if (_relative(path), u) not in PRIVATE_ALLOWED]


@pytest.mark.parametrize("path", CHECKED, ids=_relative)
def test_no_module_uses_another_modules_underscore_names(path):
    uses = _private_uses(path)
    assert not uses, f"{_relative(path)} uses underscore names of other modules: {uses}"


@pytest.mark.parametrize("path", CHECKED, ids=_relative)
def test_no_function_is_longer_than_the_limit(path):
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines, line {node.lineno})"
        for node in ast.walk(_tree(path))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, f"{_relative(path)}: split these into named steps: {long}"


def test_the_readme_layout_names_every_module():
    readme = (ROOT / "README.md").read_text()
    layout = readme[readme.index("## Layout") :]
    missing = [
        _relative(path)
        for path in SHIPPED
        if path.name != "__init__.py" and path.parent.name != "images"
        and not re.search(rf"\b{re.escape(path.name)}\b", layout)
    ]
    assert not missing, f"README.md's layout does not name {missing}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """Project module → the project modules it imports (at the top or inside a function;
    ``from package import name`` counts the submodule when ``name`` is one)."""
    modules = {_module_name(p) for p in SHIPPED}
    graph = {}
    for path in SHIPPED:
        here, targets = _module_name(path), set()
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names if a.name in modules}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                submodules = {f"{node.module}.{a.name}" for a in node.names} & modules
                targets |= submodules or ({node.module} & modules)
        graph[here] = targets - {here}
    return graph


def test_no_import_circles():
    graph = _import_graph()
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            circle = path[path.index(module) :] + [module]
            raise AssertionError(f"import circle: {' -> '.join(circle)}")
        if module in done:
            return
        for target in sorted(graph.get(module, ())):
            visit(target, path + [module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
