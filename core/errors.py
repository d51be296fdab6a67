"""The one error type core raises for problems a user can fix.

Its message is a single sentence that names the problem and the fix; callers (the CLI, the
add-on's operators) show it as is, without a traceback. Long jobs take the two callbacks typed
here: one that hears progress, and one whose True stops the work with :class:`GenerationCancelled`.
"""

import signal
import threading
from typing import Callable, Sequence

ProgressCallback = Callable[[float, str], None]  # (fraction done in [0, 1], short message)
CancelCheck = Callable[[], bool]  # True: stop now


def one_of(choices: Sequence[object]) -> str:
    """Choices as a sentence says them: ".npz, .json or .csv"."""
    names = [str(choice) for choice in choices]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def stop_on_sigterm() -> None:
    """Make SIGTERM (what ``kill``, ``timeout`` and job schedulers send) stop the work as Ctrl-C
    does, as a KeyboardInterrupt: partial outputs are removed and child processes stopped, where
    the default would end the process on the spot. For the command lines' main threads only."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def missing_dependency(error: ModuleNotFoundError) -> str | None:
    """The package (top-level import name) a failed import lacks, or None where the missing
    module is the project's own or Blender's: a broken installation, a bug to report."""
    package = (error.name or "").split(".")[0]
    return None if package in ("", "core", "addon", "bpy") else package


# What to choose instead of a setting's value that needs PyTorch, on the command line.
_WITHOUT_TORCH = {
    "device": "use the CPU (--device cpu), which runs the networks without it",
    "precision": "use --precision float32, which runs without it",
    "runtime": "drop --runtime: the CPU runs the networks without it",
}


def missing_package_sentence(package: str, *, setting: str | None = None, value: str | None = None) -> str:
    """What to tell a user whose Python lacks ``package`` (an import name), in one sentence;
    ``setting`` and ``value`` name the setting that needs it, where one does."""
    if package == "torch" and setting is not None:
        return (
            f"--{setting.replace('_', '-')} {value} needs PyTorch, which this Python does not have; install it "
            f"(pip install torch) or {_WITHOUT_TORCH.get(setting, 'choose another setting')}."
        )
    if package == "onnxruntime":
        return (
            "ONNX Runtime is not installed here or cannot load; install it (pip install onnxruntime) or drop "
            "--runtime onnxruntime: NumPy runs the networks without it."
        )
    if package == "torch":
        return (
            "The networks need PyTorch, which this Python does not have; install it (pip install torch) "
            "or choose the procedural conductor (--weights procedural)."
        )
    return (
        f"The package '{package}' is not installed; install the project's dependencies "
        "(pip install -e . from the project folder, or make demo)."
    )


class ConductorError(Exception):
    """A user-facing failure: bad input, missing file, unusable weights, cancelled work."""


class MissingPackage(ConductorError):
    """A package that a setting asks for is not installed (or cannot load): ``package`` is its
    import name, ``setting`` and ``value`` what asked for it (``--device cuda`` needs PyTorch)."""

    def __init__(self, package: str, *, setting: str, value: str) -> None:
        super().__init__(missing_package_sentence(package, setting=setting, value=value))
        self.package, self.setting, self.value = package, setting, value


class GenerationCancelled(ConductorError):
    """The caller's cancel check asked to stop; nothing was written."""

    def __init__(self, message: str = "Generation was cancelled; nothing was changed.") -> None:
        super().__init__(message)
