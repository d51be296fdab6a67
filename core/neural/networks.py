"""The VirtualConductor networks: the one definition of each, used by inference and training.

Shapes: N batch, T90 mel frames (90 per second), T30 motion frames (30 per second),
S seconds. Architecture facts: ``docs/parity.md``; the sizes come from :mod:`core.neural.architecture`
(which lists the generator's weights without PyTorch). Module names are our own;
:mod:`core.neural.weights` maps the official checkpoints' key names onto them.

- :class:`MusicEncoder`: mel (N, T90, 128) -> features (N, T30, 64).
- :class:`MotionGenerator` (M2S-GAN): mel (N, T90, 128) + noise (N, S, 8) -> motion (N, T30, 13, 2).
- :class:`MotionEncoder` (ST-GCN): motion (N, T30, 13, 2) -> features (N, 64, T30).
- :class:`SyncNet` (M2S-Net): mel + motion -> per-frame sync probability (N, T30, 1).
- :class:`Critic`: motion (N, T30, 13, 2) -> Wasserstein score (N, 1).
"""

from __future__ import annotations

from typing import cast

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..motion.skeleton import EDGES, JOINT_COUNT
from .architecture import (
    GCN_BLOCKS,
    GCN_CHANNELS,
    MOTION_CHANNELS,
    MUSIC_FEATURES,
    NOISE_PER_SECOND,
    TCN_CHANNELS,
    TCN_DILATIONS,
)


# --------------------------------------------------------------------------- music encoder
class ResidualConv2d(nn.Module):
    """Conv2d(k3, reflect padding) -> BatchNorm2d -> ReLU, plus a residual added after the ReLU:
    none (first layer), identity (same channels) or Conv2d(k1) -> BatchNorm2d."""

    def __init__(self, in_channels: int, out_channels: int, *, residual: bool = True) -> None:
        super().__init__()
        self.conv2d_layer = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, padding_mode="reflect"),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        )
        self.has_residual = residual
        self.residual: nn.Sequential | None = None
        if residual and in_channels != out_channels:
            self.residual = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1), nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[shape=(N, in, T, F)] -> [shape=(N, out, T, F)]."""
        out = self.conv2d_layer(x)
        if not self.has_residual:
            return out
        return out + (x if self.residual is None else self.residual(x))


class MusicEncoder(nn.Module):
    """mel (N, T90, 128) in [0, 1] -> music features (N, T30, 64), T30 = floor((T90 - 1) / 3) + 1."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(
            ResidualConv2d(1, 16, residual=False), ResidualConv2d(16, 16), ResidualConv2d(16, 16)
        )
        self.pool1 = nn.MaxPool2d((5, 5), stride=(1, 2), padding=(2, 2))
        self.conv2 = nn.Sequential(ResidualConv2d(16, 32), ResidualConv2d(32, 32))
        self.pool2 = nn.MaxPool2d((5, 5), stride=(3, 2), padding=(2, 2))
        self.conv3 = nn.Sequential(ResidualConv2d(32, 32), ResidualConv2d(32, 32))
        self.pool3 = nn.MaxPool2d((3, 3), stride=(1, 2), padding=(1, 1))
        self.conv4 = nn.Sequential(nn.Conv1d(512, MUSIC_FEATURES, 1), nn.BatchNorm1d(MUSIC_FEATURES))

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """Music features, one a motion frame.

        Parameters
        ----------
        mel : torch.Tensor [shape=(N, T90, 128), float32] in [0, 1]
            The official mel feature (:func:`core.audio.mel.mel_90hz`), 90 frames a second.

        Returns
        -------
        torch.Tensor [shape=(N, T30, 64), float32]
            T30 = floor((T90 - 1) / 3) + 1, 30 frames a second.
        """
        x = mel.unsqueeze(1)  # (N, 1, T90, 128)
        x = self.pool1(self.conv1(x))  # (N, 16, T90, 64)
        x = self.pool2(self.conv2(x))  # (N, 32, T30, 32)
        x = self.pool3(self.conv3(x))  # (N, 32, T30, 16)
        n, channels, frames, bands = x.shape
        x = x.permute(0, 1, 3, 2).reshape(n, channels * bands, frames)  # (N, 512, T30), c * 16 + f
        return self.conv4(x).transpose(1, 2)  # (N, T30, 64)


# --------------------------------------------------------------------------- generator
class WeightNormConv1d(nn.Module):
    """Conv1d with the legacy weight norm (weight = g * v / ||v||, norm over all axes but 0)
    and reflect padding; parameters ``weight_g`` (out, 1, 1), ``weight_v`` (out, in, k), ``bias``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, dilation: int, padding: int) -> None:
        super().__init__()
        self.weight_v = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size))
        self.weight_g = nn.Parameter(torch.empty(out_channels, 1, 1))
        self.bias = nn.Parameter(torch.empty(out_channels))
        self.dilation = dilation
        self.padding = padding
        nn.init.kaiming_uniform_(self.weight_v, a=5**0.5)
        nn.init.uniform_(self.bias, -1 / (in_channels * kernel_size) ** 0.5, 1 / (in_channels * kernel_size) ** 0.5)
        with torch.no_grad():
            self.weight_g.copy_(self.weight_v.norm(dim=(1, 2), keepdim=True))

    def weight(self) -> torch.Tensor:
        """g * v / ||v|| [shape=(out, in, k)]."""
        # torch._weight_norm is what nn.utils.weight_norm computes; a hand-written g * v / ||v||
        # rounds differently and the fuse head's large logits amplify that.
        return torch._weight_norm(self.weight_v, self.weight_g, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[shape=(N, in, T)] -> [shape=(N, out, T + 2 * padding - dilation * (k - 1))]."""
        x = F.pad(x, (self.padding, self.padding), mode="reflect")
        return F.conv1d(x, self.weight(), self.bias, dilation=self.dilation)


class TemporalBlock(nn.Module):
    """Two dilated k5 convolutions that keep the length, batch norm, ReLU, a 3-frame average and
    a residual: (N, in, T) -> (N, out, T)."""

    def __init__(self, in_channels: int, out_channels: int, dilation: int) -> None:
        super().__init__()
        self.trim = 2 * dilation  # the conv pads 4d and grows the length by 4d: trim 2d each end
        self.conv1 = WeightNormConv1d(in_channels, out_channels, 5, dilation=dilation, padding=4 * dilation)
        self.bn1 = nn.BatchNorm1d(out_channels)
        self.conv2 = WeightNormConv1d(out_channels, out_channels, 5, dilation=dilation, padding=4 * dilation)
        self.bn2 = nn.BatchNorm1d(out_channels)
        self.downsample = nn.Conv1d(in_channels, out_channels, 1) if in_channels != out_channels else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[shape=(N, in, T)] -> [shape=(N, out, T)], frames kept."""
        out = self.conv1(x)[:, :, self.trim : -self.trim]
        out = F.relu(self.bn1(out))
        out = self.conv2(out)[:, :, self.trim : -self.trim]
        out = F.relu(self.bn2(out))
        out = F.avg_pool1d(out, 3, stride=1, padding=1)
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class TemporalConvNet(nn.Module):
    """Six temporal blocks with dilations 1..32, then a per-frame Linear: (N, in, T) -> (N, T, 64)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        channels = [in_channels] + [TCN_CHANNELS] * len(TCN_DILATIONS)
        self.blocks = nn.ModuleList(
            TemporalBlock(channels[i], channels[i + 1], dilation) for i, dilation in enumerate(TCN_DILATIONS)
        )
        self.linear = nn.Linear(TCN_CHANNELS, TCN_CHANNELS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[shape=(N, in, T)] -> [shape=(N, T, 64)], frames kept."""
        for block in self.blocks:
            x = block(x)
        return self.linear(x.transpose(1, 2))


class MotionGenerator(nn.Module):
    """M2S-GAN's generator: mel (N, T90, 128) + noise (N, S, 8) -> keypoints (N, T30, 13, 2).

    ``noise`` holds one standard-normal 8-vector per second; it is upsampled to 30 per second,
    so T30 must equal 30 * S (give whole seconds of mel: T90 = 90 * S). Output x and y are in
    [0, 1] (sigmoid), image coordinates with y down.
    """

    def __init__(self) -> None:
        super().__init__()
        self.music_encoder = MusicEncoder()
        self.noise_upsampler = nn.Sequential(  # (N, 8, S) -> (N, 64, 30 S)
            nn.ConvTranspose1d(NOISE_PER_SECOND, 16, 3, stride=1, padding=1),
            nn.ReLU(),
            nn.ConvTranspose1d(16, 16, 11, stride=5, padding=3),
            nn.ReLU(),
            nn.ConvTranspose1d(16, 32, 5, stride=3, padding=1),
            nn.ReLU(),
            nn.ConvTranspose1d(32, 64, 6, stride=2, padding=2),
            nn.ReLU(),
        )
        self.noise_bn = nn.BatchNorm1d(64)
        self.temporal = TemporalConvNet(MUSIC_FEATURES + 64)
        self.head = nn.Sequential(
            nn.Linear(TCN_CHANNELS, 64),
            nn.ReLU(),
            nn.Linear(64, 64),
            nn.ReLU(),
            nn.Linear(64, MOTION_CHANNELS),
            nn.Sigmoid(),
        )

    def encode_noise(self, noise: torch.Tensor) -> torch.Tensor:
        """Noise features, one a motion frame.

        Parameters
        ----------
        noise : torch.Tensor [shape=(N, S, 8), float32]
            One 8-vector a second (standard normal, times the variation).

        Returns
        -------
        torch.Tensor [shape=(N, 30 * S, 64), float32]
            30 frames a second.
        """
        return self.noise_bn(self.noise_upsampler(noise.transpose(1, 2))).transpose(1, 2)

    def forward(self, mel: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Keypoints for the music and the noise.

        Parameters
        ----------
        mel : torch.Tensor [shape=(N, T90, 128), float32] in [0, 1]
            The official mel feature (:func:`core.audio.mel.mel_90hz`), 90 frames a second.
            T90 = 90 * S.
        noise : torch.Tensor [shape=(N, S, 8), float32]
            One 8-vector a second.

        Returns
        -------
        keypoints : torch.Tensor [shape=(N, T30, 13, 2), float32] in [0, 1]
            Image coordinates (y down), 30 frames a second (T30 = 30 * S), joints in COCO order.
        """
        music = self.music_encoder(mel)  # (N, T30, 64)
        features = torch.cat([music, self.encode_noise(noise)], dim=2)  # (N, T30, 128)
        hidden = self.temporal(features.transpose(1, 2))  # (N, T30, 64)
        keypoints = self.head(hidden)  # (N, T30, 26)
        return keypoints.reshape(keypoints.shape[0], keypoints.shape[1], JOINT_COUNT, 2)


# --------------------------------------------------------------------------- M2S-Net
def skeleton_adjacency() -> np.ndarray:
    """The ST-GCN graph: skeleton edges plus self loops, column-normalised (A @ D^-1).

    Returns
    -------
    np.ndarray [shape=(1, 13, 13), float32]
    """
    adjacency = np.eye(JOINT_COUNT)
    for a, b in EDGES:
        adjacency[a, b] = adjacency[b, a] = 1.0
    return (adjacency / adjacency.sum(axis=0, keepdims=True))[None].astype(np.float32)


class GraphBlock(nn.Module):
    """One ST-GCN block: 1x1 conv, aggregation over the joint graph, then a temporal k3 conv
    with batch norms; (N, in, T, 13) -> (N, 32, T, 13)."""

    def __init__(self, in_channels: int, *, residual: bool) -> None:
        super().__init__()
        self.gcn = nn.Module()
        self.gcn.conv = nn.Conv2d(in_channels, GCN_CHANNELS, 1)
        self.tcn = nn.Sequential(
            nn.BatchNorm2d(GCN_CHANNELS),
            nn.ReLU(),
            nn.Conv2d(GCN_CHANNELS, GCN_CHANNELS, (3, 1), padding=(1, 0)),
            nn.BatchNorm2d(GCN_CHANNELS),
            nn.Dropout(0.0),
        )
        self.residual = residual

    def forward(self, x: torch.Tensor, graph: torch.Tensor) -> torch.Tensor:
        """(N, in, T, 13) aggregated over ``graph`` [shape=(13, 13)] -> (N, 32, T, 13)."""
        conv = cast(nn.Conv2d, self.gcn.conv)  # a plain submodule's attribute: typed Tensor | Module
        out = torch.einsum("nctv,vw->nctw", conv(x), graph)
        out = self.tcn(out)
        return F.relu(out + x if self.residual else out)


class MotionEncoder(nn.Module):
    """ST-GCN motion encoder: keypoints (N, T30, 13, 2) -> features (N, 64, T30)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("adjacency", torch.from_numpy(skeleton_adjacency()))
        self.data_bn = nn.BatchNorm1d(MOTION_CHANNELS)
        self.blocks = nn.ModuleList(
            [GraphBlock(2, residual=False)] + [GraphBlock(GCN_CHANNELS, residual=True) for _ in range(GCN_BLOCKS - 1)]
        )
        self.edge_importance = nn.ParameterList(
            nn.Parameter(torch.ones(1, JOINT_COUNT, JOINT_COUNT)) for _ in range(GCN_BLOCKS)
        )
        self.projection = nn.Sequential(nn.Conv1d(GCN_CHANNELS * JOINT_COUNT, 64, 1), nn.BatchNorm1d(64))

    def forward(self, keypoints: torch.Tensor) -> torch.Tensor:
        """Motion features, one a frame.

        Parameters
        ----------
        keypoints : torch.Tensor [shape=(N, T30, 13, 2), float32] in [0, 1]
            Image coordinates (y down), 30 frames a second, joints in COCO order.

        Returns
        -------
        torch.Tensor [shape=(N, 64, T30), float32]
        """
        return self.features(keypoints)[-1]

    def features(self, keypoints: torch.Tensor) -> list[torch.Tensor]:
        """All intermediate features of ``keypoints`` [shape=(N, T, 13, 2)] (image units, 30 frames a
        second): data_bn output [shape=(N, 26, T)], each block's output flattened channel-major
        [shape=(N, 416, T)], and last the 64-d output [shape=(N, 64, T)]."""
        n, frames = keypoints.shape[:2]
        # (N, 26, T): channel index joint * 2 + xy; contiguous before the batch norm, as the
        # official code, so the result matches it to the last bit.
        x = keypoints.reshape(n, frames, MOTION_CHANNELS).permute(0, 2, 1).contiguous()
        x = self.data_bn(x)
        outputs = [x]
        x = x.view(n, JOINT_COUNT, 2, frames).permute(0, 2, 3, 1).contiguous()  # (N, 2, T, 13)
        for block, importance in zip(self.blocks, self.edge_importance):
            x = block(x, (self.adjacency * importance)[0])
            outputs.append(x.permute(0, 1, 3, 2).reshape(n, GCN_CHANNELS * JOINT_COUNT, frames))
        outputs.append(self.projection(outputs[-1]))
        return outputs


class SyncNet(nn.Module):
    """M2S-Net: mel (N, T90, 128) + keypoints (N, T30, 13, 2) -> sync probability (N, T30, 1)."""

    def __init__(self) -> None:
        super().__init__()
        self.music_encoder = MusicEncoder()
        self.motion_encoder = MotionEncoder()
        self.fuse_head = nn.Sequential(
            nn.Conv1d(128, 64, 1), nn.ReLU(), nn.Conv1d(64, 64, 1), nn.ReLU(), nn.Conv1d(64, 1, 1), nn.Sigmoid()
        )

    def forward(self, mel: torch.Tensor, keypoints: torch.Tensor) -> torch.Tensor:
        """How well the motion goes with the music, frame by frame.

        Parameters
        ----------
        mel : torch.Tensor [shape=(N, T90, 128), float32] in [0, 1]
            The official mel feature (:func:`core.audio.mel.mel_90hz`), 90 frames a second.
        keypoints : torch.Tensor [shape=(N, T30, 13, 2), float32] in [0, 1]
            Image coordinates (y down), 30 frames a second, joints in COCO order.
            T30 = floor((T90 - 1) / 3) + 1.

        Returns
        -------
        torch.Tensor [shape=(N, T30, 1), float32] in [0, 1]
            Probability that each frame is in sync, 30 frames a second.
        """
        music = self.music_encoder(mel).transpose(1, 2)  # (N, 64, T30)
        motion = self.motion_encoder(keypoints)  # (N, 64, T30)
        return self.fuse_head(torch.cat([music, motion], dim=1)).transpose(1, 2)


# --------------------------------------------------------------------------- critic
class Critic(nn.Module):
    """WGAN critic: keypoints (N, T30, 13, 2) -> score (N, 1), the mean over time of per-step scores."""

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv1d(MOTION_CHANNELS, 64, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool1d(5, stride=3),
            nn.Conv1d(64, 64, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool1d(5, stride=2),
            nn.Conv1d(64, 64, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool1d(5, stride=2),
        )
        self.head = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1))

    def forward(self, keypoints: torch.Tensor) -> torch.Tensor:
        """The critic's score of a motion.

        Parameters
        ----------
        keypoints : torch.Tensor [shape=(N, T30, 13, 2), float32] in [0, 1]
            Image coordinates (y down), 30 frames a second, joints in COCO order.

        Returns
        -------
        torch.Tensor [shape=(N, 1), float32]
            Unbounded Wasserstein score (higher: more like real motion).
        """
        n, frames = keypoints.shape[:2]
        x = self.convs(keypoints.reshape(n, frames, MOTION_CHANNELS).transpose(1, 2))  # (N, 64, T')
        return self.head(x.transpose(1, 2)).mean(dim=1)
