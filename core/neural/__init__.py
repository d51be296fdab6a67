"""The networks of VirtualConductor (Liu et al., JCST 2022): their definition (``networks``, the one
source of truth, in PyTorch; their sizes and the generator's weights table in ``architecture``),
reading checkpoints without running code (``checkpoint``) and checking them (``weights``), the
runtimes of the generator (``runtimes`` chooses: ``ort_generator`` and ``numpy_generator`` on the
CPU without PyTorch, ``torch_generator`` with the fused copy of ``fusion`` for a GPU and bf16),
the arithmetic they run in (``precision``), any-length generation in windows (``inference``) and
moving the generated strokes onto a beat grid (``beat_lock``). PyTorch is imported only by
``networks``, ``fusion`` and ``torch_generator`` (and by ``weights`` for a PyTorch network);
ONNX Runtime only by ``ort_generator``.

May import: errors, options, outputs, installed_weights, audio, motion, beats.
"""
