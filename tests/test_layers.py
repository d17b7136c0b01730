"""The package's shape, checked on its source (docs/design.md): imports flow one way through the layers below, no
module imports itself back through others, no module is over 400 lines and no function over 60 (docstrings
aside). Imports are read with `ast` from every module, including those inside functions and under
TYPE_CHECKING: an import deferred to call time is still a dependency.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "vaekit"

#: The layers, bottom up: a module may import from its own layer and the ones below, never from one above. The
#: longest matching prefix decides; every module must match one (a new package gets its place here first).
LAYERS: dict[str, int] = {
    # 0, leaf utilities any layer may use: errors, the version, registries, the config schema, memory limits,
    # file operations and the JSON / safetensors files written through them.
    "vaekit.errors": 0, "vaekit.version": 0, "vaekit.registry": 0, "vaekit.config": 0, "vaekit.limits": 0,
    "vaekit.files": 0, "vaekit.serialized": 0,
    "vaekit.data": 1,  # formats, sources, user files, splits, the pipeline, Batch
    "vaekit.distributions": 2, "vaekit.networks": 2,  # observation models, priors, KLs; mlp, conv, masked
    "vaekit.models": 3,  # the protocols, the registry of kinds and the kinds
    # 4, what is computed on a model: objectives, estimators, the classic baselines, the linear probe.
    "vaekit.objectives": 4, "vaekit.estimate": 4, "vaekit.baselines": 4, "vaekit.probe": 4,
    "vaekit.train": 5,  # fit, its steps, checkpoints, run directories being written, trackers
    "vaekit.runs": 6,  # run directories read back: RunSpec, open_run, evaluation, comparison
    # 7, the faces: pictures and pages, the command line, and the package's lazy exports.
    "vaekit.plots": 7, "vaekit.report": 7, "vaekit.cli": 7, "vaekit.__main__": 7, "vaekit": 7,
}

MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _modules() -> dict[str, Path]:
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The vaekit modules `name` imports (a `from package import submodule` counts as the submodule)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([node.module] if node.module else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return {m for m in found if m in modules and m != name}


GRAPH = {name: _imports(name, path, _modules()) for name, path in _modules().items()}


def _layer(name: str) -> int:
    prefixes = [p for p in LAYERS if name == p or name.startswith(p + ".")]
    if not prefixes:
        raise AssertionError(f"{name} has no layer: add it to LAYERS (and docs/design.md)")
    return LAYERS[max(prefixes, key=len)]


def test_every_module_has_a_layer():
    assert [name for name in GRAPH if not any(name == p or name.startswith(p + ".") for p in LAYERS)] == []


def test_imports_flow_one_way_through_the_layers():
    upward = sorted(f"{a} (layer {_layer(a)}) imports {b} (layer {_layer(b)})"
                    for a, targets in GRAPH.items() for b in targets if _layer(b) > _layer(a))
    assert upward == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    for root, targets in graph.items():
        if root in index:
            continue
        work = [(root, iter(sorted(targets)))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return components


def test_no_module_imports_itself_back():
    assert _cycles(GRAPH) == []


def test_the_cycle_finder_finds_cycles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def _function_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines of a function from its `def` to its end, less its docstring."""
    assert node.end_lineno is not None
    lines = node.end_lineno - node.lineno + 1
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        assert first.end_lineno is not None
        lines -= first.end_lineno - first.lineno + 1
    return lines


def test_modules_and_functions_stay_small():
    too_long = []
    for name, path in _modules().items():
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > MAX_MODULE_LINES:
            too_long.append(f"{name}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _function_lines(node) > MAX_FUNCTION_LINES:
                too_long.append(f"{name}.{node.name}: {_function_lines(node)} lines")
    assert too_long == []


@pytest.mark.parametrize(("module", "absent"), [
    ("vaekit.estimate", ("vaekit.data.readers", "vaekit.data.named", "vaekit.train")),  # Batch is a leaf
    ("vaekit.objectives", ("vaekit.data.readers", "vaekit.train")),
    ("vaekit.train.loop", ("vaekit.runs", "vaekit.cli", "vaekit.report")),
    ("vaekit.runs", ("vaekit.train.loop", "vaekit.cli")),  # opening a run never loads the training loop
])
def test_importing_a_layer_loads_nothing_above_it(module, absent):
    code = f"import sys, {module}; print(sorted(m for m in sys.modules if m.startswith({absent!r})))"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.strip() == "[]", out
