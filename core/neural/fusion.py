"""A faster inference copy of the generator: batch norms folded into the convolutions, weight
norms computed once, channels-last layout for the 2D music encoder, in-place activations, and
optionally the music encoder (about 95 % of the arithmetic) in bfloat16.

Same function as :class:`core.neural.networks.MotionGenerator` in eval mode, to float32 rounding (the
golden parity tests run on both). Used only for inference; training uses the plain networks.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import nn
from torch.nn import functional as F

from .networks import MotionGenerator, MusicEncoder, ResidualConv2d, TemporalBlock


def _fused_conv_relu_op():
    """oneDNN's convolution with the ReLU applied in the same pass (bit-equal to conv2d then
    relu, a quarter faster on CPU), where this build of PyTorch has it; else None."""
    try:
        return torch.ops.mkldnn._convolution_pointwise if torch.backends.mkldnn.is_available() else None
    except (AttributeError, RuntimeError):
        return None


FUSED_CONV_RELU = _fused_conv_relu_op()


def conv2d_relu(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """relu(conv2d(x, weight, bias)), unpadded, stride 1: in one oneDNN pass for float32 or
    bfloat16 on the CPU, else as two. ``x`` [shape=(N, in, H, W)], ``weight`` [shape=(out, in,
    kh, kw)], ``bias`` [shape=(out,)] -> [shape=(N, out, H - kh + 1, W - kw + 1)], x's dtype."""
    if (
        FUSED_CONV_RELU is not None
        and x.device.type == "cpu"
        and x.dtype == weight.dtype
        and x.dtype in (torch.float32, torch.bfloat16)
    ):
        return FUSED_CONV_RELU(x, weight, bias, [0, 0], [1, 1], [1, 1], 1, "relu", [None], None)
    return F.conv2d(x, weight, bias).relu_()


def channels_last_view(x: torch.Tensor) -> torch.Tensor:
    """``x`` [shape=(N, C, H, W)] in channels-last layout (same shape, dtype and values). A one-channel tensor is both layouts at once,
    so PyTorch calls it contiguous and oneDNN would write the next 16 channels planar, to be
    reordered by every layer after it (a sixth of the encoder's time): give it channels-last
    strides over the same memory instead of copying."""
    if x.shape[1] == 1 and x.is_contiguous():
        return x.as_strided(x.shape, (x.stride(0), 1, x.stride(2), x.stride(3)))
    return x.contiguous(memory_format=torch.channels_last)


def max_pool_5x5_stride_1x2(x: torch.Tensor) -> torch.Tensor:
    """The encoder's first pool, ``max_pool2d(x, 5, stride=(1, 2), padding=2)``, as maxima of
    shifted views: the same values (a maximum is exact in any order), without the int64 index
    per output that PyTorch's CPU pool writes, at about half its time (a third in bfloat16).

    A pass over frequency, then one over time (a maximum over a rectangle is the maximum of its
    rows' maxima). ``x`` [shape=(N, C, T, F)] with an even F and T >= 5 gives [shape=(N, C, T, F // 2)],
    its dtype; others go to PyTorch's pool.
    """
    if x.dim() != 4 or x.shape[3] % 2 or x.shape[3] < 4 or x.shape[2] < 5:
        return F.max_pool2d(x, 5, stride=(1, 2), padding=2)
    # Frequency: output bin f covers input bins 2f-2 .. 2f+2 (those inside the spectrum).
    even, odd = x[..., 0::2], x[..., 1::2]
    pair = torch.maximum(even, odd)  # bins 2f and 2f+1
    by_bin = torch.empty_like(pair)
    by_bin[..., 0] = pair[..., 0]
    torch.maximum(pair[..., 1:], pair[..., :-1], out=by_bin[..., 1:])  # bins 2f-2 .. 2f+1
    torch.maximum(by_bin[..., :-1], even[..., 1:], out=by_bin[..., :-1])  # bin 2f+2
    # Time: output frame t covers frames t-2 .. t+2, from maxima of adjacent pairs.
    pair = torch.maximum(by_bin[:, :, :-1], by_bin[:, :, 1:])  # frames t, t+1 (T - 1 of them)
    out = torch.empty_like(by_bin)
    middle = out[:, :, 2:-2]
    torch.maximum(pair[:, :, :-3], pair[:, :, 2:-1], out=middle)  # frames t-2 .. t+1
    torch.maximum(middle, by_bin[:, :, 4:], out=middle)  # frame t+2
    torch.maximum(pair[:, :, 0], by_bin[:, :, 2], out=out[:, :, 0])
    torch.maximum(pair[:, :, 0], pair[:, :, 2], out=out[:, :, 1])
    torch.maximum(pair[:, :, -3], pair[:, :, -1], out=out[:, :, -2])
    torch.maximum(pair[:, :, -1], by_bin[:, :, -3], out=out[:, :, -1])
    return out


def fold_batch_norm(
    weight: torch.Tensor, bias: torch.Tensor | None, norm: nn.modules.batchnorm._BatchNorm
) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias of conv -> batch norm (eval) as one conv: ``weight`` [shape=(out, ...)]
    and ``bias`` [shape=(out,)] or None in, the folded pair of the same shapes out (detached)."""
    running_mean, running_var = norm.running_mean, norm.running_var
    assert running_mean is not None and running_var is not None, "the networks' batch norms track running stats"
    scale = norm.weight / torch.sqrt(running_var + norm.eps)
    folded_weight = weight * scale.reshape((-1,) + (1,) * (weight.dim() - 1))
    base = bias if bias is not None else torch.zeros_like(running_mean)
    folded_bias = (base - running_mean) * scale + norm.bias
    return folded_weight.detach().clone(), folded_bias.detach().clone()


class FusedResidualConv2d(nn.Module):
    """A :class:`ResidualConv2d` with its batch norms folded, its weights channels-last in
    ``dtype`` (folded in float32 first)."""

    def __init__(self, layer: ResidualConv2d, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        # nn.Sequential's items are typed nn.Module: name the layer types (see ResidualConv2d).
        conv, norm = cast(nn.Conv2d, layer.conv2d_layer[0]), cast(nn.BatchNorm2d, layer.conv2d_layer[1])
        weight, bias = fold_batch_norm(conv.weight, conv.bias, norm)
        self.weight = nn.Parameter(channels_last_view(weight.to(dtype).contiguous()), requires_grad=False)
        self.bias = nn.Parameter(bias.to(dtype), requires_grad=False)
        self.has_residual = layer.has_residual
        self.residual: tuple[torch.Tensor, torch.Tensor] | None = None
        if layer.residual is not None:
            r_conv, r_norm = cast(nn.Conv2d, layer.residual[0]), cast(nn.BatchNorm2d, layer.residual[1])
            r_weight, r_bias = fold_batch_norm(r_conv.weight, r_conv.bias, r_norm)
            self.residual_weight = nn.Parameter(
                r_weight.to(dtype).contiguous(memory_format=torch.channels_last), requires_grad=False
            )
            self.residual_bias = nn.Parameter(r_bias.to(dtype), requires_grad=False)
            self.residual = (self.residual_weight, self.residual_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[shape=(N, in, T, F)] -> [shape=(N, out, T, F)], channels-last, in the weights' dtype."""
        out = conv2d_relu(channels_last_view(F.pad(x, (1, 1, 1, 1), mode="reflect")), self.weight, self.bias)
        if not self.has_residual:
            return out
        if self.residual is None:
            return out.add_(x)
        return out.add_(F.conv2d(x, self.residual_weight, self.residual_bias))


class FusedMusicEncoder(nn.Module):
    """The music encoder with folded batch norms, run over time chunks.

    Its receptive field is under 30 mel frames, so chunks of ``CHUNK_FRAMES`` with
    ``CONTEXT_FRAMES`` of real music either side (both multiples of the 3-frame pooling
    stride) give the same features as one pass, while the large 2D activations stay a few
    tens of MB whatever the window length.

    With ``dtype`` bfloat16 the 2D layers (convolutions, pools) compute in bfloat16 and the
    projection in float32: about twice the speed where the CPU has bfloat16 arithmetic (AVX-512
    BF16, AMX), keypoints a few thousandths from float32's.
    """

    CHUNK_FRAMES = 2700
    CONTEXT_FRAMES = 48

    def __init__(self, encoder: MusicEncoder, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.conv1, self.conv2, self.conv3 = (
            nn.Sequential(*(FusedResidualConv2d(cast(ResidualConv2d, layer), dtype) for layer in stack))
            for stack in (encoder.conv1, encoder.conv2, encoder.conv3)
        )
        self.pool2, self.pool3 = encoder.pool2, encoder.pool3  # pool1 is max_pool_5x5_stride_1x2
        conv4, norm4 = cast(nn.Conv1d, encoder.conv4[0]), cast(nn.BatchNorm1d, encoder.conv4[1])
        weight, bias = fold_batch_norm(conv4.weight, conv4.bias, norm4)
        self.projection = nn.Parameter(weight[:, :, 0], requires_grad=False)  # (64, 512)
        self.projection_bias = nn.Parameter(bias, requires_grad=False)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """Music features, as :meth:`core.neural.networks.MusicEncoder.forward` gives them.

        Parameters
        ----------
        mel : torch.Tensor [shape=(N, T90, 128), float32] in [0, 1]
            The official mel feature, 90 frames a second.

        Returns
        -------
        torch.Tensor [shape=(N, ceil(T90 / 3), 64), float32]
            30 frames a second.
        """
        frames = mel.shape[1]
        pieces = []
        for start in range(0, frames, self.CHUNK_FRAMES):
            end = min(start + self.CHUNK_FRAMES, frames)
            first, last = max(0, start - self.CONTEXT_FRAMES), min(frames, end + self.CONTEXT_FRAMES)
            keep_from = (start - first) // 3
            pieces.append(self.encode(mel[:, first:last])[:, keep_from : keep_from + (end - start - 1) // 3 + 1])
        return pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=1)

    def encode(self, mel: torch.Tensor) -> torch.Tensor:
        """One pass: mel [shape=(N, T, 128)] in [0, 1] at 90 frames a second -> features
        [shape=(N, ceil(T / 3), 64), float32] at 30."""
        first_weight = cast(FusedResidualConv2d, self.conv1[0]).weight
        x = mel.to(first_weight.dtype).unsqueeze(1)  # (N, 1, T90, 128): each layer pads it and views it channels-last
        x = max_pool_5x5_stride_1x2(self.conv1(x))  # pool1
        x = self.pool2(self.conv2(x))
        x = self.pool3(self.conv3(x)).float()  # (N, 32, T30, 16)
        n, channels, frames, bands = x.shape
        x = x.permute(0, 2, 1, 3).reshape(n, frames, channels * bands)  # (N, T30, 512), c * 16 + f
        return torch.addmm(self.projection_bias, x.reshape(-1, channels * bands), self.projection.t()).reshape(
            n, frames, -1
        )


class FusedTemporalBlock(nn.Module):
    """A :class:`TemporalBlock` with its weight norms computed and batch norms folded."""

    def __init__(self, block: TemporalBlock) -> None:
        super().__init__()
        self.trim = block.trim
        self.dilation = block.conv1.dilation
        self.padding = block.conv1.padding
        w1, b1 = fold_batch_norm(block.conv1.weight(), block.conv1.bias, block.bn1)
        w2, b2 = fold_batch_norm(block.conv2.weight(), block.conv2.bias, block.bn2)
        self.w1, self.b1 = nn.Parameter(w1, requires_grad=False), nn.Parameter(b1, requires_grad=False)
        self.w2, self.b2 = nn.Parameter(w2, requires_grad=False), nn.Parameter(b2, requires_grad=False)
        self.downsample = block.downsample

    def conv(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """One dilated k5 convolution that keeps the length: [shape=(N, in, T)] -> [shape=(N, out, T)]."""
        # The official conv pads 4d and trims 2d each side: the same as padding 2d with the
        # reflection of a 4d pad, so compute only the kept frames.
        padded = F.pad(x, (self.padding, self.padding), mode="reflect")[:, :, self.trim : -self.trim]
        return F.conv1d(padded, weight, bias, dilation=self.dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[shape=(N, in, T)] -> [shape=(N, out, T)], as :class:`TemporalBlock` in eval mode."""
        out = self.conv(x, self.w1, self.b1).relu_()
        out = self.conv(out, self.w2, self.b2).relu_()
        out = F.avg_pool1d(out, 3, stride=1, padding=1)
        return out.add_(x if self.downsample is None else self.downsample(x)).relu_()


class FusedGenerator(nn.Module):
    """Inference-only twin of a :class:`MotionGenerator` (eval mode): same inputs, same outputs (in
    float32; ``encoder_dtype`` bfloat16 runs the music encoder so, see :class:`FusedMusicEncoder`)."""

    def __init__(self, generator: MotionGenerator, encoder_dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        generator = generator.eval()
        self.music_encoder = FusedMusicEncoder(generator.music_encoder, encoder_dtype)
        self.noise_upsampler = generator.noise_upsampler
        self.noise_bn = generator.noise_bn
        self.blocks = nn.ModuleList(
            FusedTemporalBlock(cast(TemporalBlock, block)) for block in generator.temporal.blocks
        )
        self.linear = generator.temporal.linear
        self.head = generator.head
        self.eval()

    def forward(self, mel: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Keypoints for the music and the noise, as :meth:`MotionGenerator.forward` gives them.

        Parameters
        ----------
        mel : torch.Tensor [shape=(N, T90, 128), float32] in [0, 1]
            The official mel feature, 90 frames a second; T90 = 90 * S.
        noise : torch.Tensor [shape=(N, S, 8), float32]
            One 8-vector a second.

        Returns
        -------
        keypoints : torch.Tensor [shape=(N, T30, 13, 2), float32] in [0, 1]
            Image coordinates (y down), 30 frames a second (T30 = 30 * S), COCO joint order.
        """
        music = self.music_encoder(mel)  # (N, T30, 64)
        noise_features = self.noise_bn(self.noise_upsampler(noise.transpose(1, 2))).transpose(1, 2)
        x = torch.cat([music, noise_features], dim=2).transpose(1, 2).contiguous()  # (N, 128, T30)
        for block in self.blocks:
            x = block(x)
        keypoints = self.head(self.linear(x.transpose(1, 2)))  # (N, T30, 26)
        return keypoints.reshape(keypoints.shape[0], keypoints.shape[1], 13, 2)
