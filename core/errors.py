"""The one error type core raises for problems a user can fix.

Its message is a single sentence that names the problem and the fix; callers (the CLI, the
add-on's operators) show it as is, without a traceback. Long jobs take the two callbacks typed
here: one that hears progress, and one whose True stops the work with :class:`CancelledError`.
"""

from typing import Callable, Sequence

ProgressCallback = Callable[[float, str], None]  # (fraction done in [0, 1], short message)
CancelCheck = Callable[[], bool]  # True: stop now


def one_of(choices: Sequence[object]) -> str:
    """Choices as a sentence says them: ".npz, .json or .csv"."""
    names = [str(choice) for choice in choices]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


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


class CancelledError(ConductorError):
    """The caller's cancel check asked to stop; nothing was written."""

    def __init__(self, message: str = "Generation was cancelled; nothing was changed.") -> None:
        super().__init__(message)
