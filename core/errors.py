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


def missing_package_sentence(package: str) -> str:
    """What to tell a user whose Python lacks ``package`` (an import name), in one sentence."""
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


class GenerationCancelled(ConductorError):
    """The caller's cancel check asked to stop; nothing was written."""

    def __init__(self, message: str = "Generation was cancelled; nothing was changed.") -> None:
        super().__init__(message)
