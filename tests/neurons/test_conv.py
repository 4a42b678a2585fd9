"""LConv2d: a per-time-step 2-D convolution on (T, N, C, H, W) tensors (spec §6)."""

from __future__ import annotations

import pytest
import torch

from simctl.neurons import LConv2d


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, (7, 2, 4, 8, 12)),
        ({"padding": 1}, (7, 2, 4, 10, 14)),
        ({"stride": 2}, (7, 2, 4, 4, 6)),
        ({"dilation": 2}, (7, 2, 4, 6, 10)),
        ({"padding": (1, 0), "stride": (1, 2)}, (7, 2, 4, 10, 6)),
        ({"padding": "same"}, (7, 2, 4, 10, 14)),
    ],
)
def test_shapes(kwargs, expected):
    conv = LConv2d(3, 4, 3, **kwargs)
    assert conv(torch.randn(7, 2, 3, 10, 14)).shape == expected


def test_weight_and_bias():
    conv = LConv2d(2, 6, (3, 5), groups=2)
    assert isinstance(conv, torch.nn.Conv3d)
    assert conv.weight.shape == (6, 1, 3, 5, 1)
    assert conv.bias is None
    assert conv.padding == (0, 0, 0)


@pytest.mark.parametrize("kwargs", [{}, {"padding": 2, "stride": 2}, {"dilation": 2, "groups": 3}])
def test_equals_conv2d_per_step(kwargs):
    torch.manual_seed(0)
    conv = LConv2d(3, 6, 3, **kwargs)
    data = torch.randn(5, 2, 3, 11, 9)
    expected = torch.stack(
        [torch.nn.functional.conv2d(x, conv.weight[..., 0], None, **kwargs) for x in data]
    )
    torch.testing.assert_close(conv(data), expected)


def test_device_dtype_and_gradient():
    conv = LConv2d(1, 2, 3, dtype=torch.float64)
    data = torch.randn(4, 1, 1, 5, 5, dtype=torch.float64, requires_grad=True)
    out = conv(data)
    assert out.dtype == torch.float64
    out.sum().backward()
    assert data.grad is not None and conv.weight.grad is not None
    assert conv.weight.grad.abs().sum() > 0


def test_rejects_wrong_rank():
    with pytest.raises(ValueError, match=r"\(T, N, C, H, W\)"):
        LConv2d(1, 1, 3)(torch.ones(1, 1, 5, 5))
