"""The package's import graph, read with ``ast``: no circles (imports inside functions included), and the wire
machinery imports no API family."""

from __future__ import annotations

import ast
import configparser
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TypeGuard

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "realtime_service"
FAMILIES = ("realtime_service.beta", "realtime_service.ga", "realtime_service.live")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking_block(node: ast.AST) -> TypeGuard[ast.If]:
    """``if TYPE_CHECKING:``: its imports are read by type checkers and never run."""
    return isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def _type_checking_only(tree: ast.AST) -> set[int]:
    """The ids of the import nodes under ``if TYPE_CHECKING:``: read by type checkers, never run."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if _is_type_checking_block(node):
            skipped.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    return skipped


def imported_modules(tree: ast.AST, module: str, is_package: bool, known: set[str]) -> set[str]:
    """Every module of the package that ``tree`` imports when it runs: at module level or inside functions
    (imports under ``if TYPE_CHECKING:`` never run, so they do not count)."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    skipped = _type_checking_only(tree)
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            # "from pkg import name" imports pkg.name when that is a module, else pkg itself.
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        found.update(name for name in names if name in known)
    found.discard(module)
    return found


def _every_import_counts(tree: ast.AST) -> ast.AST:
    """``tree`` with each ``if TYPE_CHECKING:`` made ``if True:``, so :func:`imported_modules` counts the imports
    type checkers read too (a circle there is still a circle for mypy, and for whoever reads the code)."""
    for node in ast.walk(tree):
        if _is_type_checking_block(node):
            node.test = ast.Constant(True)
    return tree


def import_graph(root: Path = PACKAGE, *, type_checking: bool = False) -> dict[str, set[str]]:
    """Who imports whom when the code runs, or (``type_checking``) also when a type checker reads it."""
    paths = {module_name(path, root): path for path in root.rglob("*.py")}
    known = set(paths)
    graph = {}
    for name, path in paths.items():
        tree = ast.parse(path.read_text("utf-8"))
        if type_checking:
            tree = _every_import_counts(tree)
        graph[name] = imported_modules(tree, name, path.name == "__init__.py", known)
    return graph


def find_cycle(graph: Mapping[str, Iterable[str]]) -> list[str] | None:
    """One import circle of ``graph`` as a path that ends where it starts, or ``None``."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_checker_finds_a_planted_circle_and_passes_a_tree() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_checker_sees_relative_and_function_level_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "b.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from .. import c\n"
        "def f():\n    from ..a import thing\n"
    )
    (pkg / "c.py").write_text("")
    graph = import_graph(pkg)
    assert graph["pkg.a"] == {"pkg.sub.b"}
    assert graph["pkg.sub.b"] == {"pkg.a"}
    assert find_cycle(graph) == ["pkg.a", "pkg.sub.b", "pkg.a"]


def test_the_package_has_no_import_circle() -> None:
    graph = import_graph()
    assert "realtime_service.service.service" in graph  # the graph is the real package
    assert find_cycle(graph) is None
    assert find_cycle(import_graph(type_checking=True)) is None  # nor for a type checker


@pytest.mark.parametrize("family", FAMILIES)
def test_the_wire_package_imports_no_api_family(family: str) -> None:
    graph = import_graph()
    wire = {name: targets for name, targets in graph.items() if name.startswith("realtime_service.wire")}
    assert wire, "the wire package is missing"
    offenders = {name: sorted(t for t in targets if t.startswith(family)) for name, targets in wire.items()}
    assert {name: targets for name, targets in offenders.items() if targets} == {}


def test_the_gateway_gets_its_version_without_importing_the_package() -> None:
    assert "realtime_service" not in import_graph()["realtime_service.transport.gateway"]


def test_the_package_root_holds_only_cross_cutting_modules() -> None:
    root_modules = sorted(path.stem for path in PACKAGE.glob("*.py"))
    assert len(root_modules) <= 14, root_modules


#: The folders of ``realtime_service/web``, bottom-up: each may import the ones before it, never one after.
#: The modules directly in ``web/`` (messages, settings, authority) are below all of them; the package's own
#: ``__init__`` (the public names) and ``__main__`` stand above and are not checked.
WEB_LAYERS = ("admission", "routes", "adapters", "servers")
WEB = "realtime_service.web"


def web_layer(module: str) -> int | None:
    """The rank of a ``web`` module (-1 for the base modules), ``None`` for the facade or a module outside."""
    if module in (WEB, f"{WEB}.__main__") or not module.startswith(f"{WEB}."):
        return None
    parts = module.split(".")
    return -1 if len(parts) == 3 and parts[2] not in WEB_LAYERS else WEB_LAYERS.index(parts[2])


def web_layering_violations(graph: Mapping[str, Iterable[str]]) -> list[tuple[str, str]]:
    """The (importer, imported) pairs where a ``web`` module imports a layer above its own, or the facade."""
    found = []
    for module, targets in graph.items():
        rank = web_layer(module)
        if rank is None:
            continue
        for target in targets:
            target_rank = web_layer(target)
            if target == WEB or (target_rank is not None and target_rank > rank):
                found.append((module, target))
    return sorted(found)


def test_the_layering_checker_finds_an_upward_import() -> None:
    graph = {
        f"{WEB}.admission.hosts": {f"{WEB}.messages"},
        f"{WEB}.routes.token.endpoint": {f"{WEB}.admission.hosts", f"{WEB}.adapters.asgi"},
        f"{WEB}.settings": {f"{WEB}.admission.cors"},
        f"{WEB}.servers.serve": {f"{WEB}.adapters.asgi", f"{WEB}.routes.policy", WEB},
    }
    assert web_layering_violations(graph) == [
        (f"{WEB}.routes.token.endpoint", f"{WEB}.adapters.asgi"),
        (f"{WEB}.servers.serve", WEB),
        (f"{WEB}.settings", f"{WEB}.admission.cors"),
    ]


def test_web_folders_are_the_known_layers() -> None:
    folders = sorted(p.name for p in (PACKAGE / "web").iterdir() if p.is_dir() and (p / "__init__.py").exists())
    assert folders == sorted(WEB_LAYERS)


def test_each_web_layer_imports_only_downward_even_for_type_checking() -> None:
    """Routes use admission, adapters use routes, servers use adapters; the base modules use none of them.
    Imports under ``TYPE_CHECKING`` count here: a type-only import upward is still a dependency upward."""
    graph = import_graph(type_checking=True)
    assert any(web_layer(name) == 3 for name in graph)  # the graph holds the real web package
    assert web_layering_violations(graph) == []


def test_the_emulator_has_no_circle_even_for_type_checkers_and_only_its_entry_points_import_its_server() -> None:
    graph = import_graph(type_checking=True)
    package, server = "realtime_service.emulator", "realtime_service.emulator.server"
    emulator = sorted(name for name in graph if name == package or name.startswith(package + "."))
    assert server in emulator  # the graph is the real emulator
    assert f"{package}.calls" in emulator

    def reachable(starts: Iterable[str]) -> set[str]:
        seen: set[str] = set()
        todo = list(starts)
        while todo:
            node = todo.pop()
            if node not in seen:
                seen.add(node)
                todo.extend(graph.get(node, ()))
        return seen

    inside = {name: {target for target in graph[name] if target in emulator} for name in emulator}
    assert find_cycle(inside) is None
    # a circle may also leave the emulator and come back through another package
    assert [name for name in emulator if name in reachable(graph[name])] == []
    # route families (and everything else below the server) depend on the core, never on the server, not even
    # through the package's __init__ or another module
    entry_points = {package, server, f"{package}.cli", f"{package}.__main__"}
    assert [name for name in emulator if name not in entry_points and server in reachable(graph[name])] == []


def test_every_package_folder_is_in_setup_cfgs_package_list() -> None:
    """``setup.cfg`` lists packages by hand: one missing (``ga._generated``) would be missing from the wheel."""
    parser = configparser.ConfigParser()
    parser.read(PACKAGE.parent / "setup.cfg", encoding="utf-8")
    listed = set(parser["options"]["packages"].split())
    folders = {module_name(init, PACKAGE) for init in PACKAGE.rglob("__init__.py")}
    assert "realtime_service.ga._generated" in folders
    assert folders == listed


def test_no_asyncio_wait_for_in_the_package() -> None:
    """``asyncio.wait_for`` on Python 3.11 can lose a cancellation (bpo-42130: the inner awaitable finishing as the
    task is cancelled returns its result instead), so a Ctrl-C or a shutdown is missed; ``asyncio.timeout`` is
    used instead."""
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{number}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "asyncio.wait_for(" in line
    ]
    assert offenders == []
