"""Dataclass schemas of simctl's config groups (no torch, no Hydra at import).

Every group node is checked against one of these dataclasses by :func:`simctl.config.validate`
right after Hydra composes the config and before anything is built: an unknown key, a wrong
type or a value outside an allowed set is a :class:`ConfigError` naming the key, the value and
what is allowed.

Units: times in ms, rates in Hz, voltages in mV; Izhikevich's current is dimensionless.

Neuron nodes are the exception: their schema is the option's own YAML file
(``configs/neuron/<model>.yaml``), which lists every parameter of the model with its default and
unit, so the library's Parameters type and the config stay one source of truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("float32", "float64")


@dataclass
class Simulation:
    """``simulation.*``: the time grid and where it runs."""

    dt: float = 0.25  #: ms, the integration step
    duration: float = 500.0  #: ms; steps = duration/dt (+1 with include_end)
    include_end: bool = False  #: MATLAB grid ``0:dt:duration`` inclusive (one more step)
    steps: int | None = None  #: exact number of steps (overrides duration)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    dtype: Literal["float32", "float64"] = "float32"
    seed: int = 0
    block_ms: float | None = None  #: ms simulated per block (None: ~20k steps·neurons adaptive)
    progress: bool | None = None  #: tqdm bar: None = on for a TTY and runs > 1 s


@dataclass
class Record:
    """``record.*``: what goes to ``/state`` and ``/input`` besides the spikes."""

    variables: list[str] | None = None  #: state variables (None: all of the model's)
    neurons: Any = 10  #: first N neurons (int), an explicit list of ids, or "all"
    every: int = 1  #: record every k-th step
    input: bool = True  #: write /input/<pop>/current
    connectivity: bool = False  #: write every synapse to /projections/<name> (SONATA names)


@dataclass
class Plot:
    """``plot.*``: the figures written next to sim.h5."""

    enabled: bool = True
    raster: bool = True
    traces: bool = True
    max_traces: int = 3  #: at most this many neurons in traces.png
    format: Literal["png", "pdf", "svg"] = "png"
    dpi: int = 150
    rate_bin_ms: float | None = None  #: population-rate bin (ms); None picks one


@dataclass
class Population:
    """``population.*`` (short form) and the shared fields of ``populations.<name>``."""

    name: str | None = None  #: defaults to the preset's name, else the neuron's
    size: int = 1  #: number of neurons
    initial_state: dict[str, Any] = field(default_factory=dict)  #: {var: value or distribution}


@dataclass
class PresetInfo:
    """``preset_info``: what a preset says about itself."""

    name: str = ""
    model: str = ""
    source: str = ""
    description: str = ""


@dataclass
class Experiment:
    """``experiment.*``: set by files of the ``experiment`` group."""

    name: str = ""
    description: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    #: a failing published-property check makes ``simctl run`` exit 1 (after writing every
    #: file); ``false`` reports the failures and exits 0
    strict: bool = True


# ---------------------------------------------------------------------------------------------
# input protocols (discriminated by ``protocol``)


@dataclass
class InputNone:
    protocol: Literal["none"] = "none"


@dataclass
class InputConstant:
    protocol: Literal["constant"] = "constant"
    amplitude: Any = None  #: current (number or per-neuron list); None: the model's default


@dataclass
class InputStep:
    """``baseline`` everywhere, ``baseline + amplitude`` while start (<|≤) t (<|≤) stop."""

    protocol: Literal["step"] = "step"
    amplitude: Any = None  #: current added during the step; None: the model's default
    start: float = 20.0  #: ms
    stop: float | None = None  #: ms (None: until the end)
    baseline: float = 0.0
    include_start: bool = True  #: t ≥ start (True) or t > start (False)
    include_stop: bool = False  #: t ≤ stop (True) or t < stop (False)


@dataclass
class InputPulses:
    """``count`` pulses of ``width`` ms every ``period`` ms from ``start``."""

    protocol: Literal["pulses"] = "pulses"
    amplitude: Any = None  #: None: the model's default current
    start: float = 20.0  #: ms
    width: float = 5.0  #: ms
    period: float = 50.0  #: ms
    count: int | None = None  #: None: until the end
    baseline: float = 0.0


@dataclass
class InputRamp:
    """``baseline`` before ``start``; ``baseline + slope·(t − start)`` from start to stop."""

    protocol: Literal["ramp"] = "ramp"
    slope: float = 0.05  #: current per ms
    start: float = 20.0  #: ms
    stop: float | None = None  #: ms (None: until the end)
    baseline: float = 0.0
    hold: bool = False  #: keep the final value after stop (else back to baseline)


@dataclass
class InputSine:
    """``offset + amplitude·sin(2π·frequency·(t − start)/1000 + phase)`` from ``start``."""

    protocol: Literal["sine"] = "sine"
    amplitude: Any = None  #: None: half the model's default current
    frequency: float = 10.0  #: Hz
    phase: float = 0.0  #: rad
    offset: float | None = None  #: None: the model's default current
    start: float = 0.0  #: ms


@dataclass
class InputNoise:
    """White noise ``I = mean + std·ξ(t)`` (``ξ`` unit white noise: each step draws
    ``mean + std·N(0, 1)/√dt``, Euler–Maruyama, so ``std`` is in the current's unit·√ms) or
    Ornstein-Uhlenbeck noise (exact update; ``std`` is the stationary standard deviation, in
    the current's unit, and ``tau`` the correlation time)."""

    protocol: Literal["noise"] = "noise"
    kind: Literal["white", "ou"] = "white"
    mean: float | None = None  #: None: the model's default
    std: float | None = None  #: white: current·√ms; OU: current (None: the model's default)
    tau: float = 10.0  #: ms (OU only)
    start: float = 0.0  #: ms
    shared: bool = False  #: one noise trace for all neurons


@dataclass
class Segment:
    """One window of the piecewise protocol: ``value + slope·(t − origin)`` inside it.

    ``start``/``end`` are ms (None: unbounded); ``include_start``/``include_end`` choose ≤ or <.
    ``origin`` defaults to ``start`` (ramps relative to the onset). Later segments win where
    windows overlap; outside every window the input is ``baseline``.
    """

    start: float | None = None
    end: float | None = None
    include_start: bool = False
    include_end: bool = False
    value: float = 0.0
    slope: float = 0.0  #: current per ms
    origin: float | None = None  #: ms


@dataclass
class InputPiecewise:
    protocol: Literal["piecewise"] = "piecewise"
    baseline: float = 0.0
    scale: float = 1.0  #: multiplies the whole protocol (sweep it like an amplitude)
    segments: list[Segment] = field(default_factory=list)


@dataclass
class InputPoisson:
    """``n`` independent Poisson sources per neuron at ``rate_hz``, each spike a jump of
    ``weight`` into the state variable ``target`` (drawn as one count per neuron and step)."""

    protocol: Literal["poisson"] = "poisson"
    n: int = 1000  #: sources per neuron
    rate_hz: float = 10.0  #: Hz per source
    weight: float = 0.1  #: jump per input spike, in the target's unit
    target: str = "v"  #: a variable the model accepts jumps into


INPUTS: dict[str, type] = {
    "none": InputNone,
    "constant": InputConstant,
    "step": InputStep,
    "pulses": InputPulses,
    "ramp": InputRamp,
    "sine": InputSine,
    "noise": InputNoise,
    "piecewise": InputPiecewise,
    "poisson": InputPoisson,
}

# ---------------------------------------------------------------------------------------------
# encoders (discriminated by ``name``)


@dataclass
class EncoderNone:
    name: Literal["none"] = "none"


@dataclass
class EncoderPoisson:
    """Each neuron gets ``fan_in`` Poisson trains of rate ``f_max·x`` through ``weight``."""

    name: Literal["poisson"] = "poisson"
    f_max: float = 100.0  #: Hz at x = 1
    fan_in: int = 50  #: encoder channels per neuron
    weight: float | None = None  #: per spike, in the jumped unit (None: the model default)


@dataclass
class EncoderSignedPoisson(EncoderPoisson):
    """Like poisson, with the sign of x (rate ``f_max·|x|``)."""

    name: Literal["signed_poisson"] = "signed_poisson"


@dataclass
class EncoderBernoulli:
    """Every step spikes with probability x (x in [0, 1])."""

    name: Literal["bernoulli"] = "bernoulli"
    fan_in: int = 10
    weight: float | None = None  #: per spike, in the jumped unit (None: the model default)


@dataclass
class EncoderConstantCurrentLIF:
    """A LIF driven by x (constant within each ``window``) emits the spikes."""

    name: Literal["constant_current_lif"] = "constant_current_lif"
    tau_mem_inv: float = 0.1  #: 1/ms
    v_leak: float = 0.0
    v_th: float = 0.25  #: x must exceed it to spike
    v_reset: float = 0.0
    window: float | None = None  #: ms per presentation (None: the whole run)
    fan_in: int = 1
    weight: float | None = None  #: per spike, in the jumped unit (None: the model default)


@dataclass
class EncoderSpikeLatencyLIF(EncoderConstantCurrentLIF):
    """Like constant_current_lif but only the first spike of each window (latency code)."""

    name: Literal["spike_latency_lif"] = "spike_latency_lif"
    window: float | None = 50.0  #: ms per presentation
    weight: float | None = None  #: per spike, in the jumped unit (None: the model default)


@dataclass
class EncoderSpikeLatency:
    """Poisson trains reduced to their first spike in each ``window`` (latency code)."""

    name: Literal["spike_latency"] = "spike_latency"
    f_max: float = 100.0  #: Hz at x = 1
    window: float | None = 50.0  #: ms
    fan_in: int = 10
    weight: float | None = None  #: per spike, in the jumped unit (None: the model default)


@dataclass
class EncoderPopulation:
    """A scalar x is spread over the population by Gaussian tuning curves (a current, not
    spikes): neuron i gets ``weight·exp(-(x − c_i)²·scale²/2)`` with centres on [0, scale]."""

    name: Literal["population"] = "population"
    scale: float = 1.0  #: x range covered by the centres
    weight: float | None = None  #: peak current (None: the model's default current)


ENCODERS: dict[str, type] = {
    "none": EncoderNone,
    "poisson": EncoderPoisson,
    "signed_poisson": EncoderSignedPoisson,
    "bernoulli": EncoderBernoulli,
    "constant_current_lif": EncoderConstantCurrentLIF,
    "spike_latency_lif": EncoderSpikeLatencyLIF,
    "spike_latency": EncoderSpikeLatency,
    "population": EncoderPopulation,
}

#: per-neuron parameter distributions: ``{dist: name, ...fields}``
DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "constant": ("value",),
    "uniform": ("low", "high"),
    "normal": ("mean", "std"),
    "lognormal": ("mean", "std"),  #: of the underlying normal
    "linspace": ("low", "high"),  #: evenly spaced over the population (deterministic)
    "choice": ("values",),
}

#: keys of a ``populations.<name>`` entry
POPULATION_KEYS = (
    "preset",
    "neuron",
    "size",
    "input",
    "encoder",
    "dt",
    "duration",
    "include_end",
    "steps",
    "initial_state",
)

#: keys of the primary config's root
ROOT_KEYS = (
    "neuron",
    "input",
    "encoder",
    "simulation",
    "population",
    "populations",
    "projections",
    "network",
    "record",
    "plot",
    "preset_info",
    "experiment",
)
