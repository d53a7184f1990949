"""Every module imports on its own, and the package has no import circle.

A circle held together by a function-local import works until someone moves that import; these
tests make the circle itself the failure.
"""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import grimp

import rmnlora

# Scripts Streamlit runs (each page draws itself when run); they are not modules to import.
SCRIPTS = ("rmnlora.ui.views", "rmnlora.ui.streamlit_app", "rmnlora.storage.migrations.versions")


def _modules() -> list[str]:
    names = [m.name for m in pkgutil.walk_packages(rmnlora.__path__, "rmnlora.")]
    return sorted(n for n in names if not n.startswith(SCRIPTS))


def _import_alone(name: str) -> tuple[str, str]:
    done = subprocess.run(
        [sys.executable, "-c", f"import {name}"], capture_output=True, text=True, timeout=300
    )
    return name, "" if done.returncode == 0 else done.stderr.strip().splitlines()[-1]


def test_every_module_imports_first_in_a_fresh_interpreter() -> None:
    """Each module imported first (nothing of rmnlora loaded before it), as a user's script would."""
    modules = _modules()
    assert len(modules) > 100  # the walk found the package's modules
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        failures = [f"{name}: {error}" for name, error in pool.map(_import_alone, modules) if error]
    assert failures == []


def _cycles(graph: grimp.ImportGraph, modules: set[str]) -> Iterator[list[str]]:
    """Strongly connected components of more than one module (Tarjan), over every import statement."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    counter = [0]

    def visit(node: str) -> Iterator[list[str]]:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.find_modules_directly_imported_by(node) & modules):
            if target not in index:
                yield from visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                yield sorted(component)

    for module in sorted(modules):
        if module not in index:
            yield from visit(module)


def test_no_import_circle_between_modules() -> None:
    """Counting function-local imports too, and ignoring a package's own ``__init__`` re-exports."""
    graph = grimp.build_graph("rmnlora", include_external_packages=False)
    packages = {m for m in graph.modules if any(o.startswith(m + ".") for o in graph.modules)}
    for package in packages:  # a package re-exporting its submodules is not a circle
        for child in graph.find_children(package):
            for importer, imported in ((package, child), (child, package)):
                if graph.direct_import_exists(importer=importer, imported=imported):
                    graph.remove_import(importer=importer, imported=imported)
    modules = {m for m in graph.modules if m.startswith("rmnlora")}
    circles = list(_cycles(graph, modules))
    assert circles == [], "import circles:\n" + "\n".join(" <-> ".join(c) for c in circles)
    assert rmnlora.__name__ == "rmnlora"
