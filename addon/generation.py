"""Running a generation from Blender: always in the worker process (addon/worker.py), whichever
front end asks, so the networks and PyTorch never load into Blender's own Python.

The panel polls a :class:`~addon.worker.GenerationJob` from a modal timer (operators.py);
headless ``generate`` and ``batch``, and the operators' synchronous path, wait for it here with
:func:`generate_in_worker`. Either way the motion comes back as a file and goes into the scene
through :func:`addon.apply.put_motion_in_scene`.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable

import bpy

from ..core.generate_options import GenerateOptions, with_absolute_paths
from ..core.motion.keypoints import Motion
from .worker import PYTHON_ENVIRONMENT_VARIABLE, WorkerRequest, run_blocking


def dependency_paths() -> list[str]:
    """Where the worker finds packages beyond its interpreter's own: the wheels the extension
    bundles (installed by Blender beside the extensions) and the private folder PyTorch goes
    into. An interpreter of the user's own (``VIRTUAL_CONDUCTOR_PYTHON``) brings its own packages
    instead: wheels built for Blender's Python could shadow them."""
    from .preferences import dependency_folder

    if os.environ.get(PYTHON_ENVIRONMENT_VARIABLE, "").strip():
        return []
    wheels = os.path.join(
        bpy.utils.user_resource("EXTENSIONS"),
        ".local",
        "lib",
        "python{:d}.{:d}".format(*sys.version_info[:2]),
        "site-packages",
    )
    folder = dependency_folder(create=False)
    return [path for path in (wheels, folder) if path and os.path.isdir(path)]


def refuse_missing_torch(options: GenerateOptions) -> None:
    """Raise core's one sentence (a MissingPackage) where ``options`` run the network on PyTorch (a
    GPU, bf16) and the worker has none: for the command lines, once, before any work. The worker
    looks in the private folder PyTorch is installed into; an interpreter of the user's own
    (``VIRTUAL_CONDUCTOR_PYTHON``) brings its own packages, so it is not second-guessed."""
    from ..core.generate_options import PROCEDURAL, resolve_weights
    from ..core.neural.runtimes import needs_torch
    from .preferences import dependency_status
    from .worker import TORCH

    if os.environ.get(PYTHON_ENVIRONMENT_VARIABLE, "").strip() or resolve_weights(options.weights) == PROCEDURAL:
        return
    if dependency_status(refresh=True)[TORCH.label] is not None:
        return
    missing = needs_torch(device=options.device, precision=options.precision, runtime=options.runtime)
    if missing is not None:
        raise missing


def generate_in_worker(
    audio_path: str | os.PathLike[str],
    options: GenerateOptions,
    *,
    progress: Callable[[float, str], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> Motion:
    """The motion of ``audio_path`` made by the worker, waited for; raises ConductorError (a
    GenerationCancelled when ``should_cancel`` says so). A Ctrl-C or SIGTERM stops the worker too."""
    folder = tempfile.mkdtemp(prefix="virtual_conductor_")
    try:
        # The worker runs in the extension's folder: the paths the user gave go absolute.
        request = WorkerRequest(
            str(Path(audio_path).absolute()), os.path.join(folder, "motion.npz"), with_absolute_paths(options)
        )
        output = run_blocking(request, extra_paths=dependency_paths(), progress=progress, should_cancel=should_cancel)
        return Motion.load(output)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
