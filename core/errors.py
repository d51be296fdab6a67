"""The one error type core raises for problems a user can fix.

Its message is a single sentence that names the problem and the fix; callers (the CLI, the
add-on's operators) show it as is, without a traceback.
"""


class ConductorError(Exception):
    """A user-facing failure: bad input, missing file, unusable weights, cancelled work."""


class CancelledError(ConductorError):
    """The caller's cancel check asked to stop; nothing was written."""

    def __init__(self, message: str = "Generation was cancelled; nothing was changed.") -> None:
        super().__init__(message)
