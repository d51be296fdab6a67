"""The one error type core raises for problems a user can fix.

Its message is a single sentence that names the problem and the fix; callers (the CLI, the
add-on's operators) show it as is, without a traceback. Long jobs take the two callbacks typed
here: one that hears progress, and one whose True stops the work with :class:`CancelledError`.
"""

from typing import Callable

ProgressCallback = Callable[[float, str], None]  # (fraction done in [0, 1], short message)
CancelCheck = Callable[[], bool]  # True: stop now


class ConductorError(Exception):
    """A user-facing failure: bad input, missing file, unusable weights, cancelled work."""


class CancelledError(ConductorError):
    """The caller's cancel check asked to stop; nothing was written."""

    def __init__(self, message: str = "Generation was cancelled; nothing was changed.") -> None:
        super().__init__(message)
