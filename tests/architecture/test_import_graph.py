"""The package's import graph: no cycle, and no arrow back up the pipeline.

Read statically from the source (ast), so every import counts, those inside functions too.
Stages, from the faces down (a module may import its own stage and those below it):

    cli / api -> suite -> run / report / gate / track -> analysis / train / evaluate
        -> methods / models / data / metrics -> records -> the vocabulary

The vocabulary is what every stage speaks: errors, the registries and their catalog, logs,
the package's version, and the suite's types (suite.schema, suite.variant: the spec a
variant carries to the worker, the trainer and the evaluators).
"""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "harness"
VOCABULARY = {"harness", "harness.errors", "harness.registry", "harness.catalog", "harness.logs",
              "harness.suite.schema", "harness.suite.variant"}
# Lower number = further upstream.
STAGES = {"cli": 0, "api": 0, "suite": 1, "run": 2, "report": 2, "gate": 2, "track": 2, "analysis": 3, "train": 3, "evaluate": 3,
          "methods": 4, "models": 4, "data": 4, "metrics": 4, "records": 5}


ALIASES = {("harness", "harness.api"), ("harness.run", "harness.api")}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    targets.add(full if full in modules else base)
            elif isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
        graph[name] = {t for t in targets if t in modules and t != name and (name, t) not in ALIASES}
    return graph


def stage(module: str) -> int:
    if module in VOCABULARY:
        return 6
    return STAGES[module.split(".")[1]]


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_graph_is_read_from_the_source():
    graph = import_graph()
    # a few edges known to exist, so an empty or wrong graph cannot pass the tests below
    assert "harness.records.store" in graph["harness.analysis.compare"]
    assert "harness.suite.checks" in graph["harness.suite.loading"]
    assert len(graph) > 80


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_a_cycle_would_be_found():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_arrow_runs_back_up_the_pipeline():
    graph = import_graph()
    upward = sorted(f"{a} -> {b}" for a, targets in graph.items() for b in targets
                    if stage(b) < stage(a) or (a in VOCABULARY and b not in VOCABULARY))
    assert not upward, "imports against the pipeline's direction:\n" + "\n".join(upward)


def test_every_module_has_a_stage():
    for module in import_graph():
        stage(module)  # KeyError for a folder not placed in the pipeline


def test_each_module_says_what_it_owns():
    missing = [module_name(p) for p in PACKAGE.rglob("*.py") if ast.get_docstring(ast.parse(p.read_text(encoding="utf-8"))) is None]
    assert not missing, f"modules without a docstring: {missing}"
