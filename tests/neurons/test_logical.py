"""Logical gates on bit vectors: Norse's test_logical.py expectations, truth tables, gradients."""

from __future__ import annotations

import torch

import simctl.neurons
from simctl.neurons.logical import (
    logical_and,
    logical_or,
    logical_xor,
    muller_c,
    posedge_detector,
)

X = torch.as_tensor([1, 0, 0, 1])
Y = torch.as_tensor([1, 0, 0, 0])


def test_exports() -> None:
    names = set(simctl.neurons.__all__)
    assert {"logical_and", "logical_or", "logical_xor"} <= names
    assert not {"muller_c", "posedge_detector"} & names  # importable, not re-exported (Norse)


def test_norse_expectations() -> None:
    assert torch.equal(logical_and(X, Y), torch.as_tensor([1, 0, 0, 0]))
    assert torch.equal(logical_or(X, Y), torch.as_tensor([1, 0, 0, 1]))
    assert torch.equal(logical_xor(X, Y), torch.as_tensor([0, 0, 0, 1]))
    assert torch.equal(muller_c(X, Y, Y), torch.as_tensor([1, 0, 0, 0]))
    z, z_prev = torch.as_tensor([1, 0, 0, 1]), torch.as_tensor([0, 0, 1, 1])
    assert torch.equal(posedge_detector(z, z_prev), torch.as_tensor([1, 0, 0, 0]))


def test_truth_tables() -> None:
    x = torch.tensor([0.0, 0.0, 1.0, 1.0])
    y = torch.tensor([0.0, 1.0, 0.0, 1.0])
    assert logical_and(x, y).tolist() == [0.0, 0.0, 0.0, 1.0]
    assert logical_or(x, y).tolist() == [0.0, 1.0, 1.0, 1.0]
    assert logical_xor(x, y).tolist() == [0.0, 1.0, 1.0, 0.0]
    assert posedge_detector(y, x).tolist() == [0.0, 1.0, 0.0, 0.0]
    # C-element: agreeing inputs are copied, disagreeing ones hold y_prev
    for y_prev in (0.0, 1.0):
        held = muller_c(torch.full((4,), y_prev), x, y).tolist()
        assert held == [0.0, y_prev, y_prev, 1.0]


def test_logical_or_superspike_gradient() -> None:
    """Θ(x + y) backward is 1/(100·|x + y| + 1)^2: 1 at x + y = 0, 1/101² at 1, 1/201² at 2."""
    x = torch.tensor([0.0, 1.0, 1.0], requires_grad=True)
    y = torch.tensor([0.0, 0.0, 1.0])
    logical_or(x, y).sum().backward()
    expected = torch.tensor([1.0, 1.0 / 101**2, 1.0 / 201**2])
    assert torch.allclose(x.grad, expected)


def test_and_xor_gradients() -> None:
    x = torch.tensor([1.0, 0.0], requires_grad=True)
    y = torch.tensor([1.0, 1.0])
    logical_and(x, y).sum().backward()
    assert x.grad.tolist() == [1.0, 1.0]
    x.grad = None
    logical_xor(x, y).sum().backward()
    assert x.grad.tolist() == [0.0, -1.0]  # d|x − y|/dx = sign(x − y), 0 at equality
