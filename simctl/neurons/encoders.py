r"""Encoders: turn values (currents, intensities, probabilities) into spike trains over time.

Every encoder that produces a sequence puts **time in dim 0**: ``(seq_length, *x.shape)``.

Deterministic encoders (LIF-driven):

* :func:`constant_current_lif_encode` / :class:`ConstantCurrentLIFEncoder`: a LIF neuron without
  a synaptic current, driven by the same input every step from ``v = 0``
  (:func:`simctl.neurons.lif.lif_current_encoder`); returns the spikes.
* :func:`spike_latency_lif_encode` / :class:`SpikeLatencyLIFEncoder`: the same, keeping only each
  neuron's **first** spike (the stronger the input, the earlier).
* :func:`spike_latency_encode` / :class:`SpikeLatencyEncoder`: keeps only the first spike along
  dim 0 of an existing spike train.
* :func:`population_encode` / :class:`PopulationEncoder`: a value becomes the responses of
  ``out_features`` tuning curves centred on ``linspace(0, scale, out_features)``:
  ``kernel(distance(x, centre)·scale)`` (Norse's formula, including the factor ``scale``).

Random encoders (``U`` uniform in [0, 1), drawn on the **input's device**):

* :func:`poisson_encode`: ``z = [U < dt·f_max·x]`` per step, x in [0, 1] (rate ``f_max·x``).
* :func:`signed_poisson_encode`: ``sign(x)·[U < dt·f_max·|x|]``, values in {−1, 0, 1}.
* :func:`poisson_encode_step` / :func:`signed_poisson_encode_step`: one step (``f_max = 1000``
  by default, as in Norse).
* :func:`bernoulli_encode` / :class:`BernoulliEncoder` (simctl): ``z = [U < x]``, x in [0, 1]
  is the spike probability of every step; values outside [0, 1] raise ``ValueError``.

Each random encoder takes ``generator`` (a :class:`torch.Generator` on the input's device, or
an ``int`` seed) or ``seed`` (an ``int``). The same seed gives identical trains. A functional
call with a seed reseeds every call; a module given a seed owns one generator per device,
seeded once, so successive calls continue one reproducible stream.

Departures from Norse (spec §9.16): random numbers are drawn on the input's device (Norse's
signed encoder draws on the CPU); ``population_encode`` treats an explicit ``scale=0`` as a
scale (Norse's ``if not scale`` treats it as unset). As in Norse, the uniform numbers are float32
whatever the input's dtype and the Poisson trains are float32 (the signed ones take ``sign(x)``'s
dtype); the LIF-driven trains are float32 unless the parameters are float64 tensors.

Examples:
    >>> import torch
    >>> spike_latency_encode(torch.tensor([[0, 1, 1, 0], [1, 1, 1, 0]])).tolist()
    [[0, 1, 1, 0], [1, 0, 0, 0]]
    >>> population_encode(torch.tensor([0.0, 0.5, 1.0]), 3)[0]
    tensor([1.0000, 0.8825, 0.6065])
    >>> z = PoissonEncoder(20, f_max=1000, seed=0)(torch.ones(3))
    >>> z.shape, z.sum().item()
    (torch.Size([20, 3]), 60.0)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ._keywords import keyword_aliases
from .base import _ParameterMixin
from .lif import LIFParameters, lif_current_encoder

__all__ = [
    "constant_current_lif_encode",
    "spike_latency_lif_encode",
    "spike_latency_encode",
    "gaussian_rbf",
    "euclidean_distance",
    "population_encode",
    "poisson_encode",
    "poisson_encode_step",
    "signed_poisson_encode",
    "signed_poisson_encode_step",
    "bernoulli_encode",
    "ConstantCurrentLIFEncoder",
    "SpikeLatencyLIFEncoder",
    "SpikeLatencyEncoder",
    "PopulationEncoder",
    "PoissonEncoder",
    "PoissonEncoderStep",
    "SignedPoissonEncoder",
    "SignedPoissonEncoderStep",
    "BernoulliEncoder",
]

GeneratorLike = torch.Generator | int | None

_DEFAULT_LIF = LIFParameters()  # immutable; the default of the LIF-driven encoders


def _float(x: torch.Tensor) -> torch.Tensor:
    """``x`` as a floating tensor (integer and bool inputs become float32)."""
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(x)
    return x if torch.is_floating_point(x) else x.to(torch.float32)


def _generator(
    x: torch.Tensor, generator: GeneratorLike, seed: int | None
) -> torch.Generator | None:
    """The generator to draw with: the given one (checked), a fresh seeded one, or None."""
    if generator is not None and seed is not None:
        raise ValueError("pass either generator or seed, not both")
    if isinstance(generator, int) and not isinstance(generator, bool):
        generator, seed = None, generator
    if seed is not None:
        return torch.Generator(device=x.device).manual_seed(int(seed))
    if generator is None:
        return None
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator or an int seed, got {type(generator).__name__}"
        )
    if generator.device.type != x.device.type:
        raise ValueError(
            f"the generator is on {generator.device.type!r} but the input is on "
            f"{x.device.type!r}; random numbers are drawn on the input's device"
        )
    return generator


def _uniform(
    shape: tuple[int, ...], x: torch.Tensor, generator: torch.Generator | None
) -> torch.Tensor:
    # Drawn exactly as Norse draws (default dtype, then float32) whatever x's dtype, so one
    # seed gives the same train for float32 and float64 inputs, and the same as Norse's.
    return torch.rand(shape, device=x.device, generator=generator).float()


def _spike_dtype(p: Any) -> torch.dtype:
    """float32 (Norse's spike buffer), widened by floating tensor parameters (``.to()``)."""
    dtype = torch.float32
    for value in p:
        if isinstance(value, torch.Tensor) and torch.is_floating_point(value):
            dtype = torch.promote_types(dtype, value.dtype)
    return dtype


# ---------------------------------------------------------------------------------------------
# LIF-driven encoders


def constant_current_lif_encode(
    input_current: torch.Tensor,
    seq_length: int,
    p: LIFParameters = _DEFAULT_LIF,
    dt: float = 0.001,
) -> torch.Tensor:
    """Spikes of a LIF neuron (no synaptic current, ``v0 = 0``) driven by a constant current.

    Runs :func:`simctl.neurons.lif.lif_current_encoder` ``seq_length`` times with the same input.

    Returns:
        the spikes, ``(seq_length, *input_current.shape)`` (not a (voltage, spikes) tuple).
    """
    current = _float(input_current)
    dtype = _spike_dtype(p)
    # v starts as float32 zeros, as in Norse (a half input is integrated in float32)
    v = torch.zeros(current.shape, dtype=torch.float32, device=current.device)
    spikes = []
    for _ in range(seq_length):
        z, v = lif_current_encoder(current, v, p, dt)
        spikes.append(z.to(dtype))
    if not spikes:
        return current.new_zeros((0, *current.shape), dtype=dtype)
    return torch.stack(spikes)


def spike_latency_lif_encode(
    input_current: torch.Tensor,
    seq_length: int,
    p: LIFParameters = _DEFAULT_LIF,
    dt: float = 0.001,
) -> torch.Tensor:
    """Like :func:`constant_current_lif_encode`, keeping only each neuron's first spike.

    Returns:
        ``(seq_length, *input_current.shape)`` with at most one spike per neuron.
    """
    current = _float(input_current)
    v = torch.zeros_like(current)
    fired = torch.zeros_like(current, dtype=torch.bool)
    spikes = []
    for _ in range(seq_length):
        z, v = lif_current_encoder(current, v, p, dt)
        spikes.append(torch.where(fired, torch.zeros_like(z), z))
        fired = fired | (z > 0)
    if not spikes:
        return current.new_zeros((0, *current.shape))
    return torch.stack(spikes)


def spike_latency_encode(input_spikes: torch.Tensor) -> torch.Tensor:
    """Keeps only the first spike (nonzero value) of every neuron along dim 0 (time).

    Returns:
        a tensor of the input's shape and dtype; gradients flow through the kept spikes.
    """
    # Norse's rule: a running sum of the kept values masks a neuron once it is > 0 (so a
    # negative value, e.g. from a signed encoder, does not count as a first spike)
    total = torch.zeros(input_spikes.shape[1:], device=input_spikes.device)
    spikes = []
    for step in input_spikes:
        kept = torch.where(total > 0, torch.zeros_like(step), step)
        spikes.append(kept)
        total = total + kept.detach()
    if not spikes:
        return input_spikes.clone()
    return torch.stack(spikes)


def gaussian_rbf(tensor: torch.Tensor, sigma: Any = 1.0) -> torch.Tensor:
    """Gaussian radial basis ``exp(−d/(2σ²))`` of a (squared) distance ``d``."""
    return torch.exp(-tensor / (2 * sigma**2))


def euclidean_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Element-wise squared distance ``(x − y)²`` (Norse's name)."""
    return (x - y).pow(2)


def population_encode(
    input_values: torch.Tensor,
    out_features: int,
    scale: Any = None,
    kernel: Callable[[torch.Tensor], torch.Tensor] = gaussian_rbf,
    distance_function: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = euclidean_distance,
) -> torch.Tensor:
    """Responses of ``out_features`` tuning curves to every value (not spikes).

    Centres are ``linspace(0, scale, out_features)``; the response is
    ``kernel(distance_function(x, centre)·scale)`` (Norse's formula). ``scale=None`` means
    ``x.max()``; an explicit ``0`` is a scale (all centres at 0, so every response is
    ``kernel(0)``).

    Returns:
        ``(*input_values.shape, out_features)``.
    """
    x = _float(input_values)
    if scale is None:
        scale = x.max()
    if isinstance(scale, torch.Tensor) and scale.dim() > 0:  # per-sample scales (simctl)
        steps = torch.linspace(0.0, 1.0, out_features, dtype=x.dtype, device=x.device)
        centres = steps * torch.as_tensor(scale, dtype=x.dtype, device=x.device)
    else:  # Norse's linspace(0, scale, n), rounding included
        end = float(scale)
        centres = torch.linspace(0.0, end, out_features, dtype=x.dtype, device=x.device)
    distances = distance_function(x.unsqueeze(-1), centres) * scale
    return kernel(distances)


# ---------------------------------------------------------------------------------------------
# Random encoders


def poisson_encode(
    input_values: torch.Tensor,
    seq_length: int,
    f_max: float = 100,
    dt: float = 0.001,
    generator: GeneratorLike = None,
    seed: int | None = None,
) -> torch.Tensor:
    """Poisson spike trains: ``z[t] = [U < dt·f_max·x]``, x in [0, 1] (rate ``f_max·x``).

    Returns:
        0/1 floats, ``(seq_length, *input_values.shape)``.
    """
    x = _float(input_values)
    gen = _generator(x, generator, seed)
    noise = _uniform((seq_length, *x.shape), x, gen)
    return (noise < dt * f_max * x).float()


def poisson_encode_step(
    input_values: torch.Tensor,
    f_max: float = 1000,
    dt: float = 0.001,
    generator: GeneratorLike = None,
    seed: int | None = None,
) -> torch.Tensor:
    """One step of :func:`poisson_encode` (note Norse's default ``f_max = 1000``)."""
    x = _float(input_values)
    gen = _generator(x, generator, seed)
    return (_uniform(tuple(x.shape), x, gen) < dt * f_max * x).float()


def signed_poisson_encode(
    input_values: torch.Tensor,
    seq_length: int,
    f_max: float = 100,
    dt: float = 0.001,
    generator: GeneratorLike = None,
    seed: int | None = None,
) -> torch.Tensor:
    """Signed Poisson trains: ``sign(x)·[U < dt·f_max·|x|]``, values in {−1, 0, 1}.

    Returns:
        ``(seq_length, *input_values.shape)``.
    """
    x = _float(input_values)
    gen = _generator(x, generator, seed)
    noise = _uniform((seq_length, *x.shape), x, gen)
    return torch.sign(x) * (noise < dt * f_max * x.abs()).float()


def signed_poisson_encode_step(
    input_values: torch.Tensor,
    f_max: float = 1000,
    dt: float = 0.001,
    generator: GeneratorLike = None,
    seed: int | None = None,
) -> torch.Tensor:
    """One step of :func:`signed_poisson_encode` (default ``f_max = 1000``)."""
    x = _float(input_values)
    gen = _generator(x, generator, seed)
    noise = _uniform(tuple(x.shape), x, gen)
    return torch.sign(x) * (noise < dt * f_max * x.abs()).float()


def bernoulli_encode(
    input_values: torch.Tensor,
    seq_length: int,
    generator: GeneratorLike = None,
    seed: int | None = None,
) -> torch.Tensor:
    """Bernoulli spike trains: every step spikes with probability ``x`` (``z[t] = [U < x]``).

    Raises:
        ValueError: when a value lies outside [0, 1] (or is NaN).

    Returns:
        0/1 floats, ``(seq_length, *input_values.shape)``.
    """
    x = _float(input_values)
    if x.numel() and not bool(((x >= 0) & (x <= 1)).all()):
        finite = x[~torch.isnan(x)]
        lowest = finite.min().item() if finite.numel() else float("nan")
        highest = finite.max().item() if finite.numel() else float("nan")
        raise ValueError(
            "bernoulli_encode expects spike probabilities in the range [0, 1]; got values in "
            f"[{lowest}, {highest}]" + (" and NaN" if torch.isnan(x).any() else "")
        )
    gen = _generator(x, generator, seed)
    return (_uniform((seq_length, *x.shape), x, gen) < x).to(x.dtype)


# ---------------------------------------------------------------------------------------------
# Modules


class _RandomEncoder(torch.nn.Module):
    """Holds a generator, or a seed from which one generator per device is made on first use."""

    def __init__(self, generator: GeneratorLike = None, seed: int | None = None):
        super().__init__()
        if generator is not None and seed is not None:
            raise ValueError("pass either generator or seed, not both")
        if isinstance(generator, int) and not isinstance(generator, bool):
            generator, seed = None, generator
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(
                "generator must be a torch.Generator or an int seed, "
                f"got {type(generator).__name__}"
            )
        self.generator = generator
        self.seed = seed
        self._generators: dict[str, torch.Generator] = {}

    def _generator_for(self, x: torch.Tensor) -> torch.Generator | None:
        if self.seed is None:
            return _generator(_float(x), self.generator, None)
        key = str(x.device)
        if key not in self._generators:
            self._generators[key] = torch.Generator(device=x.device).manual_seed(self.seed)
        return self._generators[key]

    def _random_repr(self) -> str:
        if self.seed is not None:
            return f", seed={self.seed}"
        return ", generator=..." if self.generator is not None else ""


class _LIFEncoder(_ParameterMixin, torch.nn.Module):
    """Shared module body of the LIF-driven encoders: ``seq_length``, ``p`` (buffers), ``dt``."""

    def __init__(self, seq_length: int, p: LIFParameters = _DEFAULT_LIF, dt: float = 0.001):
        super().__init__()
        self.seq_length = seq_length
        self.p = p
        self.dt = dt

    def extra_repr(self) -> str:
        return f"seq_length={self.seq_length}, p={self._p_repr()}, dt={self.dt}"


class ConstantCurrentLIFEncoder(_LIFEncoder):
    """Module form of :func:`constant_current_lif_encode`.

    Args:
        seq_length: number of steps.
        p: the LIF parameters (registered as buffers, so they move with ``.to()``).
        dt: the integration step.

    Examples:
        >>> import torch
        >>> ConstantCurrentLIFEncoder(10)(torch.tensor([0.0, 16.0]))[-1].tolist()
        [0.0, 1.0]
    """

    def forward(self, input_currents: torch.Tensor) -> torch.Tensor:
        return constant_current_lif_encode(input_currents, self.seq_length, self.p, self.dt)


class SpikeLatencyLIFEncoder(_LIFEncoder):
    """Module form of :func:`spike_latency_lif_encode` (first spike of a constant-current LIF).

    Args:
        seq_length: number of steps.
        p: the LIF parameters (registered as buffers).
        dt: the integration step.
    """

    def forward(self, input_current: torch.Tensor) -> torch.Tensor:
        return spike_latency_lif_encode(input_current, self.seq_length, self.p, self.dt)


class SpikeLatencyEncoder(torch.nn.Module):
    """Module form of :func:`spike_latency_encode`: keeps the first spike along dim 0.

    Examples:
        >>> import torch
        >>> encoder = torch.nn.Sequential(ConstantCurrentLIFEncoder(2), SpikeLatencyEncoder())
        >>> encoder(torch.tensor([[0.0, 100, 100], [100, 100, 100]])).tolist()
        [[[0.0, 1.0, 1.0], [1.0, 1.0, 1.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]
    """

    def forward(self, input_spikes: torch.Tensor) -> torch.Tensor:
        return spike_latency_encode(input_spikes)


class PopulationEncoder(torch.nn.Module):
    """Module form of :func:`population_encode`.

    Args:
        out_features: number of tuning curves per value.
        scale: the largest centre; ``None`` uses each input's maximum.
        kernel: the tuning curve of a distance (default :func:`gaussian_rbf`).
        distance_function: the distance (default :func:`euclidean_distance`, squared).
    """

    def __init__(
        self,
        out_features: int,
        scale: Any = None,
        kernel: Callable[[torch.Tensor], torch.Tensor] = gaussian_rbf,
        distance_function: Callable[
            [torch.Tensor, torch.Tensor], torch.Tensor
        ] = euclidean_distance,
    ):
        super().__init__()
        self.out_features = out_features
        self.scale = scale
        self.kernel = kernel
        self.distance_function = distance_function

    def extra_repr(self) -> str:
        return f"out_features={self.out_features}, scale={self.scale}"

    def forward(self, input_tensor: torch.Tensor) -> torch.Tensor:
        return population_encode(
            input_tensor, self.out_features, self.scale, self.kernel, self.distance_function
        )


class _PoissonTrainEncoder(_RandomEncoder):
    """Shared module body of the Poisson encoders over ``seq_length`` steps."""

    _encode: Callable[..., torch.Tensor]

    def __init__(
        self,
        seq_length: int,
        f_max: float = 100,
        dt: float = 0.001,
        generator: GeneratorLike = None,
        seed: int | None = None,
    ):
        super().__init__(generator, seed)
        self.seq_length = seq_length
        self.f_max = f_max
        self.dt = dt

    def extra_repr(self) -> str:
        return (
            f"seq_length={self.seq_length}, f_max={self.f_max}, dt={self.dt}" + self._random_repr()
        )

    @keyword_aliases(x="input_tensor")
    def forward(self, input_tensor: torch.Tensor) -> torch.Tensor:
        return self._encode(
            input_tensor,
            self.seq_length,
            self.f_max,
            self.dt,
            generator=self._generator_for(input_tensor),
        )


class _PoissonStepEncoder(_RandomEncoder):
    """Shared module body of the one-step Poisson encoders."""

    _encode: Callable[..., torch.Tensor]

    def __init__(
        self,
        f_max: float = 1000,
        dt: float = 0.001,
        generator: GeneratorLike = None,
        seed: int | None = None,
    ):
        super().__init__(generator, seed)
        self.f_max = f_max
        self.dt = dt

    def extra_repr(self) -> str:
        return f"f_max={self.f_max}, dt={self.dt}" + self._random_repr()

    @keyword_aliases(x="input_tensor")
    def forward(self, input_tensor: torch.Tensor) -> torch.Tensor:
        return self._encode(
            input_tensor, self.f_max, self.dt, generator=self._generator_for(input_tensor)
        )


class PoissonEncoder(_PoissonTrainEncoder):
    """Module form of :func:`poisson_encode`.

    Args:
        seq_length: number of steps.
        f_max: rate for ``x = 1`` (in 1/time unit of ``dt``).
        dt: the step.
        generator: a :class:`torch.Generator` on the input's device, or an int seed.
        seed: an int seed (one generator per device, seeded once).
    """

    _encode = staticmethod(poisson_encode)


class PoissonEncoderStep(_PoissonStepEncoder):
    """Module form of :func:`poisson_encode_step` (one step; default ``f_max = 1000``)."""

    _encode = staticmethod(poisson_encode_step)


class SignedPoissonEncoder(_PoissonTrainEncoder):
    """Module form of :func:`signed_poisson_encode` (values in {−1, 0, 1})."""

    _encode = staticmethod(signed_poisson_encode)


class SignedPoissonEncoderStep(_PoissonStepEncoder):
    """Module form of :func:`signed_poisson_encode_step` (default ``f_max = 1000``)."""

    _encode = staticmethod(signed_poisson_encode_step)


class BernoulliEncoder(_RandomEncoder):
    """Module form of :func:`bernoulli_encode`: values in [0, 1] are per-step probabilities.

    Args:
        seq_length: number of steps.
        generator: a :class:`torch.Generator` on the input's device, or an int seed.
        seed: an int seed (one generator per device, seeded once).

    Examples:
        >>> import torch
        >>> BernoulliEncoder(4, seed=1)(torch.tensor([0.0, 1.0])).tolist()
        [[0.0, 1.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0]]
    """

    def __init__(self, seq_length: int, generator: GeneratorLike = None, seed: int | None = None):
        super().__init__(generator, seed)
        self.seq_length = seq_length

    def extra_repr(self) -> str:
        return f"seq_length={self.seq_length}" + self._random_repr()

    def forward(self, input_tensor: torch.Tensor) -> torch.Tensor:
        return bernoulli_encode(
            input_tensor, self.seq_length, generator=self._generator_for(input_tensor)
        )
