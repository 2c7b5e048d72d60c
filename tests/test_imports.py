"""The import graph: every module imports in one process, no import cycle, no lower layer importing a higher one.

``LAYERS`` is the one list of the design's layers, lowest first (docs/ARCHITECTURE.md explains them). A module
belongs to the layer of the longest prefix that names it; a module may import modules of its own layer or of lower
layers. Every ``import`` statement counts, including those inside functions: a lazy import is still a dependency,
only a hidden one. The one edge that is not a dependency is a module importing one of its own parent packages
(Python imports the parents before the module anyway; a package's ``__init__`` then imports its children by
``pkgutil`` to complete its registry).

Command-line modules that share flag names with the app (``--model``, ``--data_dir``) must define their flags only
when they run; otherwise whichever module a test imports second fails with absl's DuplicateFlagError, depending on
test order.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("jaxquba", "converters")

# The studies, one package each: one layer, whose packages never import one another (no study uses another's output).
STUDIES = ("jaxquba.quba", "jaxquba.generalization", "jaxquba.error_analysis")

# (layer, module prefixes), lowest first. A module of a layer imports only modules of its layer or of layers above
# it in this list.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("foundation", ("jaxquba", "jaxquba.errors", "jaxquba.protocols", "jaxquba.store")),
    ("metrics", ("jaxquba.metrics",)),
    ("model registry", ("jaxquba.zoo",)),
    ("model families", ("jaxquba.models", "jaxquba.zeroshot")),
    ("converters", ("converters",)),
    ("loader", ("jaxquba.loader",)),
    ("views", ("jaxquba.views",)),
    ("data", ("jaxquba.data",)),
    ("engine", ("jaxquba.engine",)),
    ("dimension framework", ("jaxquba.dimensions",)),
    ("studies", STUDIES),
    ("study index", ("jaxquba.studies",)),
    ("run report", ("jaxquba.report",)),
    ("app and tools", ("jaxquba.main", "jaxquba.app", "converters.parity", "jaxquba.testing")),
)

IMPORT_ALL = """
import importlib, pkgutil
import converters, jaxquba
names = [m.name for pkg in (jaxquba, converters)
         for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")]
for name in sorted(names):
    importlib.import_module(name)
print(len(names))
"""


def test_all_modules_import_together():
    result = subprocess.run([sys.executable, "-c", IMPORT_ALL], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert int(result.stdout.split()[-1]) > 20


def module_files() -> dict[str, Path]:
    """Dotted name -> file of every module of the packages (a package by its ``__init__.py``)."""
    files = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return files


def import_graph(files: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the modules of ``files`` it imports anywhere in its body (a name imported from a package counts as
    its submodule where one has that name, else as the package); edges to the module's own parents are left out."""
    def known(name: str) -> str | None:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        targets = set()
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets |= {known(a.name) for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(parent + ([base] if base else []))
                targets |= {known(f"{base}.{a.name}") if f"{base}.{a.name}" in files else known(base)
                            for a in node.names}
        parents = {module.rsplit(".", i)[0] for i in range(1, module.count(".") + 1)}
        graph[module] = {t for t in targets if t and t != module and t not in parents}
    return graph


def layer_of(module: str) -> int | None:
    matches = [(len(prefix), i) for i, (_, prefixes) in enumerate(LAYERS) for prefix in prefixes
               if module == prefix or module.startswith(prefix + ".")]
    return max(matches)[1] if matches else None


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_and_parser_on_a_known_graph():
    """The checks below can fail: a two-module cycle and a lazy import are found."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    graph = import_graph(module_files())
    assert "jaxquba.errors" in graph["jaxquba.zoo"]  # a module-level import
    assert "jaxquba.loader" in graph["jaxquba.app.running"]  # an import inside a function


def test_every_module_has_a_layer():
    assert [m for m in module_files() if layer_of(m) is None] == []


def test_no_import_cycle():
    assert cycles(import_graph(module_files())) == []


def test_no_lower_layer_imports_a_higher_one():
    upward = [f"{m} ({LAYERS[layer_of(m)][0]}) imports {t} ({LAYERS[layer_of(t)][0]})"
              for m, targets in import_graph(module_files()).items() for t in sorted(targets)
              if layer_of(t) is not None and layer_of(m) is not None and layer_of(t) > layer_of(m)]
    assert upward == []


def study_of(module: str) -> str | None:
    return next((s for s in STUDIES if module == s or module.startswith(s + ".")), None)


def test_no_study_imports_another():
    across = [f"{m} imports {t}" for m, targets in import_graph(module_files()).items() for t in sorted(targets)
              if study_of(m) and study_of(t) and study_of(m) != study_of(t)]
    assert across == []
