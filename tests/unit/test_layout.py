"""The layout: every import of the package goes down the floors that
docs/architecture.md describes, and that page names every module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "pushrestic"

# The floors of docs/architecture.md, top first; a module may import from its own
# floor or below.
FLOORS: list[tuple[str, ...]] = [
    ("__main__", "cli"),
    ("report",),
    ("collect",),
    ("config", "assets"),
    ("sources", "sinks"),
    ("metrics",),
    ("parsers", "outcome"),
    ("model", "errors", "constants", "say"),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def stage(module: str) -> str:
    """``pushrestic.sinks.pushgateway.http`` -> ``sinks``; ``pushrestic.cli`` -> ``cli``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def floor(module: str) -> int:
    name = stage(module)
    for index, names in enumerate(FLOORS):
        if name in names:
            return index
    raise AssertionError(f"{module}: on no floor of docs/architecture.md")


def imports(path: Path) -> set[str]:
    """The pushrestic modules a file imports (at its top or inside a function)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "pushrestic":
                found.update(f"pushrestic.{alias.name}" for alias in node.names)
            elif node.module.startswith("pushrestic."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("pushrestic."))
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_import_goes_down_the_floors(path: Path) -> None:
    importer = module_name(path)
    if importer == "pushrestic":
        return  # the package's face: its version only
    upward = [
        imported
        for imported in imports(path)
        if stage(imported) != "__version__" and floor(imported) < floor(importer)
    ]
    assert not upward, f"{importer} imports from a floor above it: {upward}"


def test_the_architecture_page_names_every_module() -> None:
    page = (REPO / "docs" / "architecture.md").read_text()
    missing = [
        str(path.relative_to(PACKAGE))
        for path in MODULES
        if path.name != "__init__.py" and path.name not in page
    ]
    assert not missing, f"docs/architecture.md does not name {missing}"


def test_the_floors_are_the_package_s_top_level_names() -> None:
    on_floors = {name for names in FLOORS for name in names}
    top = {
        path.stem if path.is_file() else path.name
        for path in PACKAGE.iterdir()
        if (path.suffix == ".py" and path.stem != "__init__")
        or (path.is_dir() and (path / "__init__.py").exists())
    }
    assert top - on_floors == set(), "a module of the package is on no floor"
    assert on_floors - top == set(), "a floor names a module that is gone"
