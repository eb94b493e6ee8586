"""The house rules of docs/architecture.md: one-way layers, no import cycle, a light core, small files."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
LIBRARY = REPOSITORY / "SuperResolution3DLib"


def test_layers_contract_holds():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    if not lint_imports.exists():
        pytest.fail("import-linter is not installed: pip install -e '.[test]'")
    # lint-imports prints a Unicode banner; decode it as UTF-8 whatever locale an earlier test left set
    done = subprocess.run([str(lint_imports)], cwd=REPOSITORY, capture_output=True, encoding="utf-8", errors="replace",
                          env=dict(os.environ, PYTHONPATH=str(REPOSITORY)))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


def import_cycles(graph):
    """Strongly connected components (more than one module) of the import graph (Tarjan)."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(module):
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in graph.modules:
                continue
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return cycles


def test_no_module_imports_itself_through_others():
    grimp = pytest.importorskip("grimp", reason="grimp comes with import-linter (test extras)")
    assert import_cycles(grimp.build_graph("SuperResolution3DLib")) == []


def test_cycle_finder_finds_a_cycle():
    class Graph:
        modules = {"a", "b", "c"}
        edges = {"a": {"b"}, "b": {"a"}, "c": {"a"}}

        def find_modules_directly_imported_by(self, module):
            return self.edges[module]

    assert import_cycles(Graph()) == [["a", "b"]]


def test_core_and_model_cards_load_without_heavy_libraries():
    code = (
        "import sys, pkgutil, importlib, SuperResolution3DLib.core as core\n"
        "for m in pkgutil.iter_modules(core.__path__): importlib.import_module('SuperResolution3DLib.core.' + m.name)\n"
        "import SuperResolution3DLib.models.card, SuperResolution3DLib.cli\n"
        "print(sorted(n for n in ('torch', 'monai', 'SimpleITK') if n in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPOSITORY, check=True)
    assert done.stdout.strip() == "[]"


def test_no_source_file_is_over_600_lines():
    sources = list(LIBRARY.rglob("*.py")) + list((REPOSITORY / "SuperResolution3D").rglob("*.py"))
    long_files = {str(p.relative_to(REPOSITORY)): n for p in sources if (n := len(p.read_text(encoding="utf-8").splitlines())) > 600}
    assert long_files == {}
