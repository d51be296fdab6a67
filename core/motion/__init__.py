"""Conducting motion as data: the 13 keypoints and their skeleton (``skeleton``), the
:class:`~core.motion.keypoints.Motion` type with its .npz/.json/.csv files (``keypoints``), and
drawings of it without Blender (``preview``).

May import: errors, options, outputs.
"""
