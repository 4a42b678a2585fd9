"""SpikesToTimesDecoder / ToSpikeTimes: Norse's module and functional tests, shapes, gradients."""

from __future__ import annotations

import pytest
import torch

import simctl.neurons
from simctl.neurons.decode import SpikesToTimesDecoder, ToSpikeTimes, spikes_to_times

INF = float("inf")


def test_public_names() -> None:
    assert {"SpikesToTimesDecoder", "ToSpikeTimes", "spikes_to_times"} <= set(
        simctl.neurons.__all__
    )


def test_defaults() -> None:
    decoder = SpikesToTimesDecoder()
    assert (decoder.spike_count, decoder.convert_to_time, decoder.dt) == (1, True, 1e-3)
    assert repr(decoder) == (
        "SpikesToTimesDecoder(spike_count=1, convert_indices_to_times=True, dt=0.001)"
    )


# Norse norse/torch/functional/test/test_spikes_to_times_decoder.py
def test_functional_zero_input() -> None:
    out = ToSpikeTimes.apply(torch.zeros(10, 1, 1), torch.as_tensor(10))
    assert out.shape == (10, 1, 1)
    assert torch.isinf(out).all()


def test_functional_ones_input() -> None:
    out = ToSpikeTimes.apply(torch.ones(10, 1, 1), torch.as_tensor(10))
    assert torch.equal(out, torch.arange(10, dtype=torch.float)[:, None, None])


def test_functional_single_spike() -> None:
    z = torch.zeros(10, 2, 3)
    z[2] = 1.0
    assert torch.equal(ToSpikeTimes.apply(z, torch.as_tensor(1)), torch.full((1, 2, 3), 2.0))


def test_functional_backward() -> None:
    z = torch.zeros(10, 2, 3)
    z[1] = 1.0
    z.requires_grad_(True)
    ToSpikeTimes.apply(z, torch.as_tensor(1)).sum().backward()
    expected = torch.zeros(10, 2, 3)
    expected[1] = -1.0
    assert torch.equal(z.grad, expected)


# Norse norse/torch/module/test/test_spikes_to_times_decoder.py
def test_module_zero_input() -> None:
    for convert in (False, True):
        out = SpikesToTimesDecoder(spike_count=10, convert_indices_to_times=convert)(
            torch.zeros(10, 1, 1)
        )
        assert torch.isinf(out).all()


def test_module_ones_input() -> None:
    indices = SpikesToTimesDecoder(spike_count=10, convert_indices_to_times=False)
    times = SpikesToTimesDecoder(spike_count=10, convert_indices_to_times=True, dt=1e-3)
    expected = torch.arange(10, dtype=torch.float)[:, None, None]
    assert torch.allclose(indices(torch.ones(10, 1, 1)), expected)
    assert torch.allclose(times(torch.ones(10, 1, 1)), 1e-3 * expected)


def test_module_single_spike_with_time() -> None:
    z = torch.zeros(10, 2, 3)
    z[2] = 1.0
    out = SpikesToTimesDecoder(spike_count=1, convert_indices_to_times=True, dt=1e-3)(z)
    assert torch.allclose(out, torch.full((1, 2, 3), 2.0e-3))


@pytest.mark.parametrize(("convert", "slope"), [(False, -1.0), (True, -1e-3)])
def test_module_backward(convert: bool, slope: float) -> None:
    z = torch.zeros(10, 2, 3)
    z[1] = 1.0
    z.requires_grad_(True)
    decoder = SpikesToTimesDecoder(spike_count=1, convert_indices_to_times=convert, dt=1e-3)
    decoder(z).sum().backward()
    expected = torch.zeros(10, 2, 3)
    expected[1] = slope
    assert torch.equal(z.grad, expected)


def test_tensor_spike_count_and_missing_second_spike() -> None:
    # Norse's test_jit expectation, without tracing: one spike at index 1, two requested
    z = torch.zeros(2, 1, 1)
    z[1] = 1.0
    out = SpikesToTimesDecoder(spike_count=torch.as_tensor(2), dt=1e-3)(z)
    assert torch.equal(out, torch.tensor([[[1e-3]], [[INF]]]))


def test_hand_derived_first_two_spikes() -> None:
    """Trace 0 spikes at 1, 3, 4; trace 1 at 4; trace 2 never: sorted first two indices."""
    z = torch.zeros(5, 3)
    z[[1, 3, 4], 0] = 1.0
    z[4, 1] = 1.0
    out = spikes_to_times(z, 2, convert_indices_to_times=False)
    assert out.tolist() == [[1.0, 4.0, INF], [3.0, INF, INF]]
    assert spikes_to_times(z, 1, dt=0.5).tolist() == [[0.5, 2.0, INF]]


def test_spike_count_larger_than_time_is_clipped() -> None:
    assert spikes_to_times(torch.ones(3, 4), 10).shape == (3, 4)


@pytest.mark.parametrize("shape", [(6,), (6, 2), (6, 2, 3), (6, 2, 3, 4)])
def test_shapes(shape: tuple[int, ...]) -> None:
    z = (torch.rand(shape, generator=torch.Generator().manual_seed(0)) < 0.4).float()
    out = SpikesToTimesDecoder(spike_count=2)(z)
    assert out.shape == (2, *shape[1:])
    # every finite entry is a real spike time and the rows ascend
    assert (out[1] >= out[0]).all()
    finite = torch.isfinite(out)
    idx = torch.where(finite, out / 1e-3, torch.zeros_like(out)).round().long()
    assert (z.gather(0, idx)[finite] == 1).all()


def test_backward_routes_each_output_to_its_own_spike() -> None:
    """K = 2 with a non-uniform upstream gradient: d t_k / d z[t_k] = −1 for each k."""
    z = torch.zeros(5, 1)
    z[1, 0] = z[3, 0] = 1.0
    z.requires_grad_(True)
    out = ToSpikeTimes.apply(z, 2)
    (out[:, 0] * torch.tensor([2.0, 5.0])).sum().backward()
    assert z.grad[:, 0].tolist() == [0.0, -2.0, 0.0, -5.0, 0.0]


def test_dtypes() -> None:
    z = torch.tensor([[0, 1], [1, 1]])
    assert spikes_to_times(z, 1, False).dtype == torch.get_default_dtype()
    assert spikes_to_times(z.bool(), 1, False).tolist() == [[1.0, 0.0]]
    double = spikes_to_times(z.double(), 1)
    assert double.dtype == torch.float64


def test_rejects_bad_spike_count() -> None:
    with pytest.raises(ValueError, match="spike_count"):
        SpikesToTimesDecoder(spike_count=-1)


def test_zero_spike_count_gives_an_empty_result_and_zero_gradient() -> None:
    """Norse's decoder test loops spike_count from 0: K = 0 returns ``(0, ...)`` and a zero
    gradient."""
    x = torch.ones(5, 3, 2, requires_grad=True)
    out = SpikesToTimesDecoder(spike_count=0, convert_indices_to_times=False)(x)
    assert out.shape == (0, 3, 2)
    out.sum().backward()
    assert torch.equal(x.grad, torch.zeros_like(x))
