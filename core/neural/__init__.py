"""The networks of VirtualConductor (Liu et al., JCST 2022): their definition (``networks``), a
fused copy for fast inference (``fusion``), the arithmetic they run in (``precision``), loading
checkpoints (``weights``), any-length generation (``inference``) and moving the generated
strokes onto a beat grid (``beat_lock``). PyTorch is imported only by the modules that run a
network; ``precision`` and ``beat_lock`` import without it.

May import: errors, options, outputs, installed_weights, audio, motion, beats.
"""
