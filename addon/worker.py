"""The generation worker: a ``python -m core generate`` subprocess, started, polled and stopped.

Plain Python (no bpy), so it runs in tests without Blender. The operator starts a
:class:`GenerationJob`, calls :meth:`GenerationJob.poll` from a timer and reads ``progress``,
``message`` and ``state``; a reader thread turns the worker's JSON-lines stdout into a queue so
the timer never blocks. ``run_blocking`` is the same job for the synchronous path.

Running generation in its own process keeps PyTorch out of Blender's process (no clashes with
the libraries Blender bundles), lets a cancel stop it at once, and leaves nothing behind.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Sequence

from ..core.errors import CancelledError, ConductorError

# Set this to another interpreter (one with PyTorch, say a CUDA build in a conda environment)
# to run generation there instead of in Blender's own Python.
PYTHON_ENVIRONMENT_VARIABLE = "VIRTUAL_CONDUCTOR_PYTHON"

# Import names of the packages the worker needs, and what users know them as.
PACKAGE_NAMES = {
    "torch": "PyTorch",
    "librosa": "librosa",
    "soundfile": "soundfile",
    "soxr": "soxr",
    "safetensors": "safetensors",
    "scipy": "SciPy",
    "numpy": "NumPy",
}

STDERR_KEEP_LINES = 40
TERMINATE_GRACE_S = 0.5


def extension_root() -> Path:
    """The folder holding ``core/`` and ``addon/`` (the installed extension's folder)."""
    return Path(__file__).resolve().parent.parent


def python_command() -> list[str]:
    """The interpreter that runs the worker: ``$VIRTUAL_CONDUCTOR_PYTHON`` or this one."""
    override = os.environ.get(PYTHON_ENVIRONMENT_VARIABLE, "").strip()
    return [override] if override else [sys.executable]


@dataclasses.dataclass(frozen=True)
class WorkerRequest:
    """What to generate: the CLI arguments of ``python -m core generate`` as plain data."""

    audio_path: str
    output_path: str
    weights: str = "default"
    seed: int | None = 0
    variation: float = 1.0
    device: str = "auto"
    meter: int | None = None  # beats per bar for the procedural conductor (None: detected)

    def arguments(self) -> list[str]:
        args = ["-m", "core", "generate", self.audio_path, "-o", self.output_path]
        args += ["--weights", self.weights, "--variation", repr(float(self.variation))]
        args += ["--device", self.device]
        if self.seed is not None:
            args += ["--seed", str(int(self.seed))]
        if self.meter is not None:
            args += ["--meter", str(int(self.meter))]
        return args + ["--progress-jsonl"]


def worker_environment(extra_paths: Sequence[str] = ()) -> dict[str, str]:
    """This process's environment with PYTHONPATH = the extension root, then ``extra_paths``."""
    env = dict(os.environ)
    paths = [str(extension_root())] + [str(path) for path in extra_paths if path]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONUNBUFFERED"] = "1"
    return env


class GenerationJob:
    """One worker process and what it has said so far.

    Attributes
    ----------
    state : str
        "running", "done" (``output_path`` holds the motion), "failed" (``error`` says why) or
        "cancelled".
    progress : float in [0, 1]
    message : str
        The worker's last progress message.
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
        self.output_path = Path(request.output_path)
        self._result: dict | None = None
        self._events: queue.Queue[dict | None] = queue.Queue()
        self._stderr: list[str] = []
        command = list(python or python_command()) + request.arguments()
        flags = 0
        if sys.platform == "win32":  # an if statement, so type checkers on Linux skip it
            flags = subprocess.CREATE_NO_WINDOW
        try:
            self._process = subprocess.Popen(
                command,
                cwd=str(extension_root()),
                env=worker_environment(extra_paths),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                encoding="utf-8",
                errors="replace",
                bufsize=1,
                creationflags=flags,
            )
        except OSError as error:
            raise ConductorError(
                f"Cannot start the generator with '{command[0]}' ({error.strerror or error}); "
                f"check {PYTHON_ENVIRONMENT_VARIABLE} or reinstall the add-on."
            ) from error
        self._threads = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    # -------------------------------------------------------------- reader threads
    def _read_stdout(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            line = line.strip()
            if not line.startswith("{"):
                continue  # stray prints from libraries are not part of the protocol
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                self._events.put(event)
        self._events.put(None)  # end of stream

    def _read_stderr(self) -> None:
        assert self._process.stderr is not None
        for line in self._process.stderr:
            self._stderr.append(line.rstrip())
            del self._stderr[:-STDERR_KEEP_LINES]

    # -------------------------------------------------------------- polling
    @property
    def finished(self) -> bool:
        return self.state != "running"

    def poll(self) -> str:
        """Take in everything the worker said since the last call; never blocks. Returns state."""
        if self.finished:
            return self.state
        stream_ended = False
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                break
            if event is None:
                stream_ended = True
                break
            if "ok" in event:
                self._result = event
            elif "progress" in event:
                value = parse_progress(event.get("progress"))
                if value is None:
                    continue  # a malformed progress line: ignore it, as the reader ignores garbage
                self.progress = min(1.0, max(self.progress, value))
                self.message = str(event.get("message", self.message))
        if stream_ended:
            self._finish()
        return self.state

    def _finish(self) -> None:
        try:
            returncode = self._process.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            self._process.kill()
            returncode = self._process.wait()
        for thread in self._threads:
            thread.join(timeout=1.0)
        result = self._result or {}
        if returncode == 0 and result.get("ok") and self.output_path.is_file():
            self.state, self.progress, self.message = "done", 1.0, "Done"
            return
        self.state = "failed"
        self.error = str(result.get("error") or "") or explain_crash(returncode, self._stderr)
        if not result.get("error") and self._stderr:  # a crash: its traceback goes to the console
            print("\n".join(self._stderr), file=sys.stderr)
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
        """The finished motion file; raises ConductorError (CancelledError) otherwise."""
        if self.state == "done":
            return self.output_path
        if self.state == "cancelled":
            raise CancelledError()
        if self.state == "failed":
            raise ConductorError(self.error)
        raise ConductorError("The generator is still running; wait for it or cancel it.")

    # -------------------------------------------------------------- stopping
    def cancel(self) -> None:
        """Stop the worker (terminate, then kill after half a second) and remove its output."""
        if self.finished:
            return
        self.terminate()
        self.state, self.message = "cancelled", "Cancelled"

    def terminate(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=TERMINATE_GRACE_S)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        for thread in self._threads:
            thread.join(timeout=0.5)
        remove_partial_outputs(self.output_path)

    @property
    def stderr_tail(self) -> str:
        """The worker's last lines of stderr (tracebacks go to the console, not the UI)."""
        return "\n".join(self._stderr)

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.poll()


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


def explain_crash(returncode: int | None, stderr_lines: Sequence[str]) -> str:
    """One sentence for a worker that died without its final JSON line."""
    for line in reversed(stderr_lines):
        if "ModuleNotFoundError" in line or line.startswith("ImportError"):
            module = line.split("'")[1].split(".")[0] if "'" in line else ""
            if module == "core":
                break  # a module of our own is missing: a broken install, not a dependency
            package = PACKAGE_NAMES.get(module, module or "a required package")
            return (
                f"{package} is not installed for the generator; install the dependencies in "
                "Preferences > Add-ons > VirtualConductor, or see the README's manual route."
            )
    last = next((line.strip() for line in reversed(stderr_lines) if line.strip()), "")
    detail = f": {last}" if last else ""
    return (
        f"The generator stopped unexpectedly (exit code {returncode}){detail}; "
        "see the system console for details."
    )


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
