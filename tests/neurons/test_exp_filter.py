"""ExpFilter: ``s_0 = y_0``, ``s_t = alpha·s_{t-1} + y_t``, ``alpha = exp(−dt/tau)``."""

from __future__ import annotations

import math

import pytest
import torch

from simctl.neurons import ExpFilter, exp_filter_step, sum_decode


def test_step_values() -> None:
    assert exp_filter_step(torch.tensor([1.0]), torch.tensor([0.0]), 0.1).tolist() == [
        pytest.approx(0.1)
    ]
    integer = exp_filter_step(torch.tensor([1]), torch.tensor([0]), 1)
    assert integer.dtype == torch.get_default_dtype() and integer.tolist() == [1.0]


def test_layer_smooths_with_alpha() -> None:
    """Unit weights, no bias, input 1 then 0, 0 and defaults (alpha = e^-1):
    s = 1, e^-1, e^-2."""
    layer = ExpFilter(1, 1, input_weights=torch.ones(1, 1), bias=False)
    out = layer(torch.tensor([[1.0], [0.0], [0.0]]))
    assert layer.parameter == pytest.approx(math.exp(-1))
    assert out.flatten().tolist() == pytest.approx([1.0, math.exp(-1), math.exp(-2)])


def test_layer_shapes_and_state_dict() -> None:
    layer = ExpFilter(3, 2)
    assert layer(torch.rand(5, 4, 3)).shape == (5, 4, 2)
    assert sorted(layer.state_dict()) == ["linear.bias", "linear.weight"]


def test_sum_decode() -> None:
    spikes = torch.tensor([[0.0, 1.0], [1.0, 1.0], [0.0, 1.0]])
    assert sum_decode(spikes).tolist() == [1.0, 3.0]
    assert sum_decode(spikes, 1).tolist() == [1.0, 2.0, 1.0]
