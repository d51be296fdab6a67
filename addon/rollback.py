"""All or nothing: a record of what a run adds to or changes in the file, undone on failure.

A run (the panel's *Generate*, :func:`addon.apply.apply_motion`) makes each change through a
:class:`Rollback` — setting an attribute or a custom property, adding data-blocks — or registers
how to undo a change it made itself. When the run fails, :meth:`Rollback.undo` undoes exactly
those changes, newest first, so the file is as it was; when it succeeds, nothing is undone.
Undo steps of Blender's own are not used: the operator's ``{'UNDO'}`` makes a successful run one
step, and in background mode (no undo stack) the rollback is the only way back.
"""

from __future__ import annotations

import traceback
from typing import Any, Callable

import bpy

_MISSING = object()


class Rollback:
    """Use as ``with Rollback() as rollback: ...``: an exception undoes what was recorded."""

    def __init__(self) -> None:
        self._undo_steps: list[Callable[[], None]] = []

    def __enter__(self) -> Rollback:
        return self

    def __exit__(self, kind: Any, error: Any, trace: Any) -> None:
        if kind is not None:
            self.undo()
        # returning None lets the error go on

    def on_undo(self, step: Callable[[], None]) -> None:
        """Call ``step`` on undo (after the steps recorded later)."""
        self._undo_steps.append(step)

    def set(self, owner: Any, attribute: str, value: Any) -> None:
        """``owner.attribute = value``, remembering the value before."""
        before = getattr(owner, attribute)
        setattr(owner, attribute, value)
        self.on_undo(lambda: setattr(owner, attribute, before))

    def set_key(self, owner: Any, key: str, value: Any) -> None:
        """``owner[key] = value`` (a custom property), remembering whether and what it was."""
        before = owner.get(key, _MISSING)
        owner[key] = value

        def restore() -> None:
            if before is _MISSING:
                owner.pop(key, None)
            else:
                owner[key] = before

        self.on_undo(restore)

    def new_blocks_in(self, *collections: str) -> None:
        """Remember the data-blocks of ``bpy.data.<collection>`` now; undo removes the ones
        added after this call (a created conductor's objects, meshes, materials, ...)."""
        before = {name: {block.as_pointer() for block in getattr(bpy.data, name)} for name in collections}

        def remove_new() -> None:
            for name in collections:
                data = getattr(bpy.data, name)
                for block in [b for b in data if b.as_pointer() not in before[name]]:
                    data.remove(block)

        self.on_undo(remove_new)

    def undo(self) -> None:
        """Undo every recorded change, newest first; a step that fails is reported on the
        console and the others still run."""
        steps, self._undo_steps = self._undo_steps, []
        for step in reversed(steps):
            try:
                step()
            except Exception:  # keep undoing: a half-restored file is the worst outcome
                traceback.print_exc()
