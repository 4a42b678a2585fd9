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
    """White noise ``mean + std·ξ(t)``: each step draws ``mean + std·N(0,1)/√dt`` (``std`` in
    the current's unit·√ms, so the charge's variance per ms does not depend on ``dt``); OU: the
    exact update with time constant ``tau`` and stationary standard deviation ``std``."""

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
            # Euler–Maruyama: the step integrates I·dt, whose noise part has std std·√dt
            return on * (s.mean + (s.std / math.sqrt(self.dt)) * self._normal((n, self.width)))
        decay = math.exp(-self.dt / s.tau)
        kick = s.std * math.sqrt(1 - decay * decay)
        xi = self._normal((n, self.width))
        if self.x is None:
            self.x = s.mean + s.std * self._normal((self.width,))
        # y = x − mean obeys y_(i+1) = decay·y_i + kick·xi_i: the whole block in a log-depth
        # scan (Hillis-Steele; factors decay^(2^j) <= 1, so nothing grows), no loop per step
        y = torch.cat([(self.x - s.mean)[None], kick * xi])
        shift, factor = 1, decay
        while shift <= n:
            y[shift:] = y[shift:] + factor * y[:-shift]
            shift, factor = 2 * shift, factor * factor
        self.x = s.mean + y[n]
        return on * (s.mean + y[:n])


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
    """Rate codes of the library (:mod:`simctl.neurons.encoders`), one step per row."""

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    #: elements of the (rows, size, fan_in) spike trains materialised at once
    chunk_elements = 1 << 22

    def __call__(self, stimulus, k0, k1):
        values = stimulus.block(k0, k1).to(self.dtype)
        # rows of the block at a time, so memory stays bounded whatever fan_in (the random
        # draws fill row after row, so the numbers are those of one draw of the whole block)
        rows = max(1, self.chunk_elements // max(1, self.size * self.fan_in))
        parts = []
        for start in range(0, values.shape[0], rows):
            x = self.expand(values[start : start + rows])
            # the library's encoders return float32 spike trains (as Norse's): count in the
            # run's dtype before weighting, so a float64 run stays float64
            parts.append(self.spec.weight * self.encode(x).to(self.dtype).sum(-1))
        return parts[0] if len(parts) == 1 else torch.cat(parts)


class _Poisson(_Rate):
    def encode(self, x):
        from simctl.neurons.encoders import poisson_encode

        # the library's rates are per second, dt here in ms
        return poisson_encode(x, 1, self.spec.f_max, self.dt / 1000.0, generator=self.generator)[0]


class _SignedPoisson(_Rate):
    def encode(self, x):
        from simctl.neurons.encoders import signed_poisson_encode

        return signed_poisson_encode(
            x, 1, self.spec.f_max, self.dt / 1000.0, generator=self.generator
        )[0]


class _Bernoulli(_Rate):
    def encode(self, x):
        from simctl.neurons.encoders import bernoulli_encode

        try:
            return bernoulli_encode(x, 1, generator=self.generator)[0]
        except ValueError as error:
            raise ConfigError(
                "encoder", "bernoulli", f"input values must lie in [0, 1] ({error})"
            ) from None


class _Windowed(Encoder):
    """Holds the stimulus at its value at each window start (steps ``k`` with
    ``k % window == 0``); latency codes (``first_only``) keep the first spike of every train
    in each window. The stimulus is evaluated once per block; the loop runs per window."""

    first_only = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.x = None  #: the held value of the current window, (size, fan_in)
        self.fired = None  #: trains that spiked in the current window (first_only)

    def start_window(self) -> None:
        """A new window begins (``self.x`` holds its value)."""

    def spikes(self, n: int) -> torch.Tensor:
        """The next ``n`` steps of the current window, ``(n, size, fan_in)``."""
        raise NotImplementedError

    def __call__(self, stimulus, k0, k1):
        values = stimulus.block(k0, k1)
        n = k1 - k0
        starts = set(range(-k0 % self.window, n, self.window))  # rows where a window starts
        if self.x is None:
            starts.add(0)  # the first block starts a window wherever it begins
        bounds = sorted({0, n, *starts})
        out = []
        for r0, r1 in zip(bounds, bounds[1:], strict=False):
            if r0 in starts:
                self.x = self.expand(values[r0 : r0 + 1].to(self.dtype))[0]
                self.fired = torch.zeros(self.x.shape, dtype=torch.bool, device=self.device)
                self.start_window()
            z = self.spikes(r1 - r0).bool()
            if not self.first_only:
                out.append(z.to(self.dtype).sum(-1))
                continue
            # the first spike of each train that has not fired yet in this window, counted
            # per neuron at its step
            new = z.any(0) & ~self.fired
            self.fired |= new
            step = z.to(torch.uint8).argmax(0)  # the first maximum: the first spike
            neuron = torch.arange(self.size, device=self.device)[:, None].expand_as(step)
            count = torch.zeros((r1 - r0, self.size), dtype=self.dtype, device=self.device)
            ones = torch.ones((), dtype=self.dtype, device=self.device).expand(int(new.sum()))
            out.append(count.index_put_((step[new], neuron[new]), ones, accumulate=True))
        return self.spec.weight * torch.cat(out)


class _LIFEncoder(_Windowed):
    """``lif_current_encoder`` stepped from v = 0 at each window start (x held per window)."""

    def __init__(self, *args, **kwargs):
        from simctl.neurons.lif import LIFParameters

        super().__init__(*args, **kwargs)
        s = self.spec
        self.p = LIFParameters(
            tau_mem_inv=s.tau_mem_inv, v_leak=s.v_leak, v_th=s.v_th, v_reset=s.v_reset
        )
        self.v = None

    def start_window(self):
        self.v = torch.zeros_like(self.x)

    def spikes(self, n):
        from simctl.neurons.lif import lif_current_encoder

        out = []
        for _ in range(n):  # a recurrence in v: one step after another
            z, self.v = lif_current_encoder(self.x, self.v, self.p, self.dt)
            out.append(z)
        return torch.stack(out)


class _LIFLatency(_LIFEncoder):
    first_only = True


class _PoissonLatency(_Windowed):
    first_only = True

    def spikes(self, n):
        from simctl.neurons.encoders import poisson_encode

        return poisson_encode(
            self.x, n, self.spec.f_max, self.dt / 1000.0, generator=self.generator
        )


class _Population(Encoder):
    def __call__(self, stimulus, k0, k1):
        from simctl.neurons.encoders import population_encode

        x = stimulus.block(k0, k1).to(self.dtype)[:, 0]
        return self.spec.weight * population_encode(x, self.size, self.spec.scale).to(self.dtype)


ENCODERS: dict[str, type[Encoder]] = {
    "poisson": _Poisson,
    "signed_poisson": _SignedPoisson,
    "bernoulli": _Bernoulli,
    "constant_current_lif": _LIFEncoder,
    "spike_latency_lif": _LIFLatency,
    "spike_latency": _PoissonLatency,
    "population": _Population,
}


def build_encoder(spec, size, dt, n_steps, dtype, device, generator=None) -> Encoder | None:
    """The encoder named by ``spec.name``, or ``None`` for ``none``."""
    if spec is None or spec.name == "none":
        return None
    return ENCODERS[spec.name](spec, size, dt, n_steps, dtype, device, generator)
