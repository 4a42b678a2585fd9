"""Tests of the encoders (``simctl.neurons.encoders``), spec §5."""

from __future__ import annotations

import math

import pytest
import torch

from simctl.neurons import LIFParameters, LIFRecurrent, encoders
from simctl.neurons.encoders import (
    BernoulliEncoder,
    ConstantCurrentLIFEncoder,
    PoissonEncoder,
    PoissonEncoderStep,
    PopulationEncoder,
    SignedPoissonEncoder,
    SignedPoissonEncoderStep,
    SpikeLatencyEncoder,
    SpikeLatencyLIFEncoder,
    bernoulli_encode,
    constant_current_lif_encode,
    euclidean_distance,
    gaussian_rbf,
    poisson_encode,
    poisson_encode_step,
    population_encode,
    signed_poisson_encode,
    signed_poisson_encode_step,
    spike_latency_encode,
    spike_latency_lif_encode,
)

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _assert_binomial(count: float, trials: int, prob: float, sigmas: float = 5.0) -> None:
    """``count ~ Binomial(trials, prob)``: within ``sigmas`` standard deviations of the mean."""
    std = math.sqrt(trials * prob * (1 - prob))
    assert abs(count - trials * prob) <= sigmas * std, (count, trials * prob, std)


# --- LIF-driven encoders -----------------------------------------------------------------------


def test_constant_current_zeros() -> None:
    z = constant_current_lif_encode(torch.zeros(4), 2)
    assert z.shape == (2, 4) and torch.equal(z, torch.zeros(2, 4))


def test_constant_current_strong_inputs_spike_on_last_step() -> None:
    z = constant_current_lif_encode(torch.tensor([16, 32, 64, 128]), 10)
    assert z.shape == (10, 4) and z.dtype == torch.float32
    assert torch.equal(z[-1], torch.ones(4))
    assert torch.equal(z, torch.ones(10, 4))  # 16 gives v = 1.6 > 1 on every step


def test_constant_current_hand_derived_period() -> None:
    """No synaptic current, ``dt·tau_mem_inv = 0.1``: from ``v = 0`` with input ``I``,
    ``v_n = I·(1 − 0.9^n)``. For ``I = 1.1`` the first crossing of 1 needs ``0.9^n < 1/11``,
    i.e. ``n > ln 11 / ln(1/0.9) = 22.76``: step 23 (index 22), then the same after each
    reset, so indices 22 and 45. ``I = 1`` never crosses (``v_n < 1``)."""
    z = constant_current_lif_encode(torch.tensor([1.1, 1.0]), 50)
    assert torch.nonzero(z[:, 0]).flatten().tolist() == [22, 45]
    assert z[:, 1].sum() == 0
    encoder = ConstantCurrentLIFEncoder(50)
    assert torch.equal(encoder(torch.tensor([1.1, 1.0])), z)


def test_spike_latency_lif_encode() -> None:
    z = spike_latency_lif_encode(1.1 * torch.ones(10), 128)
    assert z.shape == (128, 10)
    assert z.sum() == 10
    assert torch.equal(z.sum(0), torch.ones(10))
    assert torch.equal(torch.nonzero(z[:, 0]).flatten(), torch.tensor([22]))  # as above
    assert torch.equal(SpikeLatencyLIFEncoder(128)(1.1 * torch.ones(10)), z)


def test_spike_latency_encode_example() -> None:
    spikes = torch.tensor([[0, 1, 1, 0], [1, 1, 1, 0]])
    assert spike_latency_encode(spikes).tolist() == [[0, 1, 1, 0], [1, 0, 0, 0]]
    assert SpikeLatencyEncoder()(spikes).tolist() == [[0, 1, 1, 0], [1, 0, 0, 0]]


def test_constant_current_then_spike_latency() -> None:
    encoder = torch.nn.Sequential(ConstantCurrentLIFEncoder(2), SpikeLatencyEncoder())
    z = encoder(torch.tensor([[0.0, 100, 100], [100, 100, 100]]))
    assert z.shape == (2, 2, 3)
    assert z[0].tolist() == [[0, 1, 1], [1, 1, 1]]
    assert torch.equal(z[1], torch.zeros(2, 3))


def test_lif_encoders_parameters_move_with_module() -> None:
    encoder = ConstantCurrentLIFEncoder(5, p=LIFParameters(v_th=0.5)).to(torch.float64)
    assert encoder.p.v_th.dtype == torch.float64
    z = encoder(torch.ones(3, dtype=torch.float64))
    assert z.dtype == torch.float64 and z.shape == (5, 3)
    # v = 0.1, 0.19, 0.271, 0.3439, 0.40951: below v_th = 0.5 for five steps
    assert z.sum() == 0
    assert encoder(torch.full((3,), 6.0, dtype=torch.float64))[0].tolist() == [1, 1, 1]
    latency = SpikeLatencyLIFEncoder(8, p=LIFParameters(tau_mem_inv=torch.tensor([100.0, 10.0])))
    assert latency(torch.full((2,), 20.0)).sum(0).tolist() == [1.0, 1.0]


def test_backprop_through_spike_latency_into_lif_recurrent() -> None:
    torch.manual_seed(0)
    x = (torch.rand(8, 4) * 2 + 1.05).requires_grad_(True)  # every current > 1 fires once
    spikes = SpikeLatencyLIFEncoder(32)(x)
    assert spikes.shape == (32, 8, 4) and torch.equal(spikes.sum(0), torch.ones(8, 4))
    layer = LIFRecurrent(4, 3)
    out, state = layer(spikes)
    assert out.shape == (32, 8, 3)
    (out.sum() + state.v.sum()).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert layer.input_weights.grad is not None

    y = (torch.rand(8, 4) * 50 + 20).requires_grad_(True)
    chain = torch.nn.Sequential(ConstantCurrentLIFEncoder(16), SpikeLatencyEncoder())
    out, state = LIFRecurrent(4, 3)(chain(y))
    (out.sum() + state.v.sum()).backward()
    assert y.grad is not None and torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0


# --- population encoding -----------------------------------------------------------------------


def test_population_encode_values() -> None:
    expected = torch.tensor(
        [[1, 0.8824969, 0.6065307], [0.8824969, 1, 0.8824969], [0.6065307, 0.8824969, 1]]
    )
    out = population_encode(torch.tensor([0.0, 0.5, 1.0]), 3)
    assert out.shape == (3, 3)
    assert torch.allclose(out, expected, atol=1e-6)
    assert torch.allclose(PopulationEncoder(3)(torch.tensor([0.0, 0.5, 1.0])), expected, atol=1e-6)


def test_population_encode_explicit_scale() -> None:
    """``scale = 2``: centres ``0, 1, 2``; response ``exp(−(x − c)²·2/2) = exp(−(x − c)²)``,
    e.g. ``x = 0.5, c = 1`` gives ``e^{−0.25} = 0.7788008``. ``scale = 0`` is a scale, not
    "unset": all centres at 0 and every distance times 0, so every response is ``kernel(0) = 1``
    (with ``scale=None`` the same input uses ``x.max() = 1``)."""
    x = torch.tensor([0.0, 0.5, 1.0])
    out = population_encode(x, 3, scale=2.0)
    centres = torch.tensor([0.0, 1.0, 2.0])
    assert torch.allclose(out, torch.exp(-((x[:, None] - centres) ** 2)), atol=1e-6)
    assert out[1, 1].item() == pytest.approx(0.7788008, abs=1e-6)
    assert torch.equal(population_encode(x, 3, scale=0), torch.ones(3, 3))
    assert torch.equal(PopulationEncoder(3, scale=0.0)(x), torch.ones(3, 3))
    assert not torch.equal(population_encode(x, 3), torch.ones(3, 3))


def test_population_encode_shapes_and_kernels() -> None:
    x = torch.rand(2, 5, 7)
    assert population_encode(x, 4).shape == (2, 5, 7, 4)
    assert PopulationEncoder(6)(x).shape == (2, 5, 7, 6)
    assert gaussian_rbf(torch.tensor(2.0), 2.0).item() == pytest.approx(math.exp(-0.25))
    assert euclidean_distance(torch.tensor(1.0), torch.tensor(3.0)).item() == 4.0
    linear = population_encode(
        torch.tensor([1.0]),
        2,
        scale=1.0,
        kernel=lambda d: -d,
        distance_function=lambda a, b: (a - b).abs(),
    )
    assert linear.tolist() == [[-1.0, 0.0]]
    assert population_encode(torch.tensor([0, 2]), 3).dtype == torch.float32


def test_population_encode_gradient() -> None:
    x = torch.rand(3, 4, requires_grad=True)
    population_encode(x, 5, scale=1.0).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


# --- random encoders ---------------------------------------------------------------------------


def test_poisson_shapes() -> None:
    x = torch.rand(10, 10)
    assert poisson_encode(x, 100).shape == (100, 10, 10)
    assert PoissonEncoder(100)(x).shape == (100, 10, 10)
    assert poisson_encode_step(x).shape == (10, 10)
    assert PoissonEncoderStep()(x).shape == (10, 10)
    assert signed_poisson_encode(x - 0.5, 20).shape == (20, 10, 10)
    assert SignedPoissonEncoder(20)(x).shape == (20, 10, 10)
    assert signed_poisson_encode_step(x).shape == (10, 10)
    assert SignedPoissonEncoderStep()(x).shape == (10, 10)
    assert bernoulli_encode(x, 7).shape == (7, 10, 10)
    assert BernoulliEncoder(7)(torch.rand(3, 4, 5)).shape == (7, 3, 4, 5)
    # Norse draws float32 uniforms and returns float32 trains whatever the input dtype, so a
    # seed gives the same train for float32 and float64 inputs
    x64 = torch.rand(2, 3, dtype=torch.float64)
    assert poisson_encode(x64, 4).dtype == torch.float32
    assert torch.equal(poisson_encode(x64, 50, seed=2), poisson_encode(x64.float(), 50, seed=2))


def test_default_rates() -> None:
    assert PoissonEncoder(1).f_max == 100 and PoissonEncoderStep().f_max == 1000
    assert SignedPoissonEncoder(1).f_max == 100 and SignedPoissonEncoderStep().f_max == 1000
    # f_max·dt = 1 for the step default: every neuron with x = 1 fires
    assert torch.equal(poisson_encode_step(torch.ones(50)), torch.ones(50))
    assert torch.equal(poisson_encode(torch.zeros(50), 10), torch.zeros(10, 50))


def test_poisson_rate_matches_binomial() -> None:
    """``poisson_encode`` fires with probability ``p = dt·f_max·x`` per step and neuron, so
    the spike count over ``n = seq_length·neurons`` trials is Binomial(n, p): mean ``n·p``,
    std ``sqrt(n·p·(1 − p))``; the count must be within 5 std (fails with prob. < 1e-6)."""
    levels = torch.tensor([0.0, 0.25, 0.5, 1.0])
    x = levels[:, None].expand(4, 2000)
    z = poisson_encode(x, 100, f_max=100, dt=0.001, seed=1234)
    trials = 100 * 2000
    counts = z.sum(dim=(0, 2))
    assert counts[0] == 0
    for level, count in zip(levels.tolist(), counts.tolist(), strict=True):
        _assert_binomial(count, trials, 0.1 * level)
    z = PoissonEncoder(50, f_max=200, dt=0.001, seed=7)(x)
    for level, count in zip(levels.tolist(), z.sum(dim=(0, 2)).tolist(), strict=True):
        _assert_binomial(count, 50 * 2000, 0.2 * level)
    z = poisson_encode_step(torch.full((100000,), 0.3), seed=3)  # p = 0.3 at f_max = 1000
    _assert_binomial(z.sum().item(), 100000, 0.3)


def test_signed_poisson_values_and_rates() -> None:
    """``sign(x)·[U < dt·f_max·|x|]``: negatives give −1 or 0, positives 1 or 0; the count of
    nonzero values is Binomial(n, dt·f_max·|x|)."""
    x = torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0])[:, None].expand(5, 2000)
    z = signed_poisson_encode(x, 100, seed=5)
    assert set(z.unique().tolist()) <= {-1.0, 0.0, 1.0}
    assert (z[:, :2] <= 0).all() and (z[:, 3:] >= 0).all() and (z[:, 2] == 0).all()
    for row, level in enumerate([1.0, 0.5, 0.0, 0.5, 1.0]):
        _assert_binomial(z[:, row].abs().sum().item(), 100 * 2000, 0.1 * level)
    step = signed_poisson_encode_step(torch.tensor([-1.0, 1.0]))
    assert step.tolist() == [-1.0, 1.0]  # dt·f_max = 1 by default


def test_seeds_reproduce_and_differ() -> None:
    x = torch.rand(20, 20)
    a = poisson_encode(x, 50, generator=torch.Generator().manual_seed(0))
    b = poisson_encode(x, 50, generator=torch.Generator().manual_seed(1))
    c = poisson_encode(x, 50, generator=torch.Generator().manual_seed(0))
    assert not torch.equal(a, b) and torch.equal(a, c)
    assert torch.equal(poisson_encode(x, 50, seed=0), a)
    assert torch.equal(poisson_encode(x, 50, generator=0), a)
    for fn in (signed_poisson_encode, bernoulli_encode):
        args = (x - 0.5, 50) if fn is signed_poisson_encode else (x, 50)
        assert torch.equal(fn(*args, seed=3), fn(*args, seed=3))
        assert not torch.equal(fn(*args, seed=3), fn(*args, seed=4))
    for fn in (poisson_encode_step, signed_poisson_encode_step):
        assert torch.equal(fn(x, f_max=100, seed=9), fn(x, f_max=100, seed=9))
        assert not torch.equal(fn(x, f_max=100, seed=9), fn(x, f_max=100, seed=10))


def test_module_seeds() -> None:
    """A module's seed seeds one stream: two modules with the same seed agree call by call;
    successive calls of one module continue the stream (and so differ)."""
    x = torch.rand(20, 20)
    for make in (
        lambda s: PoissonEncoder(30, seed=s),
        lambda s: SignedPoissonEncoder(30, seed=s),
        lambda s: BernoulliEncoder(30, seed=s),
        lambda s: PoissonEncoderStep(f_max=100, seed=s),
        lambda s: SignedPoissonEncoderStep(f_max=100, generator=s),
    ):
        e1, e2, e3 = make(11), make(11), make(12)
        first = e1(x)
        assert torch.equal(first, e2(x))
        assert not torch.equal(first, e3(x))
        assert not torch.equal(e1(x), first)
    generator = torch.Generator().manual_seed(4)
    encoder = PoissonEncoder(30, generator=generator)
    assert torch.equal(encoder(x), poisson_encode(x, 30, seed=4))
    assert "seed=11" in repr(PoissonEncoder(3, seed=11))


def test_generator_argument_errors() -> None:
    x = torch.rand(3)
    with pytest.raises(ValueError, match="either generator or seed"):
        poisson_encode(x, 2, generator=torch.Generator(), seed=1)
    with pytest.raises(ValueError, match="either generator or seed"):
        PoissonEncoder(2, generator=1, seed=1)
    with pytest.raises(TypeError, match="torch.Generator"):
        bernoulli_encode(x, 2, generator="seed")  # type: ignore[arg-type]


def test_bernoulli_values_and_rate() -> None:
    """``z = [U < x]`` with ``U`` in [0, 1): ``x = 0`` never fires, ``x = 1`` always; otherwise
    the count over ``n`` trials is Binomial(n, x)."""
    z = bernoulli_encode(torch.tensor([0.0, 1.0]), 100)
    assert torch.equal(z[:, 0], torch.zeros(100)) and torch.equal(z[:, 1], torch.ones(100))
    x = torch.tensor([0.05, 0.3, 0.5, 0.9])[:, None].expand(4, 1000)
    z = BernoulliEncoder(200, seed=21)(x)
    assert set(z.unique().tolist()) <= {0.0, 1.0}
    for row, level in enumerate([0.05, 0.3, 0.5, 0.9]):
        _assert_binomial(z[:, row].sum().item(), 200 * 1000, level)


@pytest.mark.parametrize("bad", [[-0.1, 0.5], [0.5, 1.5], [float("nan")]])
def test_bernoulli_rejects_values_outside_unit_interval(bad: list[float]) -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        bernoulli_encode(torch.tensor(bad), 3)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        BernoulliEncoder(3)(torch.tensor(bad))


def test_public_names() -> None:
    assert set(encoders.__all__) >= {
        "ConstantCurrentLIFEncoder",
        "constant_current_lif_encode",
        "PoissonEncoder",
        "poisson_encode",
        "PoissonEncoderStep",
        "poisson_encode_step",
        "SignedPoissonEncoder",
        "SignedPoissonEncoderStep",
        "signed_poisson_encode",
        "signed_poisson_encode_step",
        "PopulationEncoder",
        "population_encode",
        "gaussian_rbf",
        "euclidean_distance",
        "SpikeLatencyLIFEncoder",
        "spike_latency_lif_encode",
        "SpikeLatencyEncoder",
        "spike_latency_encode",
        "BernoulliEncoder",
        "bernoulli_encode",
    }


# --- CUDA --------------------------------------------------------------------------------------


@pytest.mark.cuda
@cuda
def test_random_encoders_draw_on_input_device() -> None:
    x = torch.rand(10, 10, device="cuda")
    for out in (
        poisson_encode(x, 5, seed=1),
        poisson_encode_step(x, seed=1),
        signed_poisson_encode(x - 0.5, 5, seed=1),
        signed_poisson_encode_step(x - 0.5, seed=1),
        bernoulli_encode(x, 5, seed=1),
        PoissonEncoder(5, seed=1)(x),
        SignedPoissonEncoder(5)(x),
        BernoulliEncoder(5, seed=2)(x),
    ):
        assert out.device.type == "cuda"
    assert torch.equal(poisson_encode(x, 5, seed=1), poisson_encode(x, 5, seed=1))
    g = torch.Generator(device="cuda").manual_seed(0)
    assert poisson_encode(x, 5, generator=g).device.type == "cuda"
    with pytest.raises(ValueError, match="input's device"):
        poisson_encode(x, 5, generator=torch.Generator().manual_seed(0))


@pytest.mark.cuda
@cuda
def test_deterministic_encoders_on_cuda() -> None:
    x = torch.tensor([0.0, 0.5, 1.0], device="cuda")
    assert population_encode(x, 3).device.type == "cuda"
    z = ConstantCurrentLIFEncoder(10).to("cuda")(torch.full((4,), 16.0, device="cuda"))
    assert z.device.type == "cuda" and z.sum().item() == 40
    z = SpikeLatencyLIFEncoder(128).to("cuda")(1.1 * torch.ones(10, device="cuda"))
    assert z.sum().item() == 10
