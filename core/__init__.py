"""VirtualConductor core: music in, conducting keypoints out. Plain Python, never imports bpy.

Modules: ``audio`` (decoding), ``mel`` (the official 90 Hz mel feature), ``networks`` (M2S-GAN,
M2S-Net, the critic), ``weights`` (loading checkpoints), ``inference`` (any-length generation),
``motion`` (the Motion object and its files), ``retarget`` (2D keypoints to 3D bone rotations),
``procedural`` (the beat-exact procedural conductor). Run ``python -m core --help`` for the CLI.
"""

__version__ = "0.1.0"
