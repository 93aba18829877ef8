"""MC3-style 3D convolutional backbone: the two feature maps the Deformer3D tokenizers read.

    video (B, 3, T, H, W) -> F_a (B, C, T, H/2, W/2), F_b (B, 4C, T, H/8, W/8)

Shape of MC3-18 (Tran et al., "A Closer Look at Spatiotemporal Convolutions"): a 3D stem, one stage of 3x3x3
(full 3D) basic blocks, then stages of 1x3x3 (spatial-only) blocks. Time is never strided, so every frame keeps
its own tokens downstream.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class BasicBlock3d(nn.Module):
    """Two convs with BN/ReLU and an identity (or 1x1x1 projection) shortcut.

    ``(B, C_in, T, H, W) -> (B, C_out, T, H / s, W / s)`` with spatial stride ``s``.
    """

    def __init__(self, dim_in: int, dim_out: int, temporal_kernel: int, spatial_stride: int = 1):
        super().__init__()
        kernel = (temporal_kernel, 3, 3)
        padding = (temporal_kernel // 2, 1, 1)
        stride = (1, spatial_stride, spatial_stride)
        self.conv1 = nn.Conv3d(dim_in, dim_out, kernel, stride=stride, padding=padding, bias=False)
        self.bn1 = nn.BatchNorm3d(dim_out)
        self.conv2 = nn.Conv3d(dim_out, dim_out, kernel, padding=padding, bias=False)
        self.bn2 = nn.BatchNorm3d(dim_out)
        self.act = nn.ReLU(inplace=True)
        # a projection shortcut only where the shape changes (as in ResNet)
        self.shortcut: nn.Module = nn.Identity()
        if dim_in != dim_out or spatial_stride != 1:
            self.shortcut = nn.Sequential(
                nn.Conv3d(dim_in, dim_out, 1, stride=stride, bias=False), nn.BatchNorm3d(dim_out)
            )

    def forward(self, x: Tensor) -> Tensor:
        out = self.act(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act(out + self.shortcut(x))


class MC3Backbone(nn.Module):
    """Stem + layer1 (3x3x3, C) -> F_a; layer2 (1x3x3, 2C, /2) + layer3 (1x3x3, 4C, /2) -> F_b.

    Args:
        width: ``C``, the channels of F_a (paper 64); F_b has ``4C``.
        in_channels: input channels (3 for RGB).
    """

    def __init__(self, width: int = 64, in_channels: int = 3):
        super().__init__()
        self.width = width
        # stem: 3x7x7 conv, spatial stride 2, time kept
        self.stem = nn.Sequential(
            nn.Conv3d(in_channels, width, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
            nn.BatchNorm3d(width),
            nn.ReLU(inplace=True),
        )
        self.layer1 = nn.Sequential(BasicBlock3d(width, width, 3), BasicBlock3d(width, width, 3))
        self.layer2 = nn.Sequential(
            BasicBlock3d(width, 2 * width, 1, 2), BasicBlock3d(2 * width, 2 * width, 1)
        )
        self.layer3 = nn.Sequential(
            BasicBlock3d(2 * width, 4 * width, 1, 2), BasicBlock3d(4 * width, 4 * width, 1)
        )
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, video: Tensor) -> tuple[Tensor, Tensor]:
        """``video (B, 3, T, H, W)`` -> ``F_a (B, C, T, H/2, W/2)``, ``F_b (B, 4C, T, H/8, W/8)``.

        Both outputs are in ``channels_last_3d`` memory: oneDNN's 3D convs run ~1.5-2x faster on it on CPU (small
        channel counts vectorise over C), and the tokenizers read F_a / F_b channels-last anyway, so their
        ``(B, T, H, W, C)`` views are free. The weights stay contiguous (oneDNN reorders them per call, a few KB),
        so state dicts and safetensors files are unchanged.
        """
        video = video.contiguous(memory_format=torch.channels_last_3d)
        f_a = self.layer1(self.stem(video))
        f_b = self.layer3(self.layer2(f_a))
        return f_a, f_b
