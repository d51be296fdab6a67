"""The learned beat tracker's network in torch, for training; core/beats/activations.py runs the
same arithmetic in numpy for inference (tested equal to 1e-5) and defines the layout used here:
the frequency pooling, the kernel of the time convolutions and the dilation ``2 ** block``.

    features (B, T, 64) -> front end (three Conv2d, ELU, max-pool over frequency) -> (B, C, T)
    -> ``blocks`` residual blocks: x + mix(dropout(ELU(dilated(x))))           -> (B, C, T)
    -> head (1x1 Conv1d on ELU(x))                                             -> logits (B, T, 3)
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from core.beats.activations import ACTIVATIONS, FEATURE_BANDS, FREQUENCY_POOL, KERNEL


class ResidualBlock(nn.Module):
    """One dilated time convolution and a 1x1 mix, added to its input."""

    def __init__(self, channels: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.dilated = nn.Conv1d(channels, channels, KERNEL, dilation=dilation, padding=dilation * (KERNEL - 1) // 2)
        self.mix = nn.Conv1d(channels, channels, 1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T) -> (B, C, T)
        return x + self.mix(self.dropout(F.elu(self.dilated(x))))


class BeatTCN(nn.Module):
    """Beat, downbeat and division logits of every frame of a log-mel spectrogram.

    forward: features (B, T, 64) float32 -> logits (B, T, 3), columns in ``ACTIVATIONS`` order.
    """

    def __init__(self, channels: int = 32, frontend_channels: int = 16, blocks: int = 8, dropout: float = 0.15) -> None:
        super().__init__()
        bands = ((FEATURE_BANDS - 2) // FREQUENCY_POOL - 2) // FREQUENCY_POOL  # 64 -> 62 -> 20 -> 18 -> 6
        # The first layer has half the filters: its output is the largest tensor of the network.
        self.frontend = nn.ModuleList(
            [
                nn.Conv2d(1, frontend_channels // 2, (3, 3), padding=(1, 0)),
                nn.Conv2d(frontend_channels // 2, frontend_channels, (3, 3), padding=(1, 0)),
                nn.Conv2d(frontend_channels, channels, (1, bands)),
            ]
        )
        self.blocks = nn.ModuleList([ResidualBlock(channels, 2**b, dropout) for b in range(blocks)])
        self.head = nn.Conv1d(channels, len(ACTIVATIONS), 1)
        self.dropout = nn.Dropout(dropout)
        self.arguments = {
            "channels": channels,
            "frontend_channels": frontend_channels,
            "blocks": blocks,
            "dropout": dropout,
        }

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = features[:, None]  # (B, 1, T, F)
        x = F.max_pool2d(F.elu(self.frontend[0](x)), (1, FREQUENCY_POOL))  # (B, c, T, 20)
        x = F.max_pool2d(F.elu(self.frontend[1](x)), (1, FREQUENCY_POOL))  # (B, c, T, 6)
        x = F.elu(self.frontend[2](x))[..., 0]  # (B, C, T)
        x = self.dropout(x)
        for block in self.blocks:
            x = block(x)
        return self.head(F.elu(x)).transpose(1, 2)  # (B, T, 3)
