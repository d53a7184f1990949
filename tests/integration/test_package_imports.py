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


# A parent that has loaded the heavy third-party packages (never rmnlora) forks one child per module:
# each child imports its module first, with nothing of rmnlora loaded, as a fresh interpreter would,
# without paying a fresh interpreter's seconds of torch and transformers imports per module.
_FORKING_IMPORTER = """
import importlib, os, sys, traceback
for heavy in ("numpy", "polars", "pandas", "pyarrow", "scipy", "sklearn", "statsmodels", "cvxpy", "econml",
              "pydantic", "pydantic_settings", "sqlmodel", "sqlalchemy", "alembic", "torch", "transformers",
              "peft", "trl", "chromadb", "langgraph.graph", "langchain_core", "fastapi", "starlette",
              "streamlit", "altair", "matplotlib.pyplot", "jinja2", "typer", "rich", "httpx", "yaml",
              "prometheus_client", "cryptography"):
    try:
        importlib.import_module(heavy)
    except Exception:
        pass
assert not [m for m in sys.modules if m == "rmnlora" or m.startswith("rmnlora.")], "rmnlora preloaded"
for name in sys.argv[1:]:
    child = os.fork()
    if child == 0:
        try:
            importlib.import_module(name)
        except BaseException:
            last = traceback.format_exc().strip().splitlines()[-1]
            print(f"{name}: {last}", flush=True)
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(child, 0)
    if status != 0 and not os.WIFEXITED(status):
        print(f"{name}: import ended the process (status {status})", flush=True)
"""


def _import_each_alone(names: list[str]) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", _FORKING_IMPORTER, *names],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return [line for line in done.stdout.splitlines() if line.strip()]


def test_every_module_imports_first_in_a_fresh_interpreter() -> None:
    """Each module imported first (nothing of rmnlora loaded before it), as a user's script would."""
    modules = _modules()
    assert len(modules) > 100  # the walk found the package's modules
    workers = max(1, min(os.cpu_count() or 2, 4))
    chunks = [modules[i::workers] for i in range(workers)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        failures = [line for lines in pool.map(_import_each_alone, chunks) for line in lines]
    assert failures == []


def test_a_module_that_fails_to_import_alone_is_reported() -> None:
    """The check itself: a module whose import raises is named with its error."""
    assert _import_each_alone(["rmnlora.no_such_module", "rmnlora.config"]) == [
        "rmnlora.no_such_module: ModuleNotFoundError: No module named 'rmnlora.no_such_module'"
    ]


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
