"""core/ and training/ import with bpy absent: a real interpreter where `import bpy` fails."""

from __future__ import annotations

import subprocess
import sys

from conftest import PROJECT_ROOT


SCRIPT = r"""
import importlib, importlib.abc, pkgutil, sys

class NoBlender(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "bpy" or name.startswith(("bpy.", "mathutils", "bmesh")):
            raise ImportError("bpy is absent in this test")
        return None

sys.meta_path.insert(0, NoBlender())
imported = []
for package_name in ("core", "training"):
    package = importlib.import_module(package_name)
    for info in pkgutil.walk_packages(package.__path__, package_name + "."):
        if info.name.endswith("__main__"):
            continue
        importlib.import_module(info.name)
        imported.append(info.name)
assert "bpy" not in sys.modules
print(len(imported), " ".join(sorted(imported)))
"""


def test_core_and_training_import_without_bpy():
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    names = set(result.stdout.split()[1:])
    on_disk = {
        ".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts).removesuffix(".__init__")
        for folder in ("core", "training")
        for path in (PROJECT_ROOT / folder).rglob("*.py")
        if path.name != "__main__.py"
    } - {"core", "training"}
    assert on_disk <= names, f"not imported: {sorted(on_disk - names)}"
