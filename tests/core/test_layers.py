"""core/'s rooms hold: each package imports only what its docstring's "May import:" line names,
nothing imports a higher layer, and no chain of imports comes back to where it started.

Every import counts, the ones inside functions too: a lazy import is still an arrow between
modules (it only moves the cost). The graph is read from the source with ``ast``, so the test
needs nothing installed."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from conftest import PROJECT_ROOT

CORE = PROJECT_ROOT / "core"
FOUNDATION = ("errors", "options", "outputs", "installed_weights")  # core's modules every room may use
ENTRY_POINTS = ("generate_options", "generate", "cli", "batch", "__main__")  # core's top: they may import any room


def module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """The core modules ``path`` imports anywhere in it, as dotted names (a ``from X import Y``
    of a submodule Y counts as importing X.Y)."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "core")
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            source = ".".join(base + ([node.module] if node.module else []))
            if source.split(".")[0] != "core":
                continue
            for alias in node.names:
                candidate = f"{source}.{alias.name}"
                found.add(candidate if module_path(candidate) is not None else source)
    return found


def module_path(name: str) -> Path | None:
    base = PROJECT_ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def room_of(name: str) -> str:
    """core.beats.track -> "beats"; core.errors -> "errors"; core -> "core"."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "core"


def allowed_rooms() -> dict[str, set[str]]:
    """Each package's "May import:" line, read from its ``__init__.py`` docstring."""
    allowed = {}
    for init in sorted(CORE.glob("*/__init__.py")):
        docstring = ast.get_docstring(ast.parse(init.read_text())) or ""
        match = re.search(r"^May import: (.*)$", docstring, flags=re.MULTILINE)
        assert match, f"{init.relative_to(PROJECT_ROOT)} opens without a 'May import:' line"
        allowed[init.parent.name] = {name.strip(" .") for name in match.group(1).split(",")}
    return allowed


def core_graph() -> dict[str, set[str]]:
    graph = {}
    for path in sorted(CORE.rglob("*.py")):
        graph[module_name(path)] = {name for name in imported_modules(path) if module_path(name) is not None}
    return graph


def test_every_room_says_what_it_is_for_and_may_import():
    rooms = allowed_rooms()
    assert set(rooms) == {path.parent.name for path in CORE.glob("*/__init__.py")}
    for room, names in rooms.items():
        unknown = names - set(rooms) - set(FOUNDATION)
        assert not unknown, f"core/{room}/ may import {sorted(unknown)}, which are not rooms of core"


def test_each_room_imports_only_what_it_may():
    rooms = allowed_rooms()
    wrong = []
    for module, targets in core_graph().items():
        room = room_of(module)
        if room in ENTRY_POINTS or module == "core":
            continue
        may = set(FOUNDATION) if room in FOUNDATION else rooms[room]
        for target in targets:
            other = room_of(target)
            if other != room and other not in may:
                wrong.append(f"{module} imports {target}")
    assert not wrong, "imports that cross a room's bounds:\n" + "\n".join(sorted(wrong))


def test_no_room_imports_an_entry_point():
    wrong = [
        f"{module} imports {target}"
        for module, targets in core_graph().items()
        if room_of(module) not in ENTRY_POINTS
        for target in targets
        if room_of(target) in ENTRY_POINTS
    ]
    assert not wrong, "\n".join(wrong)


def test_no_import_circle():
    graph = core_graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if target == module or target in (module.rpartition(".")[0],):
                continue  # a module and its own package's __init__ (which names it) are one room
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if state.get(target) is None:
                circle = visit(target)
                if circle:
                    return circle
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if state.get(module) is None:
            circle = visit(module)
            assert circle is None, "import circle: " + " -> ".join(circle)


def test_the_graph_is_read_from_every_module():
    graph = core_graph()
    assert "core.beats.tracking" in graph and "core.beats.learned_tracker" in graph["core.beats.tracking"]
    assert "core.errors" in graph["core.generate"]
