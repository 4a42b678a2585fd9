"""Convolutions applied independently at every time step.

:class:`LConv2d` is a 2-D convolution over ``(T, N, C, H, W)`` tensors (time first, as in every
simctl module). It is a :class:`torch.nn.Conv3d` whose kernel spans one step in time,
``(kh, kw, 1)``, with no time padding and **no bias**, so step ``t`` of the output depends on
step ``t`` of the input only: it equals ``conv2d(x[t], weight[..., 0])``. One Conv3d call over
the whole sequence replaces T Conv2d calls.

Examples:
    >>> import torch
    >>> conv = LConv2d(2, 4, kernel_size=3, padding=1)
    >>> conv(torch.ones(10, 8, 2, 16, 16)).shape
    torch.Size([10, 8, 4, 16, 16])
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn.modules.utils import _pair

__all__ = ["LConv2d"]


class LConv2d(torch.nn.Conv3d):
    """A 2-D convolution over every step of a ``(T, N, C, H, W)`` input.

    Args:
        in_channels: input channels ``C``.
        out_channels: output channels.
        kernel_size: ``k`` or ``(kh, kw)``.
        stride: ``s`` or ``(sh, sw)``.
        padding: ``p`` or ``(ph, pw)`` (zeros; time is never padded), or ``"valid"``/``"same"``.
        dilation: ``d`` or ``(dh, dw)``.
        groups: blocked connections from input to output channels, as in Conv2d.
        device, dtype: factory arguments of the weight.

    Shape:
        input ``(T, N, C, H, W)``; output ``(T, N, out_channels, H', W')`` with ``H'``, ``W'``
        as for :class:`torch.nn.Conv2d`. The weight has shape ``(out, in/groups, kh, kw, 1)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | str = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ):
        kh, kw = _pair(kernel_size)
        sh, sw = _pair(stride)
        dh, dw = _pair(dilation)
        padding_3d: str | tuple[int, int, int]
        if isinstance(padding, str):
            padding_3d = padding  # "same" keeps T because the kernel's time extent is 1
        else:
            ph, pw = _pair(padding)
            padding_3d = (ph, pw, 0)
        super().__init__(
            in_channels,
            out_channels,
            kernel_size=(kh, kw, 1),
            stride=(sh, sw, 1),
            padding=padding_3d,
            dilation=(dh, dw, 1),
            groups=groups,
            bias=False,
            device=device,
            dtype=dtype,
        )

    def forward(self, input_tensor: torch.Tensor) -> torch.Tensor:
        if input_tensor.dim() != 5:
            raise ValueError(
                f"LConv2d expects input of shape (T, N, C, H, W), got {tuple(input_tensor.shape)}"
            )
        # (T, N, C, H, W) -> (N, C, H, W, T): time becomes the kernel's size-1 depth axis
        output = super().forward(input_tensor.permute(1, 2, 3, 4, 0))
        return output.permute(4, 0, 1, 2, 3)
