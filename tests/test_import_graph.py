"""No import cycles among our modules: a cycle makes import order matter and hides which module owns what.

The graph is read from the source (AST), not from `sys.modules`, so function-level and TYPE_CHECKING imports
count too: a cycle hidden inside a function is still two modules that each need the other.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
NAMESPACE = "medadapt"
DISTRIBUTIONS = sorted(p.relative_to(REPO_ROOT).as_posix() for p in REPO_ROOT.glob("*/*/src") if p.is_dir())


def _module_name(src: Path, path: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules(src: Path) -> dict[str, Path]:
    """Every module of one distribution's `src/` folder, by dotted name; a compiled module counts by its stub."""
    modules = {_module_name(src, path): path for path in sorted((src / NAMESPACE).rglob("*.pyi"))}
    modules |= {_module_name(src, path): path for path in sorted((src / NAMESPACE).rglob("*.py"))}
    return modules


def _imported_names(module: str, path: Path) -> set[str]:
    """Dotted names this module imports anywhere in its body (absolute, and relative resolved against it).

    `from pkg import name` yields `pkg.name`; the graph maps it to the module `pkg.name` or, for a plain name,
    to `pkg`. Parent packages that Python imports on the way are not edges (every module would depend on them).
    """
    is_package = path.stem == "__init__"
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base]) if base else ".".join(anchor)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return {n for n in names if n == NAMESPACE or n.startswith(NAMESPACE + ".")}


def _import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the modules of the same distribution it imports (`from pkg import name` counts as pkg.name
    when that is a module, else as pkg)."""
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = set()
        for name in _imported_names(module, path):
            target = name if name in modules else name.rpartition(".")[0]
            if target in modules and target != module:
                targets.add(target)
        graph[module] = targets
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as [a, b, ..., a] where each module imports the next; None when there is none."""
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as err:
        return list(reversed(err.args[1]))  # graphlib lists each module before the one that imports it
    return None


def test_the_graph_sees_function_level_imports() -> None:
    """The walker must find imports inside functions, else a lazy import could hide a cycle."""
    src = REPO_ROOT / "packages/finetune/src"
    graph = _import_graph(_modules(src))
    assert "medadapt.finetune.ray_executor" in graph["medadapt.finetune.sweep"]  # imported inside run_sweep
    assert _cycle({"a": {"b"}, "b": {"a"}}) in (["a", "b", "a"], ["b", "a", "b"])


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_no_import_cycle(distribution: str) -> None:
    graph = _import_graph(_modules(REPO_ROOT / distribution))
    assert graph, f"{distribution}: no modules found"
    cycle = _cycle(graph)
    assert cycle is None, f"{distribution}: import cycle " + " -> ".join(cycle or [])


def test_no_import_cycle_across_packages() -> None:
    """The libraries together (not the app): a cycle between two packages breaks DESIGN.md's downward rule."""
    modules: dict[str, Path] = {}
    for distribution in DISTRIBUTIONS:
        if distribution.startswith("packages/"):
            modules |= _modules(REPO_ROOT / distribution)
    cycle = _cycle(_import_graph(modules))
    assert cycle is None, "packages: import cycle " + " -> ".join(cycle or [])
