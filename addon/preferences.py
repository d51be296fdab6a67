"""Add-on preferences: which Python packages the generator can use, and installing PyTorch (for a
GPU, bf16 and training: the networks run on the CPU with the bundled ONNX Runtime without it).

Dependencies go into the extension's private user folder
(``extension_path_user(<package>, path="site-packages")``), never into the add-on's own folder
or Blender's Python. pip runs in a subprocess polled by a modal timer; a constraints file pins
NumPy to the version Blender bundles, so Blender's NumPy is never replaced. The pip process is a
:class:`~addon.background.BackgroundTask`, like a generation run.
"""

from __future__ import annotations

import importlib.machinery
import importlib.metadata
import importlib.util
import os
import shutil
import sys
import tempfile

import bpy
from bpy.props import EnumProperty

from .background import BackgroundTask, ChildProcess
from .worker import PACKAGES, TORCH, TORCH_VERSION

# "bl_ext.<repo>.virtual_conductor" (or the plain module name when loaded as a legacy add-on).
ADDON_PACKAGE = __package__.rpartition(".")[0]
INSTALL = "install"  # the BackgroundTask kind of a running pip
TORCH_INDEX = {
    "CPU": "https://download.pytorch.org/whl/cpu",
    "CUDA": "https://download.pytorch.org/whl/cu126",
}

DOWNLOAD_MB = {"CPU": 200, "CUDA": 2500}  # what a user downloads for each PyTorch build

_status_cache: dict[str, str | None] = {}


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
        for package in PACKAGES:
            _status_cache[package.label] = find_package(package.module, package.distribution, folder)
    return dict(_status_cache)


def missing_dependencies(*, torch: bool = False) -> list[str]:
    """Labels of the packages a run cannot import: those every run needs (bundled), and PyTorch
    too when ``torch`` (a GPU or bf16 asks for it). ONNX Runtime is never missing: where it cannot
    load, NumPy runs the networks."""
    status = dependency_status()
    return [
        package.label
        for package in PACKAGES
        if status.get(package.label) is None and not package.optional and (torch or not package.on_request)
    ]


def numpy_version() -> str:
    import numpy

    return numpy.__version__


def pip_command(build: str, target: str, constraints: str) -> list[str]:
    """The pip call that installs PyTorch (the tested version) into ``target``; its constraints
    keep Blender's NumPy, and nothing pulls another NumPy in."""
    command = [sys.executable, "-m", "pip", "install", "--upgrade", "--no-input"]
    command += ["--disable-pip-version-check", "--progress-bar", "off"]
    command += ["--target", target, "--constraint", constraints]
    if sys.platform != "darwin":
        command += ["--index-url", TORCH_INDEX[build], "--extra-index-url", "https://pypi.org/simple"]
    return command + [f"{TORCH.distribution}=={TORCH_VERSION}"]


def install_disabled_reason() -> str:
    if BackgroundTask.get(INSTALL) is not None:
        return "PyTorch is being installed."
    if not bpy.app.online_access:
        return "Online access is off: allow it in Preferences > System > Network, or install by hand (see the README)."
    if not ADDON_PACKAGE.startswith("bl_ext."):
        return "Install the add-on as an extension to get a private dependency folder."
    return ""


class InstallJob:
    """One pip run: its log so far and a rough progress from the lines it has printed."""

    def __init__(self, command: list[str]) -> None:
        self.child = ChildProcess(command, merge_stderr=True)
        self.log: list[str] = []
        self.progress, self.status = 0.02, "Starting pip"
        self.finished = False
        self.returncode: int | None = None

    def poll(self) -> bool:
        """Take in pip's new lines; True once it has ended (``returncode`` set)."""
        for line in self.child.new_lines():
            self.log.append(line)
            if line.startswith(("Collecting", "Downloading", "Installing", "Successfully")):
                self.status = line[:120]
                self.progress = min(0.95, self.progress + 0.03)
        if self.child.output_ended and not self.finished:
            self.returncode, self.finished = self.child.wait(), True
        return self.finished

    def cancel(self) -> None:
        self.child.stop(grace_s=5.0)
        self.finished = True


def stop_install() -> None:
    """End the running pip, if any (Cancel, unregister): stop it, remove its timer and its
    temporary constraints folder."""
    task = BackgroundTask.get(INSTALL)
    if task is not None:
        task.stop()


class CONDUCTOR_OT_install_pytorch(bpy.types.Operator):
    """Download PyTorch for a GPU (CUDA, Metal), bf16 and training (the networks run on the CPU without it)"""

    bl_idname = "conductor.install_pytorch"
    bl_label = "Install PyTorch"
    bl_options = {"INTERNAL"}

    build: EnumProperty(
        name="PyTorch Build",
        items=(
            ("CPU", "CPU", f"About {DOWNLOAD_MB['CPU']} MB, runs everywhere"),
            ("CUDA", "CUDA", f"For NVIDIA GPUs: about {DOWNLOAD_MB['CUDA'] / 1000:.1f} GB"),
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
        try:
            job = InstallJob(pip_command(self.build, target, constraints))
        except OSError as error:
            shutil.rmtree(folder, ignore_errors=True)
            self.report({"ERROR"}, f"Cannot start pip ({error.strerror or error}).")
            return {"CANCELLED"}
        task = BackgroundTask(INSTALL, job, cleanup=lambda: shutil.rmtree(folder, ignore_errors=True))
        task.start_timer(context.window_manager, context.window, 0.2)
        prefs = preferences(context)
        prefs.install_progress, prefs.install_status = job.progress, job.status
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def cancel(self, context) -> None:
        """Blender ends the operator (window closed, file loaded): stop pip and clean up."""
        stop_install()

    def modal(self, context, event):
        task = BackgroundTask.get(INSTALL)
        if task is None:  # stopped by the Cancel button or unregister
            return {"CANCELLED"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        job = task.job
        prefs = preferences(context)
        ended = job.poll()
        prefs.install_progress, prefs.install_status = job.progress, job.status
        for area in context.screen.areas if context.screen else ():
            area.tag_redraw()
        if not ended:
            return {"PASS_THROUGH"}
        task.stop()
        dependency_status(refresh=True)
        prefs.install_progress = 0.0
        if job.returncode != 0:
            print("\n".join(job.log), file=sys.stderr)
            last = next((line for line in reversed(job.log) if line.strip()), "")
            prefs.install_status = "Install failed"
            self.report({"ERROR"}, f"pip failed (exit code {job.returncode}): {last[:200]}")
            return {"CANCELLED"}
        prefs.install_status = "Installed"
        self.report({"INFO"}, "PyTorch installed; the networks can run on the GPU.")
        return {"FINISHED"}


class CONDUCTOR_OT_cancel_install(bpy.types.Operator):
    """Stop installing PyTorch"""

    bl_idname = "conductor.cancel_install"
    bl_label = "Cancel Install"
    bl_options = {"INTERNAL"}

    @classmethod
    def poll(cls, context) -> bool:
        if BackgroundTask.get(INSTALL) is None:
            cls.poll_message_set("Nothing is being installed.")
            return False
        return True

    def execute(self, context):
        stop_install()
        preferences(context).install_progress = 0.0
        preferences(context).install_status = "Install cancelled"
        dependency_status(refresh=True)
        self.report({"WARNING"}, "Installing PyTorch was cancelled.")
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

    install_progress: bpy.props.FloatProperty(name="Progress", min=0.0, max=1.0, subtype="FACTOR", options=set())
    install_status: bpy.props.StringProperty(name="Status")

    def draw(self, context):
        layout = self.layout
        status = dependency_status()
        box = layout.box()
        header = box.row()
        header.label(text="Bundled with the extension: every model, the networks on the CPU")
        header.operator(CONDUCTOR_OT_refresh_dependencies.bl_idname, text="", icon="FILE_REFRESH")
        column = box.column(align=True)
        for package in PACKAGES:
            if not package.on_request:
                row = column.row()
                found = status[package.label]
                row.label(text=package.label, icon="CHECKMARK" if found else "INFO" if package.optional else "ERROR")
                if package.optional:
                    row.label(text=found or "cannot load here: NumPy runs the networks, slower")
                else:
                    row.label(text=found or "missing: install the zip for your platform again")

        box = layout.box()
        box.label(text="PyTorch: only for a GPU (CUDA, Metal), bf16 and training")
        box.label(text="The networks (the official checkpoint, our M2S-GAN) run on the CPU without it.")
        row = box.row()
        torch_version = status[TORCH.label]
        row.label(text=TORCH.label, icon="CHECKMARK" if torch_version else "INFO")
        row.label(text=torch_version or "not installed")
        folder = dependency_folder(create=False)
        if folder:
            box.label(text=f"Folder: {folder}")
        row = box.row(align=True)
        for build in ("CPU", "CUDA"):
            size = f"{DOWNLOAD_MB[build]} MB" if DOWNLOAD_MB[build] < 1000 else f"{DOWNLOAD_MB[build] / 1000:.1f} GB"
            operator = row.operator(
                CONDUCTOR_OT_install_pytorch.bl_idname,
                text=f"Install PyTorch {TORCH_VERSION} ({build}, {size})",
                icon="IMPORT",
            )
            operator.build = build
        installing = BackgroundTask.get(INSTALL) is not None
        if installing:
            row = box.row(align=True)
            row.prop(self, "install_progress", text=self.install_status or "Installing", slider=True)
            row.operator(CONDUCTOR_OT_cancel_install.bl_idname, text="Cancel", icon="CANCEL")
        elif self.install_status:
            box.label(text=self.install_status)
        reason = install_disabled_reason()
        if reason and not installing:
            box.label(text=reason, icon="INFO")


def preferences(context) -> CONDUCTOR_AP_preferences:
    return context.preferences.addons[ADDON_PACKAGE].preferences


classes = (
    CONDUCTOR_OT_install_pytorch,
    CONDUCTOR_OT_cancel_install,
    CONDUCTOR_OT_refresh_dependencies,
    CONDUCTOR_AP_preferences,
)
