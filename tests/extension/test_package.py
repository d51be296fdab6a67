"""The extension as users get it: built and validated with Blender's own extension tool,
installed from the zip into a real bpy session, enabled, registered and unregistered twice.

The installation itself is tests/extension_install.py (shared with the add-on's tests).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
import sys
import tempfile
import tomllib
import zipfile

import pytest

from extension_install import (  # noqa: E402  (sets Blender's user folders before bpy loads)
    EXTENSION_ID,
    PROJECT_ROOT,
    install_extension,
    run_tool,
)


@pytest.fixture(scope="module")
def extension() -> dict:
    return install_extension()


def registered_classes(module) -> list[type]:
    return [cls for cls in module.addon.classes if cls.is_registered]


def leftovers(extension: dict) -> list[str]:
    """What of the add-on is still registered in Blender (empty after a clean unregister)."""
    import bpy

    module = extension["module"]
    found = [cls.__name__ for cls in registered_classes(module)]
    if hasattr(bpy.types.Scene, "virtual_conductor"):
        found.append("Scene.virtual_conductor")
    for name in ("load_pre", "load_post"):
        found += [
            f"{name}:{handler.__name__}"
            for handler in getattr(bpy.app.handlers, name)
            if handler.__module__.startswith(extension["package"])
        ]
    return found


def test_manifest_fields_follow_blender_rules() -> None:
    manifest = tomllib.loads((PROJECT_ROOT / "blender_manifest.toml").read_text())
    assert manifest["id"] == EXTENSION_ID and manifest["type"] == "add-on"
    assert manifest["schema_version"] == "1.0.0" and manifest["blender_version_min"] == "4.2.0"
    tagline = manifest["tagline"]
    assert len(tagline) <= 64 and tagline[-1].isalnum()
    assert set(manifest["permissions"]) == {"files", "network"}
    done = run_tool("validate", str(PROJECT_ROOT))
    assert done.returncode == 0, done.stdout + done.stderr


def test_built_zip_validates_and_leaves_out_development_files(extension: dict) -> None:
    done = run_tool("validate", str(extension["zip"]))
    assert done.returncode == 0, done.stdout + done.stderr
    names = zipfile.ZipFile(extension["zip"]).namelist()
    for required in (
        "__init__.py",
        "blender_manifest.toml",
        "addon/__init__.py",
        "addon/worker.py",
        "core/__init__.py",
        "core/__main__.py",
    ):
        assert required in names
    for name in names:
        top = name.split("/")[0]
        assert top not in ("training", "tests", "bench", "Makefile", "pyproject.toml"), name
        assert not top.startswith("."), name
        assert "__pycache__" not in name and not name.endswith((".pyc", ".blend1")), name


def test_installed_add_on_is_enabled_with_its_ui(extension: dict) -> None:
    import bpy

    assert extension["folder"].is_dir()
    assert not (extension["folder"] / "tests").exists()
    assert hasattr(bpy.types.Scene, "virtual_conductor")
    assert registered_classes(extension["module"]) == list(extension["module"].addon.classes)
    for operator in ("generate", "cancel", "create_conductor", "install_pytorch"):
        assert getattr(bpy.ops.conductor, operator).get_rna_type() is not None
    prefs = bpy.context.preferences.addons[extension["package"]].preferences
    assert prefs is not None and hasattr(prefs, "install_status")


def test_disable_enable_twice_leaves_nothing_behind(extension: dict) -> None:
    import addon_utils

    for _ in range(2):
        addon_utils.disable(extension["package"], default_set=True)
        assert leftovers(extension) == []
        addon_utils.enable(extension["package"], default_set=True)
        assert "Scene.virtual_conductor" in leftovers(extension)
    extension["module"] = importlib.import_module(extension["package"])


def test_register_and_unregister_are_idempotent(extension: dict) -> None:
    import bpy

    module = extension["module"]
    module.unregister()
    module.unregister()
    assert leftovers(extension) == []
    module.register()
    module.register()
    assert registered_classes(module) == list(module.addon.classes)
    for name in ("load_pre", "load_post"):
        ours = [h for h in getattr(bpy.app.handlers, name) if h.__module__.startswith(extension["package"])]
        assert len(ours) == 1, name
    settings = bpy.context.scene.virtual_conductor
    assert settings.weights in {"DEFAULT", "PROCEDURAL", "OFFICIAL", "CUSTOM"}
    assert not settings.is_running


def test_install_button_explains_why_it_is_greyed_out(extension: dict) -> None:
    import bpy

    if bpy.app.online_access:
        pytest.skip("this Blender allows online access")
    with pytest.raises(RuntimeError, match="Online access is off"):
        bpy.ops.conductor.install_pytorch()


def test_pip_command_installs_the_tested_pytorch_alone_into_the_private_folder(extension: dict) -> None:
    """Only PyTorch is ever downloaded (the rest ships in the zip), at the version the project
    tests, with Blender's NumPy kept by a constraint."""
    prefs = sys.modules[extension["package"] + ".addon.preferences"]
    command = prefs.pip_command("CPU", "/x/site-packages", "/x/pins.txt")
    assert command[:4] == [sys.executable, "-m", "pip", "install"]
    assert command[command.index("--target") + 1] == "/x/site-packages"
    assert command[command.index("--constraint") + 1] == "/x/pins.txt"
    assert command[-1] == f"torch=={prefs.TORCH_VERSION}" and not any("numpy" in word for word in command)
    assert not any(package.distribution in command for package in prefs.PACKAGES if not package.on_request)
    folder = prefs.dependency_folder(create=False)
    assert folder.endswith(os.path.join(EXTENSION_ID, "site-packages"))
    assert not folder.startswith(str(extension["folder"]))  # never inside the add-on


def simulate_install(bpy, prefs) -> tuple:
    """What Install Dependencies does, with a stand-in for pip: a real process that waits,
    its timer and its temporary constraints folder. Returns (process, folder)."""
    folder = tempfile.mkdtemp(prefix="virtual_conductor_pip_")
    job = prefs.InstallJob([sys.executable, "-c", "import time; time.sleep(60)"])
    task = prefs.BackgroundTask(prefs.INSTALL, job, cleanup=lambda: shutil.rmtree(folder, ignore_errors=True))
    task.start_timer(bpy.context.window_manager, bpy.context.window, 0.2)
    return job.child.process, folder


def test_cancel_and_unregister_stop_a_running_install(extension: dict) -> None:
    import bpy

    prefs = sys.modules[extension["package"] + ".addon.preferences"]
    assert not bpy.ops.conductor.cancel_install.poll()
    process, folder = simulate_install(bpy, prefs)
    assert bpy.ops.conductor.cancel_install() == {"FINISHED"}
    assert process.returncode is not None and not os.path.exists(folder)
    assert prefs.BackgroundTask.get(prefs.INSTALL) is None
    process, folder = simulate_install(bpy, prefs)
    extension["module"].unregister()
    extension["module"].register()
    assert process.returncode is not None and not os.path.exists(folder)
    assert prefs.BackgroundTask.get(prefs.INSTALL) is None


def test_private_packages_are_found_without_touching_sys_path(extension: dict, tmp_path) -> None:
    """A package in the private folder is listed with its version, Blender's own are still
    listed, and register leaves Blender's sys.path as it was (only the worker needs them)."""
    prefs = sys.modules[extension["package"] + ".addon.preferences"]
    (tmp_path / "vc_private_pkg").mkdir()
    (tmp_path / "vc_private_pkg" / "__init__.py").write_text("")
    info = tmp_path / "vc_private_pkg-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: vc_private_pkg\nVersion: 1.2.3\n")
    assert prefs.find_package("vc_private_pkg", "vc_private_pkg", str(tmp_path)) == "1.2.3"
    assert prefs.find_package("vc_private_pkg", "vc_private_pkg", "") is None
    assert prefs.find_package("numpy", "numpy", str(tmp_path)) == prefs.numpy_version()
    before = list(sys.path)
    extension["module"].unregister()
    extension["module"].register()
    assert sys.path == before
