"""Input currents and encoders, evaluated block by block on the time grid ``t_k = k·dt``.

A :class:`Stimulus` returns the input for steps ``k0 … k1−1`` as a ``(T, size)`` (or ``(T, 1)``,
broadcast) tensor: the value applied during the step from ``t_k`` to ``t_(k+1)`` is the protocol
evaluated at ``t_k``. Window edges compare with a tolerance of ``1e-6·dt`` so that the strict
(``<``) and non-strict (``≤``) conditions of published protocols select exactly the grid points
they select in the original scripts (e.g. Izhikevich 2004 Fig. 1I: ``10 < t < 13`` at
``dt = 0.2`` is the 14 points 10.2 … 12.8).

An :class:`Encoder` turns the protocol's values into spike trains (the library encoders of
:mod:`simctl.neurons.encoders`) and returns the current they inject: ``weight`` per spike,
summed over ``fan_in`` trains per neuron. Random protocols and encoders draw from the run's
``torch.Generator`` only, so a seed fixes the data.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from simctl.config.errors import ConfigError

__all__ = ["Stimulus", "Encoder", "build_stimulus", "build_encoder"]


class Stimulus:
    """Base: zero input."""

    def __init__(
        self,
        spec: Any,
        size: int,
        dt: float,
        dtype: torch.dtype,
        device: Any,
        generator: torch.Generator | None = None,
    ):
        self.spec = spec
        self.size = size
        self.dt = float(dt)
        self.dtype = dtype
        self.device = device
        self.generator = generator
        self.eps = 1e-6 * self.dt

    def times(self, k0: int, k1: int) -> torch.Tensor:
        """``t_k = k·dt`` (ms) as a float64 column ``(T, 1)``."""
        return (torch.arange(k0, k1, dtype=torch.float64, device=self.device) * self.dt)[:, None]

    def after(self, t: torch.Tensor, start: float | None, inclusive: bool) -> torch.Tensor:
        if start is None:
            return torch.ones_like(t, dtype=torch.bool)
        return t >= start - self.eps if inclusive else t > start + self.eps

    def before(self, t: torch.Tensor, stop: float | None, inclusive: bool) -> torch.Tensor:
        if stop is None:
            return torch.ones_like(t, dtype=torch.bool)
        return t <= stop + self.eps if inclusive else t < stop - self.eps

    def amplitude(self, value: Any) -> torch.Tensor:
        """A number, or one value per neuron, as a ``(1, size|1)`` row."""
        return torch.as_tensor(value, dtype=torch.float64, device=self.device).reshape(1, -1)

    def values(self, t: torch.Tensor, k0: int) -> torch.Tensor:
        return torch.zeros_like(t)

    def block(self, k0: int, k1: int) -> torch.Tensor:
        """The input of steps ``k0 … k1−1``: ``(T, size)`` or ``(T, 1)``."""
        return self.values(self.times(k0, k1), k0).to(self.dtype)


class Constant(Stimulus):
    def values(self, t, k0):
        return torch.zeros_like(t) + self.amplitude(self.spec.amplitude)


class Step(Stimulus):
    def values(self, t, k0):
        s = self.spec
        on = self.after(t, s.start, s.include_start) & self.before(t, s.stop, s.include_stop)
        return s.baseline + on * self.amplitude(s.amplitude)


class Pulses(Stimulus):
    def values(self, t, k0):
        s = self.spec
        rel = t - s.start
        index = torch.floor((rel + self.eps) / s.period)
        phase = rel - index * s.period
        on = (rel >= -self.eps) & (phase < s.width - self.eps)
        if s.count is not None:
            on &= index < s.count
        return s.baseline + on * self.amplitude(s.amplitude)


class Ramp(Stimulus):
    def values(self, t, k0):
        s = self.spec
        started = self.after(t, s.start, True)
        running = started & self.before(t, s.stop, True)
        out = s.baseline + running * (s.slope * (t - s.start))
        if s.hold and s.stop is not None:
            done = ~self.before(t, s.stop, True)
            out = out + done * (s.slope * (s.stop - s.start))
        return out


class Sine(Stimulus):
    def values(self, t, k0):
        s = self.spec
        on = self.after(t, s.start, True)
        wave = s.offset + self.amplitude(s.amplitude) * torch.sin(
            2 * math.pi * s.frequency * (t - s.start) / 1000.0 + s.phase
        )
        return on * wave


class Noise(Stimulus):
    """White noise: N(mean, std²) afresh each step; OU: exact update with time constant tau."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.width = 1 if self.spec.shared else self.size
        self.x = None  # OU state

    def _normal(self, shape):
        return torch.randn(shape, dtype=torch.float64, device=self.device, generator=self.generator)

    def values(self, t, k0):
        s = self.spec
        on = self.after(t, s.start, True)
        n = t.shape[0]
        if s.kind == "white":
            return on * (s.mean + s.std * self._normal((n, self.width)))
        decay = math.exp(-self.dt / s.tau)
        kick = s.std * math.sqrt(1 - decay * decay)
        xi = self._normal((n, self.width))
        if self.x is None:
            self.x = s.mean + s.std * self._normal((self.width,))
        out = torch.empty((n, self.width), dtype=torch.float64, device=self.device)
        x = self.x
        for i in range(n):
            out[i] = x
            x = s.mean + (x - s.mean) * decay + kick * xi[i]
        self.x = x
        return on * out


class Piecewise(Stimulus):
    def values(self, t, k0):
        s = self.spec
        out = torch.full_like(t, float(s.baseline))
        for seg in s.segments:
            inside = self.after(t, seg.start, seg.include_start) & self.before(
                t, seg.end, seg.include_end
            )
            origin = seg.origin if seg.origin is not None else (seg.start or 0.0)
            out = torch.where(inside, seg.value + seg.slope * (t - origin), out)
        return out * s.scale


STIMULI: dict[str, type[Stimulus]] = {
    "none": Stimulus,
    "constant": Constant,
    "step": Step,
    "pulses": Pulses,
    "ramp": Ramp,
    "sine": Sine,
    "noise": Noise,
    "piecewise": Piecewise,
}


def build_stimulus(spec, size, dt, dtype, device, generator=None) -> Stimulus:
    """The protocol named by ``spec.protocol`` (see :data:`STIMULI`)."""
    return STIMULI[spec.protocol](spec, size, dt, dtype, device, generator)


# ---------------------------------------------------------------------------------------------
# encoders


class Encoder:
    """Turns the stimulus of a block into the current of spikes through ``weight``."""

    def __init__(self, spec, size, dt, n_steps, dtype, device, generator=None):
        self.spec = spec
        self.size = size
        self.dt = float(dt)
        self.n_steps = n_steps
        self.dtype = dtype
        self.device = device
        self.generator = generator
        self.fan_in = getattr(spec, "fan_in", 1)
        window = getattr(spec, "window", None)
        self.window = n_steps if window is None else max(1, round(window / self.dt))

    def expand(self, x: torch.Tensor) -> torch.Tensor:
        """``(T, size|1)`` values to ``(T, size, fan_in)``."""
        return x.expand(x.shape[0], self.size).unsqueeze(-1).expand(-1, -1, self.fan_in)

    def __call__(self, stimulus: Stimulus, k0: int, k1: int) -> torch.Tensor:
        raise NotImplementedError


class _Rate(Encoder):
    def encode(self, x):
        from simctl.neurons import encoders

        dt_s = self.dt / 1000.0  # the library's rates are per second, dt here in ms
        if self.spec.name == "poisson":
            return encoders.poisson_encode(x, 1, self.spec.f_max, dt_s, generator=self.generator)[0]
        if self.spec.name == "signed_poisson":
            return encoders.signed_poisson_encode(
                x, 1, self.spec.f_max, dt_s, generator=self.generator
            )[0]
        try:
            return encoders.bernoulli_encode(x, 1, generator=self.generator)[0]
        except ValueError as error:
            raise ConfigError(
                "encoder", "bernoulli", f"input values must lie in [0, 1] ({error})"
            ) from None

    def __call__(self, stimulus, k0, k1):
        x = self.expand(stimulus.block(k0, k1).to(self.dtype))
        # the library's encoders return float32 spike trains (as Norse's): count in the run's
        # dtype before weighting, so a float64 run stays float64
        return self.spec.weight * self.encode(x).to(self.dtype).sum(-1)


class _FirstInWindow(Encoder):
    """Keeps the first spike of every train in each window (latency codes)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fired = None
        self.v = None

    first_only = False

    def spikes(self, k: int) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, stimulus, k0, k1):
        out = []
        for k in range(k0, k1):
            if k % self.window == 0 or self.fired is None:
                self.fired = torch.zeros(
                    (self.size, self.fan_in), dtype=torch.bool, device=self.device
                )
                self.v = None
                self.x = self.expand(stimulus.block(k, k + 1).to(self.dtype))[0]
            z = self.spikes(k).bool()
            if self.first_only:
                z = z & ~self.fired
                self.fired |= z
            out.append(z.to(self.dtype).sum(-1))
        return self.spec.weight * torch.stack(out)


class _LIFEncoder(_FirstInWindow):
    """``lif_current_encoder`` stepped from v = 0 at each window start (x held per window)."""

    def __init__(self, *args, **kwargs):
        from simctl.neurons.lif import LIFParameters

        super().__init__(*args, **kwargs)
        s = self.spec
        self.p = LIFParameters(
            tau_mem_inv=s.tau_mem_inv, v_leak=s.v_leak, v_th=s.v_th, v_reset=s.v_reset
        )
        self.first_only = s.name == "spike_latency_lif"

    def spikes(self, k):
        from simctl.neurons.lif import lif_current_encoder

        if self.v is None:
            self.v = torch.zeros_like(self.x)
        z, self.v = lif_current_encoder(self.x, self.v, self.p, self.dt)
        return z


class _PoissonLatency(_FirstInWindow):
    first_only = True

    def spikes(self, k):
        from simctl.neurons.encoders import poisson_encode

        return poisson_encode(
            self.x, 1, self.spec.f_max, self.dt / 1000.0, generator=self.generator
        )[0]


class _Population(Encoder):
    def __call__(self, stimulus, k0, k1):
        from simctl.neurons.encoders import population_encode

        x = stimulus.block(k0, k1).to(self.dtype)[:, 0]
        return self.spec.weight * population_encode(x, self.size, self.spec.scale).to(self.dtype)


ENCODERS: dict[str, type[Encoder]] = {
    "poisson": _Rate,
    "signed_poisson": _Rate,
    "bernoulli": _Rate,
    "constant_current_lif": _LIFEncoder,
    "spike_latency_lif": _LIFEncoder,
    "spike_latency": _PoissonLatency,
    "population": _Population,
}


def build_encoder(spec, size, dt, n_steps, dtype, device, generator=None) -> Encoder | None:
    """The encoder named by ``spec.name``, or ``None`` for ``none``."""
    if spec is None or spec.name == "none":
        return None
    return ENCODERS[spec.name](spec, size, dt, n_steps, dtype, device, generator)
