"""The package's shape: every module imports on its own, the imports between modules form no cycle and
sit at module level, no module of asyncbench outgrows 300 lines, and only the modules that
asyncbench.config's docstring names import Hydra or OmegaConf."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import asyncbench.config

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("asyncbench", "analysis")
MAX_LINES = 300
HYDRA_MODULES = {"asyncbench.app", "asyncbench.config", "asyncbench.schema", "asyncbench.errors",
                 "asyncbench.sweeps"}


def module_files() -> dict[str, Path]:
    """Every module of the packages by its dotted name (a package by its own name)."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


MODULES = module_files()


def imports(path: Path) -> list[tuple[str, bool]]:
    """Each module `path` imports, absolute, with whether the import is inside a function."""
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend((alias.name, in_function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                assert child.level == 0, f"{path}: relative import"
                # `from asyncbench import provenance` imports the module asyncbench.provenance
                found.extend((f"{child.module}.{alias.name}" if f"{child.module}.{alias.name}" in MODULES
                              else child.module, in_function) for alias in child.names)
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))

    visit(ast.parse(path.read_text()), False)
    return found


def package_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports, at module level or inside a function. (A package's
    own `__init__`, which runs before any of its modules, does not count as imported by them.)"""
    return {name: {imported for imported, _ in imports(path) if imported in MODULES and imported != name}
            for name, path in MODULES.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of `graph` as the list of its modules (the first repeated at the end), or None."""
    visiting: list[str] = []
    done: set[str] = set()

    def visit(name: str) -> list[str] | None:
        if name in visiting:
            return visiting[visiting.index(name):] + [name]
        if name in done:
            return None
        visiting.append(name)
        for imported in sorted(graph[name]):
            if cycle := visit(imported):
                return cycle
        visiting.pop()
        done.add(name)
        return None

    return next((cycle for name in sorted(graph) if (cycle := visit(name))), None)


# Imports every library the modules import at module level, then forks one child per module, which
# imports that module alone: each starts with none of the packages imported, without paying torch's
# import once per module.
IMPORT_EACH = """
import importlib, os, sys, traceback
libraries, modules = sys.argv[1].split(","), sys.argv[2].split(",")
for library in libraries:
    try:
        importlib.import_module(library)
    except ImportError:
        pass  # an optional one (a launcher's plugin); the module that needs it will say so
failed = []
for module in modules:
    pid = os.fork()
    if pid == 0:
        try:
            importlib.import_module(module)
        except BaseException:
            traceback.print_exc()
            os._exit(1)
        os._exit(0)
    if os.waitpid(pid, 0)[1] != 0:
        failed.append(module)
print(",".join(failed))
"""


@pytest.mark.slow
def test_every_module_imports_alone_in_a_fresh_process():
    libraries = sorted({imported.split(".")[0] for path in MODULES.values() for imported, in_function in imports(path)
                        if not in_function and imported.split(".")[0] not in PACKAGES})
    result = subprocess.run([sys.executable, "-c", IMPORT_EACH, ",".join(libraries), ",".join(MODULES)],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"could not be imported alone: {result.stdout.strip()}\n{result.stderr}"


def test_the_package_imports_form_no_cycle():
    assert find_cycle(package_graph()) is None, " -> ".join(find_cycle(package_graph()))


def test_the_cycle_check_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_module_imports_the_packages_inside_a_function():
    inside = [f"{name} imports {imported}" for name, path in MODULES.items() for imported, in_function in imports(path)
              if in_function and imported.split(".")[0] in PACKAGES]
    assert inside == []


def test_no_module_of_asyncbench_is_over_300_lines():
    long = {name: lines for name, path in MODULES.items()
            if name.startswith("asyncbench") and (lines := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_only_the_modules_config_names_import_hydra_or_omegaconf():
    importers = {name for name, path in MODULES.items()
                 if any(imported.split(".")[0] in ("hydra", "omegaconf") for imported, _ in imports(path))}
    assert importers == HYDRA_MODULES
    for name in HYDRA_MODULES - {"asyncbench.config"}:
        assert f"`{name.removeprefix('asyncbench.')}`" in asyncbench.config.__doc__
