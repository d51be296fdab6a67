"""The generation worker: a ``python -m core generate`` subprocess, started, polled and stopped.

Plain Python (no bpy), so it runs in tests without Blender. The operator starts a
:class:`GenerationJob`, calls :meth:`GenerationJob.poll` from a timer and reads ``progress``,
``message`` and ``state``; the worker's JSON events (core/cli.py) arrive through a
:class:`~addon.background.ChildProcess`, so the timer never blocks. ``run_blocking`` is the same
job for the synchronous path.

Running generation in its own process keeps ONNX Runtime and PyTorch out of Blender's process
(no clashes with the libraries Blender bundles), lets a cancel stop it at once, and leaves
nothing behind.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

from ..core.errors import GenerationCancelled, ConductorError
from ..core.generate_options import GenerateOptions
from ..core.options import to_arguments
from .background import ChildProcess

# Set this to another interpreter (one with PyTorch, say a CUDA build in a conda environment)
# to run generation there instead of in Blender's own Python.
PYTHON_ENVIRONMENT_VARIABLE = "VIRTUAL_CONDUCTOR_PYTHON"


@dataclasses.dataclass(frozen=True)
class Package:
    """A Python package the worker may need: import name, distribution name, label; whether it
    is installed on request (PyTorch: for a GPU, bf16 and training; the rest ship inside the
    extension as wheels), and whether the networks run without it (ONNX Runtime: NumPy runs
    them instead, slower, where its wheel cannot load)."""

    module: str
    distribution: str
    label: str
    on_request: bool = False
    optional: bool = False


# What the worker imports beyond Blender's own Python (NumPy stays Blender's): the default path's
# packages and ONNX Runtime (the networks on the CPU) are bundled (blender_manifest.toml's wheels);
# PyTorch is installed on request.
PACKAGES = (
    Package("soundfile", "soundfile", "soundfile"),
    Package("soxr", "soxr", "soxr"),
    Package("safetensors", "safetensors", "safetensors"),
    Package("onnxruntime", "onnxruntime", "ONNX Runtime", optional=True),
    Package("torch", "torch", "PyTorch", on_request=True),
)
TORCH = next(package for package in PACKAGES if package.on_request)
TORCH_VERSION = "2.13.0"  # the PyTorch the project is tested with (Makefile's TORCH)
# How the panel names the settings that need PyTorch (core's MissingPackage names the setting and its value).
PANEL_CHOICES = {
    ("device", "cuda"): "Device CUDA",
    ("device", "mps"): "Device Metal",
    ("precision", "bf16"): "Precision BF16",
}
WITHOUT_TORCH = {"device": "choose Device Auto or CPU", "precision": "choose Precision Float32"}


def torch_missing_sentence(setting: str | None, value: str | None) -> str:
    """The panel's sentence for a run that needs PyTorch where it is not installed: which setting
    needs it (``setting``, ``value`` as core names them), how to install it, what runs without."""
    value = (value or "").split(":")[0]
    asked = PANEL_CHOICES.get((setting or "", value), "This run")
    instead = WITHOUT_TORCH.get(setting or "", "choose Device Auto (the CPU runs the networks without it)")
    return (
        f"{asked} needs PyTorch, which is not installed: click Install PyTorch in Preferences > Add-ons > "
        f"VirtualConductor, or {instead}."
    )


def package_label(module: str) -> str:
    """What users call the package that provides import name ``module``."""
    return next((package.label for package in PACKAGES if package.module == module), module)


def extension_root() -> Path:
    """The folder holding ``core/`` and ``addon/`` (the installed extension's folder)."""
    return Path(__file__).resolve().parent.parent


def python_command() -> list[str]:
    """The interpreter that runs the worker: ``$VIRTUAL_CONDUCTOR_PYTHON`` or this one."""
    override = os.environ.get(PYTHON_ENVIRONMENT_VARIABLE, "").strip()
    return [override] if override else [sys.executable]


@dataclasses.dataclass(frozen=True)
class WorkerRequest:
    """What to run: ``generate`` (the motion) or ``beats`` (the beat grid the tracker hears) for
    the music, where the output goes, and the options (plain data)."""

    audio_path: str
    output_path: str
    options: GenerateOptions = dataclasses.field(default_factory=GenerateOptions)
    command: str = "generate"

    def arguments(self) -> list[str]:
        """The ``python -m core ...`` command line (after the interpreter)."""
        settings = to_arguments(self.options)
        if self.command == "beats":  # the tracker takes the meter and its own choice alone
            settings = [] if self.options.meter is None else ["--meter", str(self.options.meter)]
            settings += ["--tracker", self.options.tracker]
        return ["-m", "core", self.command, self.audio_path, "-o", self.output_path, *settings, "--progress-jsonl"]


def worker_environment(extra_paths: Sequence[str] = ()) -> dict[str, str]:
    """This process's environment with PYTHONPATH = the extension root, then ``extra_paths``."""
    env = dict(os.environ)
    paths = [str(extension_root())] + [str(path) for path in extra_paths if path]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONUNBUFFERED"] = "1"
    return env


class GenerationJob:
    """One worker process and what it has reported so far (its JSON events, see core/cli.py).

    Attributes
    ----------
    state : str
        "running", "done" (``output_path`` holds the motion), "failed" (``error`` says why) or
        "cancelled".
    progress : float in [0, 1]
    message : str
        The worker's last progress message.
    missing_package : str
        The import name of a package the worker lacked ("" if none), for the panel's advice.
    """

    def __init__(
        self,
        request: WorkerRequest,
        *,
        extra_paths: Sequence[str] = (),
        python: Sequence[str] | None = None,
    ) -> None:
        self.request = request
        self.state = "running"
        self.progress = 0.0
        self.message = "Starting the generator"
        self.error = ""
        self.missing_package = ""
        self.output_path = Path(request.output_path)
        self._outcome: dict | None = None
        command = list(python or python_command()) + request.arguments()
        try:
            self._child = ChildProcess(command, cwd=str(extension_root()), env=worker_environment(extra_paths))
        except OSError as error:
            raise ConductorError(
                f"Cannot start the generator with '{command[0]}' ({error.strerror or error}); "
                f"check {PYTHON_ENVIRONMENT_VARIABLE} or reinstall the add-on."
            ) from error

    @property
    def finished(self) -> bool:
        return self.state != "running"

    def poll(self) -> str:
        """Take in every event the worker sent since the last call; never blocks. Returns state."""
        if self.finished:
            return self.state
        for line in self._child.new_lines():
            event = parse_event(line)
            if event is None:
                continue  # stray prints from libraries are not part of the protocol
            if event["event"] == "progress":
                value = parse_progress(event.get("fraction"))
                if value is None:
                    continue  # a malformed progress event: ignored, as garbage is
                self.progress = min(1.0, max(self.progress, value))
                self.message = str(event.get("message", self.message))
            elif event["event"] == "note":
                continue  # not the outcome: the notes reach the panel with the motion (its extra["notes"])
            else:
                self._outcome = event
        if self._child.output_ended:
            self._finish()
        return self.state

    def _finish(self) -> None:
        returncode = self._child.wait()
        outcome = self._outcome or {}
        if returncode == 0 and outcome.get("event") == "result" and self.output_path.is_file():
            self.state, self.progress, self.message = "done", 1.0, "Done"
            return
        self.state = "failed"
        kind = outcome.get("event")
        if kind == "missing_package":
            self.missing_package = str(outcome.get("package", ""))
            if self.missing_package == TORCH.module:
                self.error = torch_missing_sentence(outcome.get("setting"), outcome.get("value"))
            else:
                self.error = (
                    f"{package_label(self.missing_package)} is missing from this installation; install the "
                    "extension's zip for your platform again."
                )
        elif kind == "error":
            self.error = str(outcome.get("message", ""))
        else:  # an internal error or a crash: its traceback goes to the console
            print("\n".join(self._child.stderr_lines), file=sys.stderr)
            detail = outcome.get("message") or next(
                (line.strip() for line in reversed(self._child.stderr_lines) if line.strip()), ""
            )
            self.error = (
                f"The generator stopped unexpectedly (exit code {returncode}){': ' + str(detail) if detail else ''}; "
                "see the system console for details."
            )
        self.output_path.unlink(missing_ok=True)

    def wait(
        self,
        *,
        progress: Callable[[float, str], None] | None = None,
        should_cancel: Callable[[], bool] | None = None,
        interval_s: float = 0.1,
    ) -> Path:
        """Block until the worker ends; return the motion file or raise ConductorError."""
        while self.poll() == "running":
            if should_cancel is not None and should_cancel():
                self.cancel()
                break
            if progress is not None:
                progress(self.progress, self.message)
            time.sleep(interval_s)
        return self.result()

    def result(self) -> Path:
        """The finished motion file; raises ConductorError (GenerationCancelled) otherwise."""
        if self.state == "done":
            return self.output_path
        if self.state == "cancelled":
            raise GenerationCancelled()
        if self.state == "failed":
            raise ConductorError(self.error)
        raise ConductorError("The generator is still running; wait for it or cancel it.")

    def cancel(self) -> None:
        """Stop the worker (terminate, then kill after half a second) and remove its output."""
        if self.finished:
            return
        self._child.stop()
        remove_partial_outputs(self.output_path)
        self.state, self.message = "cancelled", "Cancelled"

    @property
    def stderr_tail(self) -> str:
        """The worker's last lines of stderr (tracebacks go to the console, not the UI)."""
        return "\n".join(self._child.stderr_lines)

    @property
    def pid(self) -> int:
        return self._child.process.pid

    @property
    def returncode(self) -> int | None:
        return self._child.returncode


def parse_event(line: str) -> dict | None:
    """A worker event from one stdout line, or None when the line is not one."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) and isinstance(event.get("event"), str) else None


def parse_progress(value: object) -> float | None:
    """A progress value as a float in [0, 1], or None when it is not a finite number."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return min(1.0, max(0.0, number)) if math.isfinite(number) else None


def remove_partial_outputs(output_path: Path) -> None:
    """Delete ``output_path`` and any ``.<name>.partial-*`` file beside it."""
    output_path = Path(output_path)
    output_path.unlink(missing_ok=True)
    if output_path.parent.is_dir():
        for partial in output_path.parent.glob(f".{output_path.name}.partial-*"):
            partial.unlink(missing_ok=True)


def run_blocking(
    request: WorkerRequest,
    *,
    extra_paths: Sequence[str] = (),
    python: Sequence[str] | None = None,
    progress: Callable[[float, str], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> Path:
    """Start a worker, wait for it and return the motion file; raises ConductorError."""
    job = GenerationJob(request, extra_paths=extra_paths, python=python)
    try:
        return job.wait(progress=progress, should_cancel=should_cancel)
    finally:
        if not job.finished:
            job.cancel()
