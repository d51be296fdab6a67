"""Add-on preferences: which Python packages the generator can use, and installing them.

Dependencies go into the extension's private user folder
(``extension_path_user(<package>, path="site-packages")``), never into the add-on's own folder
or Blender's Python. pip runs in a subprocess polled by a modal timer; a constraints file pins
NumPy to the version Blender bundles, so Blender's NumPy is never replaced.
"""

from __future__ import annotations

import importlib.machinery
import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import queue

import bpy
from bpy.props import EnumProperty

# "bl_ext.<repo>.virtual_conductor" (or the plain module name when loaded as a legacy add-on).
ADDON_PACKAGE = __package__.rpartition(".")[0]

# (import name, distribution name, label) of what the generator needs beyond Blender's Python.
DEPENDENCIES = (
    ("torch", "torch", "PyTorch"),
    ("librosa", "librosa", "librosa"),
    ("soundfile", "soundfile", "soundfile"),
    ("soxr", "soxr", "soxr"),
    ("safetensors", "safetensors", "safetensors"),
    ("scipy", "scipy", "SciPy"),
)
TORCH_INDEX = {
    "CPU": "https://download.pytorch.org/whl/cpu",
    "CUDA": "https://download.pytorch.org/whl/cu126",
}

_status_cache: dict[str, str | None] = {}
_install: dict = {}  # the running pip: {"process", "lines", "log", "done", "timer", "folder"}


def dependency_folder(*, create: bool) -> str:
    """The private site-packages folder, or "" when not running as an extension."""
    if not ADDON_PACKAGE.startswith("bl_ext."):
        return ""
    try:
        return bpy.utils.extension_path_user(ADDON_PACKAGE, path="site-packages", create=create)
    except (ValueError, OSError):
        return ""


def find_package(module: str, distribution: str, folder: str) -> str | None:
    """The version of ``module`` as the worker sees it: importable by Blender's Python or
    present in the private ``folder``; None when neither. Looks, never imports; ``sys.path``
    is left alone (only the worker gets the folder, through PYTHONPATH)."""
    in_folder = bool(folder) and os.path.isdir(folder)
    if in_folder and importlib.machinery.PathFinder.find_spec(module, [folder]) is not None:
        found = next(iter(importlib.metadata.distributions(name=distribution, path=[folder])), None)
        return found.version if found is not None else "unknown version"
    if importlib.util.find_spec(module) is None:
        return None
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown version"


def dependency_status(*, refresh: bool = False) -> dict[str, str | None]:
    """{label: version, or None when the generator cannot import it}; looks, never imports."""
    if refresh or not _status_cache:
        importlib.invalidate_caches()
        _status_cache.clear()
        folder = dependency_folder(create=False)
        for module, distribution, label in DEPENDENCIES:
            _status_cache[label] = find_package(module, distribution, folder)
    return dict(_status_cache)


def missing_dependencies() -> list[str]:
    return [label for label, version in dependency_status().items() if version is None]


def numpy_version() -> str:
    import numpy

    return numpy.__version__


def pip_command(build: str, target: str, constraints: str) -> list[str]:
    """The pip call that installs every dependency into ``target``."""
    packages = [distribution for _module, distribution, _label in DEPENDENCIES]
    command = [sys.executable, "-m", "pip", "install", "--upgrade", "--no-input"]
    command += ["--disable-pip-version-check", "--progress-bar", "off"]
    command += ["--target", target, "--constraint", constraints]
    if sys.platform != "darwin":
        command += ["--extra-index-url", TORCH_INDEX[build]]
    return command + packages


def install_disabled_reason() -> str:
    if _install:
        return "Dependencies are being installed."
    if not bpy.app.online_access:
        return (
            "Online access is off: allow it in Preferences > System > Network, "
            "or install by hand (see the README)."
        )
    if not ADDON_PACKAGE.startswith("bl_ext."):
        return "Install the add-on as an extension to get a private dependency folder."
    return ""


def stop_install() -> None:
    """End the running pip, if any: terminate it and wait, remove its timer and its temporary
    constraints folder, forget it (used when it ends, by Cancel and on unregister)."""
    if not _install:
        return
    process = _install.get("process")
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    timer = _install.get("timer")
    window_manager = getattr(bpy.context, "window_manager", None)
    if timer is not None and window_manager is not None:
        window_manager.event_timer_remove(timer)
    folder = _install.get("folder")
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
    _install.clear()


class CONDUCTOR_OT_install_dependencies(bpy.types.Operator):
    """Download PyTorch, librosa and the other packages the generator needs"""

    bl_idname = "conductor.install_dependencies"
    bl_label = "Install Dependencies"
    bl_options = {"INTERNAL"}

    build: EnumProperty(
        name="PyTorch Build",
        items=(
            ("CPU", "CPU", "Small download, runs everywhere"),
            ("CUDA", "CUDA", "For NVIDIA GPUs: a multi-gigabyte download"),
        ),
        default="CPU",
    )

    @classmethod
    def poll(cls, context) -> bool:
        reason = install_disabled_reason()
        if reason:
            cls.poll_message_set(reason)
            return False
        return True

    def execute(self, context):
        target = dependency_folder(create=True)
        folder = tempfile.mkdtemp(prefix="virtual_conductor_pip_")
        constraints = os.path.join(folder, "pins.txt")
        with open(constraints, "w", encoding="utf-8") as handle:
            handle.write(f"numpy=={numpy_version()}\n")
        command = pip_command(self.build, target, constraints)
        try:
            process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                encoding="utf-8", errors="replace", stdin=subprocess.DEVNULL,
            )
        except OSError as error:
            shutil.rmtree(folder, ignore_errors=True)
            self.report({"ERROR"}, f"Cannot start pip ({error.strerror or error}).")
            return {"CANCELLED"}
        lines: queue.Queue[str | None] = queue.Queue()
        output = process.stdout
        assert output is not None, "pip's output is a pipe"

        def read() -> None:
            for line in output:
                lines.put(line.rstrip())
            lines.put(None)

        threading.Thread(target=read, daemon=True).start()
        timer = context.window_manager.event_timer_add(0.2, window=context.window)
        _install.update(process=process, lines=lines, log=[], done=False, timer=timer, folder=folder)
        prefs = preferences(context)
        prefs.install_progress, prefs.install_status = 0.02, "Starting pip"
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def cancel(self, context) -> None:
        """Blender ends the operator (window closed, file loaded): stop pip and clean up."""
        stop_install()

    def modal(self, context, event):
        if not _install:  # stopped by the Cancel button or unregister
            return {"CANCELLED"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        prefs = preferences(context)
        queue_ = _install["lines"]
        while True:
            try:
                line = queue_.get_nowait()
            except queue.Empty:
                break
            if line is None:
                _install["done"] = True
                break
            _install["log"].append(line)
            if line.startswith(("Collecting", "Downloading", "Installing", "Successfully")):
                prefs.install_status = line[:120]
                prefs.install_progress = min(0.95, prefs.install_progress + 0.03)
        for area in context.screen.areas if context.screen else ():
            area.tag_redraw()
        if not _install["done"]:
            return {"PASS_THROUGH"}
        code = _install["process"].wait()
        log = _install["log"]
        stop_install()
        dependency_status(refresh=True)
        prefs.install_progress = 0.0
        if code != 0:
            print("\n".join(log), file=sys.stderr)
            last = next((line for line in reversed(log) if line.strip()), "")
            prefs.install_status = "Install failed"
            self.report({"ERROR"}, f"pip failed (exit code {code}): {last[:200]}")
            return {"CANCELLED"}
        prefs.install_status = "Installed"
        self.report({"INFO"}, "Dependencies installed; Generate is ready.")
        return {"FINISHED"}


class CONDUCTOR_OT_cancel_install(bpy.types.Operator):
    """Stop installing the dependencies"""

    bl_idname = "conductor.cancel_install"
    bl_label = "Cancel Install"
    bl_options = {"INTERNAL"}

    @classmethod
    def poll(cls, context) -> bool:
        if not _install:
            cls.poll_message_set("Nothing is being installed.")
            return False
        return True

    def execute(self, context):
        stop_install()
        preferences(context).install_progress = 0.0
        preferences(context).install_status = "Install cancelled"
        dependency_status(refresh=True)
        self.report({"WARNING"}, "Installing the dependencies was cancelled.")
        return {"FINISHED"}


class CONDUCTOR_OT_refresh_dependencies(bpy.types.Operator):
    """Look again for the generator's Python packages"""

    bl_idname = "conductor.refresh_dependencies"
    bl_label = "Refresh"
    bl_options = {"INTERNAL"}

    def execute(self, context):
        dependency_status(refresh=True)
        return {"FINISHED"}


class CONDUCTOR_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_PACKAGE

    install_progress: bpy.props.FloatProperty(
        name="Progress", min=0.0, max=1.0, subtype="FACTOR", options=set()
    )
    install_status: bpy.props.StringProperty(name="Status")

    def draw(self, context):
        layout = self.layout
        box = layout.box()
        header = box.row()
        header.label(text="Python packages for the generator")
        header.operator(CONDUCTOR_OT_refresh_dependencies.bl_idname, text="", icon="FILE_REFRESH")
        column = box.column(align=True)
        for label, version in dependency_status().items():
            row = column.row()
            row.label(text=label, icon="CHECKMARK" if version else "ERROR")
            row.label(text=version or "missing")
        folder = dependency_folder(create=False)
        if folder:
            box.label(text=f"Folder: {folder}")
        row = box.row(align=True)
        for build in ("CPU", "CUDA"):
            operator = row.operator(
                CONDUCTOR_OT_install_dependencies.bl_idname, text=f"Install ({build})",
                icon="IMPORT",
            )
            operator.build = build
        if _install:
            row = box.row(align=True)
            row.prop(self, "install_progress", text=self.install_status or "Installing", slider=True)
            row.operator(CONDUCTOR_OT_cancel_install.bl_idname, text="Cancel", icon="CANCEL")
        elif self.install_status:
            box.label(text=self.install_status)
        reason = install_disabled_reason()
        if reason and not _install:
            box.label(text=reason, icon="INFO")


def preferences(context) -> CONDUCTOR_AP_preferences:
    return context.preferences.addons[ADDON_PACKAGE].preferences


classes = (
    CONDUCTOR_OT_install_dependencies,
    CONDUCTOR_OT_cancel_install,
    CONDUCTOR_OT_refresh_dependencies,
    CONDUCTOR_AP_preferences,
)
