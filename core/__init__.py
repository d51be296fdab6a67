"""VirtualConductor core: music in, conducting keypoints out. Plain Python, never imports bpy.

The rooms, each a package that opens with what it is for and what it may import (a test holds
every import to that, and finds any import circle):

- foundation modules: ``errors`` (the one user-facing error type), ``options`` (how a setting
  is declared once), ``outputs`` (atomic writes), ``installed_weights`` (where our weights live);
- ``audio/``: music files to samples, the mel features, running filters;
- ``motion/``: the Motion type (13 keypoints over time), its files, the skeleton, previews;
- ``beats/``: the beat grid type, both beat trackers, beat files and MIDI;
- ``procedural/``: the procedural conductor (patterns, beat plan, hands, body, style);
- ``neural/``: the M2S-GAN and M2S-Net networks, loading weights, inference, beat lock;
- ``retarget/``: 2D keypoints to 3D bone rotations for any rig, key reduction;
- ``figure/``: the geometry of our own conductor (bones and body mesh), for the add-on;
- entry points: ``generate`` (the option rules and music -> Motion), ``cli`` (``python -m
  core``), ``batch`` (a folder of music).

May import: everything below (this package's docstring).
"""

__version__ = "0.1.0"
