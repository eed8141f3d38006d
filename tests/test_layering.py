"""The project's layers, read from the modules' imports (``ast``, nothing run).

Every import counts, at the top of a module or inside a function: a
function-level import is still a dependency, only a later one. Importing
``a.b.c`` imports the packages ``a`` and ``a.b`` too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("accounts", "farm", "pyfarm_site", "scheduling")


def _module_name(path: Path) -> str:
    """``farm/models/jobs.py`` -> ``farm.models.jobs``; a package is its folder."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def _modules() -> dict[str, Path]:
    """The project's modules by dotted name, tests and migrations left out."""
    modules: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).parts
            if "tests" in parts or "migrations" in parts:
                continue
            modules[_module_name(path)] = path
    return modules


def _with_parents(name: str) -> Iterator[str]:
    """``a.b.c``, ``a.b`` and ``a``: what importing ``a.b.c`` runs."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        yield ".".join(parts[:end])


def _imported(module: str) -> set[str]:
    """The project modules ``module`` imports, anywhere in its source."""
    path = _modules()[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            # ``from a import b`` imports the module ``a.b`` when there is one.
            names.update(f"{base}.{alias.name}" for alias in node.names)
    known = _modules()
    return {
        parent for name in names for parent in _with_parents(name) if parent in known
    } - {module}


@cache
def _graph() -> dict[str, frozenset[str]]:
    """Each project module and the project modules it imports."""
    return {module: frozenset(_imported(module)) for module in _modules()}


def _reaches(start: str, goal: str) -> bool:
    """Whether importing ``start`` may import ``goal``, through any chain."""
    graph, seen, todo = _graph(), {start}, [start]
    while todo:
        for following in graph[todo.pop()]:
            if following == goal:
                return True
            if following not in seen:
                seen.add(following)
                todo.append(following)
    return False


def test_the_import_reader_sees_function_level_imports() -> None:
    # A check of the checker: planning imports recovery only inside a task.
    assert "scheduling.recovery" in _graph()["scheduling.tasks.planning"]


def test_no_model_module_imports_a_service() -> None:
    """Models hold state and guarded transitions; workflows call them, not back."""
    offending = {
        module: sorted(
            name
            for name in _graph()[module]
            if name == "farm.services" or name.startswith("farm.services.")
        )
        for module in _modules()
        if module == "farm.models" or module.startswith("farm.models.")
    }
    assert {module: names for module, names in offending.items() if names} == {}


def test_no_model_module_reaches_a_service_through_another_module() -> None:
    models = [m for m in _modules() if m.startswith("farm.models")]
    assert [m for m in models if _reaches(m, "farm.services")] == []


def test_the_tick_task_does_not_import_the_event_triggers() -> None:
    """``scheduling.triggers`` enqueues the tick; the tick does not import it back."""
    assert _reaches("scheduling.triggers", "scheduling.tasks.planning")
    assert not _reaches("scheduling.tasks.planning", "scheduling.triggers")
