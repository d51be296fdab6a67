"""The Blender side of VirtualConductor: settings, sidebar panel, operators, preferences.

``register``/``unregister`` are safe to call repeatedly: everything registered here is also
removed here, and a running generation is stopped on unregister.
"""

from __future__ import annotations

import bpy

from . import operators, panel, preferences, properties

classes = (
    *properties.classes,
    *preferences.classes,
    *operators.classes,
    *panel.classes,
)


@bpy.app.handlers.persistent
def _stop_job_before_load(_file) -> None:
    operators.cancel_running_job()


@bpy.app.handlers.persistent
def _reset_job_state_after_load(_file) -> None:
    """A run saved mid-way is not running in the file opened, and the status line spoke of the
    session it was saved in (an old error would read as the file's)."""
    for scene in bpy.data.scenes:
        settings = getattr(scene, "virtual_conductor", None)
        if settings is not None and settings.is_running:
            settings.reset_job_state()
        if settings is not None and settings.status:
            settings.status = ""


HANDLERS = (
    (bpy.app.handlers.load_pre, _stop_job_before_load),
    (bpy.app.handlers.load_post, _reset_job_state_after_load),
)


def register() -> None:
    unregister()  # a second register() replaces the first instead of failing
    for cls in classes:
        bpy.utils.register_class(cls)
    properties.register_properties()
    for handlers, handler in HANDLERS:
        handlers.append(handler)


def unregister() -> None:
    operators.cancel_running_job()
    preferences.stop_install()
    for handlers, handler in HANDLERS:
        for registered in [
            h for h in handlers if h.__name__ == handler.__name__ and h.__module__ == handler.__module__
        ]:
            handlers.remove(registered)
    properties.unregister_properties()
    for cls in reversed(classes):
        if getattr(cls, "is_registered", False):
            bpy.utils.unregister_class(cls)
