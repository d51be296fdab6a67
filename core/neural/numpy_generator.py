"""M2S-GAN's generator in NumPy: mel (T90, 128) + noise (S, 8) -> keypoints (T30, 13, 2), float32,
with no PyTorch. The network definition that trains (:class:`core.neural.networks.MotionGenerator`)
stays the source of truth; this module computes the same function from its ``state_dict`` (as
NumPy arrays under the same key names, :func:`core.neural.weights.load_weights`), equal to it to
float32 rounding (tests/core/neural/test_runtimes.py). It runs where neither ONNX Runtime nor
PyTorch imports; :mod:`core.neural.ort_generator` runs its music encoder faster.

Shapes and rates: T90 mel frames at 90 per second, T30 motion frames at 30 per second
(T30 = floor((T90 - 1) / 3) + 1), S whole seconds of noise (T30 = 30 S for a whole pass).

What is done once, at load (:class:`NumpyGenerator`):

- every batch norm (eval mode: running statistics) folded into the convolution before it, in
  float64, then stored as float32;
- the legacy weight norm of the temporal blocks computed (``g * v / ||v||``);
- the temporal network's final Linear folded into the head's first Linear (no activation
  between them);
- the convolution weights laid out as the matrix products below take them.

How it runs:

- The music encoder (about 95 % of the arithmetic) keeps its 2D activations channels first,
  (channels, time, frequency), each in a buffer one frame and one band larger on every side
  whose border holds the reflection the next 3x3 convolution pads with. Read flat, rows of the
  padded width, each tap of a 3x3 convolution over a run of outputs is one contiguous run of
  every channel's row, so the patch matrix (im2col) is nine long copies, and one BLAS sgemm,
  (C_out, 9 C_in) x (9 C_in, run), writes the outputs straight into the next padded buffer
  (see :meth:`_Conv3x3.__call__`). Runs of ``TIME_BLOCK_FRAMES`` frames keep the patch matrix
  in cache. Pools are maxima of strided views (exact in any order).
- The encoder runs over chunks of ``ENCODER_CHUNK_FRAMES`` mel frames with
  ``ENCODER_CONTEXT_FRAMES`` of real music on each side (multiples of the 3-frame stride, the
  context longer than the encoder's receptive field), so chunks equal one pass and the large
  2D activations stay a few MB whatever the length.
- The noise upsampler, the temporal network and the head are small (T30, C) matrix products.

A whole piece runs through :func:`core.neural.inference.generate_keypoints` (windows with
context), as every runtime does.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..motion.skeleton import JOINT_COUNT
from .architecture import BATCH_NORM_EPS, ENCODER_STAGES, MEL_BANDS, MUSIC_FEATURES, NOISE_LAYERS, TCN_DILATIONS

# The encoder's receptive field is 20 mel frames either side; 48 (a multiple of its 3-frame
# stride) leaves room. Chunks of ~6 s keep every 2D activation under ~5 MB.
ENCODER_CHUNK_FRAMES = 540
ENCODER_CONTEXT_FRAMES = 48
ENCODER_WORKERS = 2  # threads over chunks: with BLAS on one thread or several, never slower here
TIME_BLOCK_FRAMES = 8  # frames per patch matrix: 144 rows x 8 frames x 130 bands = 600 KB


# --------------------------------------------------------------------------- weight preparation
def _fold_batch_norm(
    state: dict[str, np.ndarray], prefix: str, weight: np.ndarray, bias: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Conv (weight (out, ...), bias (out,)) followed by the eval-mode batch norm ``prefix`` as
    one conv, computed in float64. Returns float64 (weight, bias)."""
    gamma = state[f"{prefix}.weight"].astype(np.float64)
    beta = state[f"{prefix}.bias"].astype(np.float64)
    mean = state[f"{prefix}.running_mean"].astype(np.float64)
    var = state[f"{prefix}.running_var"].astype(np.float64)
    scale = gamma / np.sqrt(var + BATCH_NORM_EPS)
    folded_weight = weight.astype(np.float64) * scale.reshape((-1,) + (1,) * (weight.ndim - 1))
    base = np.zeros_like(mean) if bias is None else bias.astype(np.float64)
    return folded_weight, (base - mean) * scale + beta


def _batch_norm_affine(state: dict[str, np.ndarray], prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """An eval-mode batch norm as ``x * scale + shift`` (float32 (C,), (C,))."""
    scale, shift = _fold_batch_norm(state, prefix, np.ones(state[f"{prefix}.weight"].shape), None)
    return scale.astype(np.float32), shift.astype(np.float32)


def _weight_norm(v: np.ndarray, g: np.ndarray) -> np.ndarray:
    """The legacy weight norm ``g * v / ||v||`` (norm over all axes but 0), as PyTorch computes
    it: in float32, ``v * (g / ||v||)``."""
    v = v.astype(np.float32)
    norm = np.sqrt(np.sum(v * v, axis=tuple(range(1, v.ndim)), keepdims=True, dtype=np.float32))
    return v * (g.astype(np.float32).reshape(norm.shape) / norm)


class _Conv3x3:
    """A ResidualConv2d of the music encoder with folded batch norms, channels first.

    ``weight`` (C_out, 9 C_in + 1): columns ordered (dt, df, c_in), then the bias;
    ``bias`` (C_out,): the same bias alone (for other runtimes' graphs);
    ``identity_residual``: the input is added to the output (same channels); ``residual``:
    (weight (C_out, C_in), bias (C_out, 1)) of the folded 1x1 convolution whose output is added
    instead, or None (then the first layer, with no residual, unless ``identity_residual``).
    """

    def __init__(self, state: dict[str, np.ndarray], prefix: str, *, residual: bool) -> None:
        weight = state[f"{prefix}.conv2d_layer.0.weight"]  # (out, in, 3, 3)
        folded, bias = _fold_batch_norm(
            state, f"{prefix}.conv2d_layer.1", weight, state[f"{prefix}.conv2d_layer.0.bias"]
        )
        self.out_channels, self.in_channels = weight.shape[:2]
        # (C_out, 9 C_in + 1): the taps, then the bias (the patch matrix ends with a row of ones)
        self.weight = np.ascontiguousarray(
            np.concatenate([folded.transpose(0, 2, 3, 1).reshape(self.out_channels, -1), bias[:, None]], axis=1),
            np.float32,
        )
        self.bias = bias.astype(np.float32)
        self.identity_residual = residual and self.in_channels == self.out_channels
        self.residual: tuple[np.ndarray, np.ndarray] | None = None
        if residual and not self.identity_residual:
            r_weight, r_bias = _fold_batch_norm(
                state, f"{prefix}.residual.1", state[f"{prefix}.residual.0.weight"], state[f"{prefix}.residual.0.bias"]
            )
            self.residual = (np.ascontiguousarray(r_weight[:, :, 0, 0], np.float32), r_bias.astype(np.float32)[:, None])

    def __call__(self, padded: np.ndarray) -> np.ndarray:
        """The layer on ``padded`` (C_in, T+2, F+2), the input with its reflected border.

        Returns the output in the same padded layout, (C_out, T+2, F+2), border reflected.

        Both buffers are read flat, rows of F+2: the output at (t, f) is computed for every
        column of the padded width (the two extra columns land on the border, which is
        overwritten afterwards), so the input under tap (dt, df) of a run of outputs is one
        contiguous run of each channel's row, ``dt (F+2) + df`` further on. The patch matrix
        of ``TIME_BLOCK_FRAMES`` frames is nine such copies and a row of ones (for the bias);
        one BLAS product writes the block's outputs straight into the output buffer.
        """
        c_in, rows, width = padded.shape
        c_out = self.out_channels
        flat_in = padded.reshape(c_in, rows * width)
        out_padded = np.empty((c_out, rows, width), dtype=np.float32)
        flat_out = out_padded.reshape(c_out, rows * width)
        total = (rows - 2) * width - 2  # outputs from padded (1, 1) to (T, F), flat
        step = min(TIME_BLOCK_FRAMES * width, total)
        rows_k = 9 * c_in + 1
        patches = np.empty(rows_k * step, dtype=np.float32)
        for first in range(0, total, step):
            count = min(step, total - first)
            cols = patches[: rows_k * count].reshape(rows_k, count)
            if first == 0 or count < step:
                cols[-1] = 1.0
            for tap in range(9):
                dt, df = divmod(tap, 3)
                start = first + dt * width + df
                cols[tap * c_in : (tap + 1) * c_in] = flat_in[:, start : start + count]
            centre = slice(first + width + 1, first + width + 1 + count)  # the same pixels, input and output
            out = flat_out[:, centre]
            np.matmul(self.weight, cols, out=out)
            np.maximum(out, 0.0, out=out)
            if self.identity_residual:
                out += flat_in[:, centre]
            elif self.residual is not None:
                r_weight, r_bias = self.residual
                out += r_weight @ flat_in[:, centre]
                out += r_bias
        reflect_border(out_padded)
        return out_padded


def reflect_border(padded: np.ndarray) -> None:
    """Fill the one-wide border of ``padded`` (C, T+2, F+2) with the reflection of its interior
    (as ``padding_mode='reflect'``: frame -1 is frame 1, frame T is frame T-2; bands alike)."""
    padded[:, 1:-1, 0] = padded[:, 1:-1, 2]
    padded[:, 1:-1, -1] = padded[:, 1:-1, -3]
    padded[:, 0] = padded[:, 2]
    padded[:, -1] = padded[:, -3]


def max_pool(x: np.ndarray, axis: int, kernel: int, stride: int, padding: int) -> np.ndarray:
    """``torch.nn.functional.max_pool1d`` along ``axis`` (padding never wins: -inf), as maxima
    of ``kernel`` strided views. Output length floor((L + 2 padding - kernel) / stride) + 1."""
    length = x.shape[axis]
    out_length = (length + 2 * padding - kernel) // stride + 1
    shape = list(x.shape)
    shape[axis] = out_length
    out = np.full(shape, -np.inf, dtype=x.dtype)
    for tap in range(kernel):
        offset = tap - padding  # output i reads input i * stride + offset
        first = max(0, -(offset // stride))  # the first i with i * stride + offset >= 0
        last = min(out_length - 1, (length - 1 - offset) // stride)
        if last < first:
            continue
        source = [slice(None)] * x.ndim
        source[axis] = slice(first * stride + offset, last * stride + offset + 1, stride)
        target = [slice(None)] * x.ndim
        target[axis] = slice(first, last + 1)
        np.maximum(out[tuple(target)], x[tuple(source)], out=out[tuple(target)])
    return out


def max_pool_5_stride_2(x: np.ndarray, axis: int) -> np.ndarray:
    """``max_pool1d(kernel 5, stride 2, padding 2)`` along ``axis`` of even length L >= 4:
    output i is the maximum of inputs 2i-2 .. 2i+2 that exist; (..., L, ...) -> (..., L / 2, ...).
    From the maxima of adjacent pairs: three passes instead of five."""

    def part(array: np.ndarray, start: int | None, stop: int | None, step: int | None = None) -> np.ndarray:
        index = [slice(None)] * array.ndim
        index[axis] = slice(start, stop, step)
        return array[tuple(index)]

    even, odd = part(x, 0, None, 2), part(x, 1, None, 2)
    pair = np.maximum(even, odd)  # inputs 2i, 2i+1
    out = pair.copy()
    np.maximum(part(out, 1, None), part(pair, None, -1), out=part(out, 1, None))  # 2i-2 .. 2i+1
    np.maximum(part(out, None, -1), part(even, 1, None), out=part(out, None, -1))  # 2i+2
    return out


def max_pool_5_stride_1(x: np.ndarray, axis: int, out: np.ndarray) -> np.ndarray:
    """``max_pool1d(kernel 5, stride 1, padding 2)`` along ``axis`` (length >= 5) into ``out``:
    output t is the maximum of inputs t-2 .. t+2 that exist, from the maxima of adjacent pairs."""

    def part(array: np.ndarray, start: int | None, stop: int | None) -> np.ndarray:
        index = [slice(None)] * array.ndim
        index[axis] = slice(start, stop)
        return array[tuple(index)]

    pair = np.maximum(part(x, None, -1), part(x, 1, None))  # inputs t, t+1 (L - 1 of them)
    middle = part(out, 2, -2)
    np.maximum(part(pair, None, -3), part(pair, 2, -1), out=middle)  # t-2 .. t+1
    np.maximum(middle, part(x, 4, None), out=middle)  # t+2
    np.maximum(part(pair, 0, 1), part(x, 2, 3), out=part(out, 0, 1))  # 0 .. 2
    np.maximum(part(pair, 0, 1), part(pair, 2, 3), out=part(out, 1, 2))  # 0 .. 3
    np.maximum(part(pair, -3, -2), part(pair, -1, None), out=part(out, -2, -1))  # L-4 .. L-1
    np.maximum(part(pair, -1, None), part(x, -3, -2), out=part(out, -1, None))  # L-3 .. L-1
    return out


def _pool_into_padded(x: np.ndarray, time_stride: int) -> np.ndarray:
    """The encoder's 5x5 max pool (stride (``time_stride``, 2), padding 2) of ``x`` (C, T, F),
    written into a new buffer with a reflected one-wide border for the next 3x3 convolution:
    (C, T' + 2, F / 2 + 2), T' = floor((T - 1) / time_stride) + 1."""
    by_band = max_pool_5_stride_2(x, 2)  # (C, T, F / 2)
    frames = (x.shape[1] - 1) // time_stride + 1
    padded = np.empty((x.shape[0], frames + 2, by_band.shape[2] + 2), dtype=np.float32)
    if time_stride == 1:
        max_pool_5_stride_1(by_band, 1, padded[:, 1:-1, 1:-1])
    else:
        padded[:, 1:-1, 1:-1] = max_pool(by_band, 1, 5, time_stride, 2)
    reflect_border(padded)
    return padded


# --------------------------------------------------------------------------- the network
TemporalBlockWeights = tuple[int, list[tuple[np.ndarray, np.ndarray]], tuple[np.ndarray, np.ndarray] | None]


class NumpyGenerator:
    """The M2S-GAN generator (eval mode) from a state dict of NumPy arrays.

    Parameters
    ----------
    state : dict of str to np.ndarray
        The keys and shapes of :class:`core.neural.networks.MotionGenerator`'s ``state_dict``
        (:func:`core.neural.architecture.generator_state_shapes`), as
        :func:`core.neural.weights.load_weights` gives them. Only read here; every prepared
        weight is a new float32 array.
    workers : int or None
        Threads for the music encoder's chunks; None: ``ENCODER_WORKERS`` or the CPU count if
        smaller.
    """

    def __init__(self, state: dict[str, np.ndarray], *, workers: int | None = None) -> None:
        self.workers = workers if workers is not None else min(ENCODER_WORKERS, os.cpu_count() or 1)
        self.encoder_layers = [
            [
                _Conv3x3(state, f"music_encoder.{stage}.{index}", residual=residual)
                for index, (_c_in, _c_out, residual) in enumerate(layers)
            ]
            for stage, layers in ENCODER_STAGES
        ]
        w4, b4 = _fold_batch_norm(
            state,
            "music_encoder.conv4.1",
            state["music_encoder.conv4.0.weight"][:, :, 0],
            state["music_encoder.conv4.0.bias"],
        )
        self.projection = np.ascontiguousarray(w4.T, np.float32)  # (512, 64), rows c * 16 + f
        self.projection_bias = b4.astype(np.float32)
        self.noise_layers = [
            (
                state[f"noise_upsampler.{index}.weight"].astype(np.float32),
                state[f"noise_upsampler.{index}.bias"].astype(np.float32),
                stride,
                padding,
            )
            for index, _c_in, _c_out, _kernel, stride, padding in NOISE_LAYERS
        ]
        self.noise_scale, self.noise_shift = _batch_norm_affine(state, "noise_bn")
        self.blocks = [_temporal_block(state, index, dilation) for index, dilation in enumerate(TCN_DILATIONS)]
        self.head = _head(state)

    # ----------------------------------------------------------------------- music encoder
    def encode_music(self, mel_90hz: np.ndarray) -> np.ndarray:
        """Music features of a whole stretch of mel, computed in chunks equal to one pass.

        Chunks run on ``self.workers`` threads (NumPy and BLAS release the GIL): each writes
        its own rows of the output, so the result does not depend on the thread count.

        Parameters
        ----------
        mel_90hz : np.ndarray [shape=(T90, 128), float32], T90 >= 5

        Returns
        -------
        music_30fps : np.ndarray [shape=(floor((T90 - 1) / 3) + 1, 64), float32]
        """
        mel_90hz = np.asarray(mel_90hz, dtype=np.float32)
        return encode_in_chunks(self.encode_music_pass, mel_90hz, ENCODER_CHUNK_FRAMES, self.workers)

    def encode_music_pass(self, mel_90hz: np.ndarray) -> np.ndarray:
        """One pass of the music encoder, reflect-padded at both ends of ``mel_90hz``.

        Parameters
        ----------
        mel_90hz : np.ndarray [shape=(T90, 128), float32], T90 >= 5

        Returns
        -------
        music_30fps : np.ndarray [shape=(floor((T90 - 1) / 3) + 1, 64), float32]
        """
        frames, bands = mel_90hz.shape
        if frames < 5 or bands != MEL_BANDS:
            raise ValueError(f"the music encoder needs at least 5 frames of {MEL_BANDS} bands, got {mel_90hz.shape}")
        padded = np.empty((1, frames + 2, bands + 2), dtype=np.float32)
        padded[0, 1:-1, 1:-1] = mel_90hz
        reflect_border(padded)
        for layer in self.encoder_layers[0]:
            padded = layer(padded)
        padded = _pool_into_padded(padded[:, 1:-1, 1:-1], 1)  # (16, T90 + 2, 66)
        for layer in self.encoder_layers[1]:
            padded = layer(padded)
        padded = _pool_into_padded(padded[:, 1:-1, 1:-1], 3)  # (32, T30 + 2, 34)
        for layer in self.encoder_layers[2]:
            padded = layer(padded)
        x = padded[:, 1:-1, 1:-1]
        pooled = max_pool(max_pool(x, 2, 3, 2, 1), 1, 3, 1, 1)  # (32, T30, 16)
        # (T30, 512) in the official channel-major order, c * 16 + f
        features = pooled.transpose(1, 0, 2).reshape(pooled.shape[1], -1) @ self.projection
        features += self.projection_bias
        return features

    # ----------------------------------------------------------------------- noise, TCN, head
    def encode_noise(self, noise_1hz: np.ndarray) -> np.ndarray:
        """noise (S, 8), one 8-vector per second -> noise features (30 S, 64), float32."""
        x = np.asarray(noise_1hz, dtype=np.float32)
        for weight, bias, stride, padding in self.noise_layers:
            x = np.maximum(conv_transpose_1d(x, weight, bias, stride, padding), 0.0)
        return x * self.noise_scale + self.noise_shift

    def temporal(self, features_30fps: np.ndarray) -> np.ndarray:
        """The six temporal blocks: (T30, 128) -> (T30, 64), float32. T30 > 64 (reflection)."""
        x = np.ascontiguousarray(features_30fps, dtype=np.float32)
        for dilation, ((w1, b1), (w2, b2)), downsample in self.blocks:
            out = conv_time_reflect(x, w1, b1, dilation)
            np.maximum(out, 0.0, out=out)
            out = conv_time_reflect(out, w2, b2, dilation)
            np.maximum(out, 0.0, out=out)
            out = average_3(out)
            if downsample is None:
                out += x
            else:
                out += x @ downsample[0]
                out += downsample[1]
            x = np.maximum(out, 0.0, out=out)
        return x

    def keypoints_from_hidden(self, hidden_30fps: np.ndarray) -> np.ndarray:
        """The head: (T30, 64) -> keypoints (T30, 13, 2) in [0, 1], float32."""
        x = hidden_30fps
        for index, (weight, bias) in enumerate(self.head):
            x = x @ weight
            x += bias
            if index < 2:
                np.maximum(x, 0.0, out=x)
        np.negative(x, out=x)
        np.exp(x, out=x)
        x += 1.0
        np.reciprocal(x, out=x)
        return x.reshape(x.shape[0], JOINT_COUNT, 2)

    def __call__(self, mel_90hz: np.ndarray, noise_1hz: np.ndarray) -> np.ndarray:
        """One forward pass, as ``MotionGenerator()(mel[None], noise[None])[0]`` in eval mode.

        Parameters
        ----------
        mel_90hz : np.ndarray [shape=(90 S, 128), float32]
        noise_1hz : np.ndarray [shape=(S, 8), float32], S >= 3 (the temporal blocks' reflection
            needs more than 64 motion frames)

        Returns
        -------
        keypoints_30fps : np.ndarray [shape=(30 S, 13, 2), float32]
        """
        music = self.encode_music(mel_90hz)
        noise = self.encode_noise(noise_1hz)
        if music.shape[0] != noise.shape[0]:
            raise ValueError(
                f"{mel_90hz.shape[0]} mel frames and {noise_1hz.shape[0]} s of noise do not match: give 90 S frames"
            )
        hidden = self.temporal(np.concatenate([music, noise], axis=1))
        return self.keypoints_from_hidden(hidden)


def _temporal_block(state: dict[str, np.ndarray], index: int, dilation: int) -> TemporalBlockWeights:
    """Temporal block ``index``: (dilation, [(weight (5 C_in, 64), bias (64,)) of conv1 and of
    conv2, weight norms computed and batch norms folded], downsample (weight (C_in, 64), bias
    (64,)) or None), float32."""
    prefix = f"temporal.blocks.{index}"
    convs = []
    for conv, norm in (("conv1", "bn1"), ("conv2", "bn2")):
        weight = _weight_norm(state[f"{prefix}.{conv}.weight_v"], state[f"{prefix}.{conv}.weight_g"])
        folded, bias = _fold_batch_norm(state, f"{prefix}.{norm}", weight, state[f"{prefix}.{conv}.bias"])
        # (out, in, k) -> (k * in, out): rows ordered (tap, channel) for the stacked taps
        convs.append(
            (
                np.ascontiguousarray(folded.transpose(2, 1, 0).reshape(-1, folded.shape[0]), np.float32),
                bias.astype(np.float32),
            )
        )
    downsample = None
    if f"{prefix}.downsample.weight" in state:
        downsample = (
            np.ascontiguousarray(state[f"{prefix}.downsample.weight"][:, :, 0].T, np.float32),
            state[f"{prefix}.downsample.bias"].astype(np.float32),
        )
    return dilation, convs, downsample


def _head(state: dict[str, np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """The head's three Linears as (weight (in, out), bias (out,)), float32; the temporal
    network's last Linear, which has no activation after it, folded into the first (in float64)."""
    linear_w = state["temporal.linear.weight"].astype(np.float64)
    linear_b = state["temporal.linear.bias"].astype(np.float64)
    head0_w = state["head.0.weight"].astype(np.float64)
    return [
        (
            np.ascontiguousarray((head0_w @ linear_w).T, np.float32),
            (head0_w @ linear_b + state["head.0.bias"].astype(np.float64)).astype(np.float32),
        ),
        (np.ascontiguousarray(state["head.2.weight"].T, np.float32), state["head.2.bias"].astype(np.float32)),
        (np.ascontiguousarray(state["head.4.weight"].T, np.float32), state["head.4.bias"].astype(np.float32)),
    ]


def encode_in_chunks(
    encode_pass: Callable[[np.ndarray], np.ndarray], mel_90hz: np.ndarray, chunk_frames: int, workers: int = 1
) -> np.ndarray:
    """Run a music encoder (one pass: (T90, 128) -> (floor((T90 - 1) / 3) + 1, 64)) over chunks
    of ``chunk_frames`` mel frames, each with ``ENCODER_CONTEXT_FRAMES`` of real music on both
    sides whose features are dropped: equal to one pass over the whole mel, because the context
    is longer than the encoder's receptive field (20 frames) and chunk starts are multiples of
    its 3-frame stride.

    Returns
    -------
    music_30fps : np.ndarray [shape=(floor((T90 - 1) / 3) + 1, 64), float32]
    """
    if chunk_frames % 3 or ENCODER_CONTEXT_FRAMES % 3:
        raise ValueError("chunks and context must be whole multiples of the encoder's 3-frame stride")
    frames = mel_90hz.shape[0]
    out = np.empty(((frames - 1) // 3 + 1, MUSIC_FEATURES), dtype=np.float32)

    def one_chunk(start: int) -> None:
        end = min(start + chunk_frames, frames)
        first, last = max(0, start - ENCODER_CONTEXT_FRAMES), min(frames, end + ENCODER_CONTEXT_FRAMES)
        features = encode_pass(mel_90hz[first:last])
        keep_from, count = (start - first) // 3, (end - start - 1) // 3 + 1
        out[start // 3 : start // 3 + count] = features[keep_from : keep_from + count]

    starts = range(0, frames, chunk_frames)
    if workers <= 1 or len(starts) == 1:
        for start in starts:
            one_chunk(start)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for done in pool.map(one_chunk, starts):  # re-raises a chunk's error here
                del done
    return out


def conv_transpose_1d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int, padding: int) -> np.ndarray:
    """``ConvTranspose1d`` channels-last: x (L, C_in), weight (C_in, C_out, k), bias (C_out,)
    -> ((L - 1) stride - 2 padding + k, C_out)."""
    length = x.shape[0]
    kernel = weight.shape[2]
    full = np.zeros(((length - 1) * stride + kernel, weight.shape[1]), dtype=np.float32)
    for tap in range(kernel):
        full[tap : tap + (length - 1) * stride + 1 : stride] += x @ weight[:, :, tap]
    out = full[padding : full.shape[0] - padding]
    out += bias
    return out


def conv_time_reflect(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, dilation: int) -> np.ndarray:
    """The temporal blocks' convolution: kernel 5, ``dilation``, length kept, reflect padding.

    The official conv pads 4 d by reflection and trims 2 d from each end of its output, which
    is a 'same' convolution over the input reflected by 2 d.

    Parameters
    ----------
    x : np.ndarray [shape=(T, C_in), float32], T > 2 d
    weight : np.ndarray [shape=(5 C_in, C_out)], rows ordered (tap, channel)
    bias : np.ndarray [shape=(C_out,)]

    Returns
    -------
    np.ndarray [shape=(T, C_out), float32]
    """
    frames, channels = x.shape
    reach = 2 * dilation
    padded = np.empty((frames + 2 * reach, channels), dtype=np.float32)
    padded[reach : reach + frames] = x
    padded[:reach] = x[reach:0:-1]
    padded[reach + frames :] = x[frames - 2 : frames - 2 - reach : -1]
    stacked = np.empty((frames, 5, channels), dtype=np.float32)
    for tap in range(5):
        stacked[:, tap] = padded[tap * dilation : tap * dilation + frames]
    out = stacked.reshape(frames, 5 * channels) @ weight
    out += bias
    return out


def average_3(x: np.ndarray) -> np.ndarray:
    """``AvgPool1d(3, stride 1, padding 1)`` over axis 0 (zeros outside, divided by 3)."""
    out = x.copy()
    out[1:] += x[:-1]
    out[:-1] += x[1:]
    out *= np.float32(1.0 / 3.0)
    return out
