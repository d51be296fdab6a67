"""Writing output files safely: checked folders, and files that appear only when complete."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .errors import ConductorError


def check_output_folder(folder: str | os.PathLike[str]) -> Path:
    """Raise ConductorError unless a file can be created in ``folder``, made first where missing
    (every command and the panel do so alike: a pipeline writes into new folders); returns the
    folder. Checked before slow work, so it never fails at the end."""
    folder = Path(folder) if str(folder) else Path(".")
    if folder.exists() and not folder.is_dir():
        raise ConductorError(f"Output folder '{folder}' is a file, not a folder; pick another.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConductorError(f"Output folder '{folder}' cannot be created ({error.strerror}); pick another.") from error
    probe = folder / f".write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise ConductorError(f"Output folder '{folder}' is not writable ({error.strerror}); pick another.") from error
    return folder


def write_atomically(path: Path, write: Any, *, binary: bool) -> Path:
    """Call ``write(handle)`` on a temporary file beside ``path``, then rename it over ``path``.

    Raises :class:`ConductorError` (and removes the temporary file) when the folder is missing
    or not writable, or the write fails.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ConductorError(f"Output folder '{folder}' does not exist; create it or pick another.")
    temporary = folder / f".{path.name}.partial-{os.getpid()}"
    try:
        with open(temporary, "wb" if binary else "w") as handle:
            write(handle)
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise ConductorError(
            f"Cannot write '{path}' ({error.strerror or error}); choose a writable location."
        ) from error
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path
