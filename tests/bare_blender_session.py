"""Run inside a Python that has nothing but Blender (the bpy module and its NumPy): install the
extension's zip, enable it, and conduct the demo piece through the operator's synchronous path,
with the procedural conductor or a network (no PyTorch: ONNX Runtime from the zip runs it).

    python bare_blender_session.py ZIP [PROCEDURAL | NEURAL | OFFICIAL CHECKPOINT.pt]

Prints one JSON line with what the test checks. Used by tests/extension/test_bundled.py, which
makes the bare interpreter; run it there, not in a development environment.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import os

import bpy

ABSENT = ("soundfile", "soxr", "safetensors", "scipy", "torch", "cffi", "onnxruntime")


def main() -> None:
    archive = sys.argv[1]
    model = sys.argv[2] if len(sys.argv) > 2 else "PROCEDURAL"
    before = {name: importlib.util.find_spec(name) is not None for name in ABSENT}
    repos = bpy.context.preferences.extensions.repos
    repo = repos.new(
        name="Bare Test", module="bare_test", custom_directory=os.path.join(os.getcwd(), "bare_repo"), source="USER"
    )
    assert bpy.ops.extensions.package_install_files(filepath=archive, repo=repo.module, enable_on_install=True) == {
        "FINISHED"
    }
    package = f"bl_ext.{repo.module}.virtual_conductor"
    enabled = package in bpy.context.preferences.addons
    bpy.ops.wm.read_homefile(use_empty=True)
    assert bpy.ops.conductor.use_demo_piece() == {"FINISHED"}
    settings = bpy.context.scene.virtual_conductor
    settings.weights, settings.target = model, "CREATE"
    if model == "OFFICIAL":
        settings.official_weights_path = sys.argv[3]
    result = bpy.ops.conductor.generate(synchronous=True)
    armature = settings.armature
    action = armature.animation_data.action if armature is not None and armature.animation_data else None
    preferences = sys.modules[f"{package}.addon.preferences"]
    motion = sys.modules[f"{package}.addon.stored_motion"].motion_of(action) if action else None
    print(
        json.dumps(
            {
                "absent_before": [name for name, found in before.items() if not found],
                "enabled": enabled,
                "result": sorted(result),
                "status": settings.status,
                "action": action.name if action else None,
                "frames": list(action.frame_range) if action else None,
                "packages": preferences.dependency_status(refresh=True),
                "missing_for_procedural": preferences.missing_dependencies(),
                "weights_id": motion.weights_id if motion else None,
                "runtime": motion.extra.get("runtime") if motion else None,
                "torch_imported": "torch" in sys.modules,
            }
        )
    )


if __name__ == "__main__":
    main()
