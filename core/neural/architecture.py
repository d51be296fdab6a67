"""The networks' sizes, and the generator's weights as a table of names and shapes, without PyTorch.

:mod:`core.neural.networks` builds its modules from these sizes and stays the one definition of
each network; :func:`generator_state_shapes` lists exactly the keys and shapes of
``MotionGenerator().state_dict()`` (tested equal), so weights can be checked, and run by the
torch-free runtimes (:mod:`core.neural.numpy_generator`, :mod:`core.neural.ort_generator`),
where PyTorch is not installed.
"""

from __future__ import annotations

from ..motion.skeleton import JOINT_COUNT

MEL_BANDS = 128  # the official mel feature's bands (core.audio.mel.N_MELS)
MUSIC_FEATURES = 64
NOISE_PER_SECOND = 8
MOTION_CHANNELS = JOINT_COUNT * 2
TCN_CHANNELS = 64
TCN_DILATIONS = (1, 2, 4, 8, 16, 32)
GCN_CHANNELS = 32
GCN_BLOCKS = 10
BATCH_NORM_EPS = 1e-5  # PyTorch's default, which every batch norm of the networks keeps

# The music encoder's 3x3 layers, stage by stage: (in channels, out channels, has a residual).
ENCODER_STAGES: tuple[tuple[str, tuple[tuple[int, int, bool], ...]], ...] = (
    ("conv1", ((1, 16, False), (16, 16, True), (16, 16, True))),
    ("conv2", ((16, 32, True), (32, 32, True))),
    ("conv3", ((32, 32, True), (32, 32, True))),
)
# The noise upsampler's transposed convolutions: (index in the Sequential, in, out, kernel, stride, padding).
NOISE_LAYERS: tuple[tuple[int, int, int, int, int, int], ...] = (
    (0, NOISE_PER_SECOND, 16, 3, 1, 1),
    (2, 16, 16, 11, 5, 3),
    (4, 16, 32, 5, 3, 1),
    (6, 32, 64, 6, 2, 2),
)


def generator_state_shapes() -> dict[str, tuple[int, ...]]:
    """Every key of :class:`core.neural.networks.MotionGenerator`'s ``state_dict()`` with its
    shape, in the module's registration order: what a generator weights file must hold.

    Returns
    -------
    dict of str to tuple of int
    """
    shapes: dict[str, tuple[int, ...]] = {}

    def batch_norm(prefix: str, channels: int) -> None:
        for name in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{prefix}.{name}"] = (channels,)
        shapes[f"{prefix}.num_batches_tracked"] = ()

    def conv(prefix: str, out_channels: int, in_channels: int, *kernel: int) -> None:
        shapes[f"{prefix}.weight"] = (out_channels, in_channels, *kernel)
        shapes[f"{prefix}.bias"] = (out_channels,)

    for stage, layers in ENCODER_STAGES:
        for index, (c_in, c_out, residual) in enumerate(layers):
            prefix = f"music_encoder.{stage}.{index}"
            conv(f"{prefix}.conv2d_layer.0", c_out, c_in, 3, 3)
            batch_norm(f"{prefix}.conv2d_layer.1", c_out)
            if residual and c_in != c_out:
                conv(f"{prefix}.residual.0", c_out, c_in, 1, 1)
                batch_norm(f"{prefix}.residual.1", c_out)
    conv("music_encoder.conv4.0", MUSIC_FEATURES, 512, 1)
    batch_norm("music_encoder.conv4.1", MUSIC_FEATURES)
    for index, c_in, c_out, kernel, _stride, _padding in NOISE_LAYERS:
        shapes[f"noise_upsampler.{index}.weight"] = (c_in, c_out, kernel)  # ConvTranspose1d: (in, out, k)
        shapes[f"noise_upsampler.{index}.bias"] = (c_out,)
    batch_norm("noise_bn", 64)
    for block, _ in enumerate(TCN_DILATIONS):
        c_in = MUSIC_FEATURES + 64 if block == 0 else TCN_CHANNELS
        for conv_name, norm_name, channels in (("conv1", "bn1", c_in), ("conv2", "bn2", TCN_CHANNELS)):
            shapes[f"temporal.blocks.{block}.{conv_name}.weight_v"] = (TCN_CHANNELS, channels, 5)
            shapes[f"temporal.blocks.{block}.{conv_name}.weight_g"] = (TCN_CHANNELS, 1, 1)
            shapes[f"temporal.blocks.{block}.{conv_name}.bias"] = (TCN_CHANNELS,)
            batch_norm(f"temporal.blocks.{block}.{norm_name}", TCN_CHANNELS)
        if c_in != TCN_CHANNELS:
            conv(f"temporal.blocks.{block}.downsample", TCN_CHANNELS, c_in, 1)
    conv("temporal.linear", TCN_CHANNELS, TCN_CHANNELS)
    for index, (c_in, c_out) in zip((0, 2, 4), ((TCN_CHANNELS, 64), (64, 64), (64, MOTION_CHANNELS))):
        conv(f"head.{index}", c_out, c_in)
    return shapes
