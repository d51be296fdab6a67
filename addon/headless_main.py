"""Run the headless command line from a file, in Blender or in plain Python with the ``bpy`` module.

    blender -b [scene.blend] --python-exit-code 1 -P addon/headless_main.py -- generate song.ogg -o song.blend
    python addon/headless_main.py generate song.ogg -o song.blend

The add-on's modules use relative imports, so this file imports the extension root (this file's
folder's parent) as a package called ``virtual_conductor`` and hands the arguments after ``--``
(all of them under plain Python) to :func:`addon.headless.main`. The exit status is its return
value: 0 success, 1 a user error, 3 when any file of a batch failed.

:func:`import_extension` is also how the tests (tests/conftest.py) and bench/keyframes.py import
the add-on, so this file must stay importable on its own (no imports from the repository).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

PACKAGE = "virtual_conductor"


def command_line_arguments(argv: list[str]) -> list[str]:
    """The arguments meant for this script: after ``--`` in Blender, all of them in Python."""
    if "--" in argv:
        return argv[argv.index("--") + 1 :]
    if argv and Path(argv[0]).resolve() == Path(__file__).resolve():
        return argv[1:]  # python addon/headless_main.py ...
    return []  # blender -b -P addon/headless_main.py without "--": no arguments


def import_extension(name: str = "") -> ModuleType:
    """Import the extension root as the package ``virtual_conductor`` (once), the way Blender
    loads it as ``bl_ext.<repo>.<id>``, and return it, or its submodule ``name`` when given
    (``"addon.headless"``, ``"core.errors"``)."""
    if PACKAGE not in sys.modules:
        root = Path(__file__).resolve().parent.parent
        spec = importlib.util.spec_from_file_location(
            PACKAGE, root / "__init__.py", submodule_search_locations=[str(root)]
        )
        if spec is None or spec.loader is None:
            raise ImportError(f"Cannot import the extension from {root}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[PACKAGE] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[PACKAGE]
            raise
    return importlib.import_module(f"{PACKAGE}.{name}") if name else sys.modules[PACKAGE]


def run() -> int:
    headless = import_extension("addon.headless")
    return headless.main(command_line_arguments(sys.argv))


def leave(status: int) -> None:
    """Exit with ``status``. Under the ``bpy`` module (no Blender binary) skip the interpreter's
    teardown: the 4.2 module can crash there (signal 11) after all the work is saved."""
    bpy = sys.modules.get("bpy")
    if bpy is not None and not bpy.app.binary_path:
        import os

        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    sys.exit(status)


if __name__ == "__main__":
    leave(run())
