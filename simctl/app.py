"""``simctl run``: the Hydra task (compose → validate → build → run → write → plot → summary).

Seams for other parts of simctl (stable; documented here for their authors):

(a) **Populations.** The primary config has ``populations:`` (name → entry, default empty).
    Empty means the short form: ``neuron=… preset=… input=… encoder=…`` and ``population.*``
    make one population named ``population.name``, else the preset's name, else the neuron's.
    An entry may say ``preset: <file of configs/preset/>`` (loaded as data from the config
    search path, see :func:`simctl.config.load_preset`) and may override ``neuron`` (an option
    name or a mapping of parameter overrides), ``size``, ``input``, ``encoder`` (name or
    mapping), ``dt``, ``duration``, ``include_end``, ``steps`` and ``initial_state``. Without
    a preset an entry starts from the top-level ``neuron``/``input``/``encoder``/``simulation``.
    Every population runs on its own grid; ``/populations/<pop>`` attrs carry ``dt`` and
    ``t_stop``, the root ``dt`` is written only where all populations share it.
(b) **Presets.** ``configs/preset/<name>.yaml`` is ``# @package _global_`` with
    ``defaults: [override /input: <protocol>]`` and the nodes ``preset_info`` (name, model,
    source, description), ``neuron`` (parameters, incl. update_order/u_law/mn/bias and
    ``params_dist``), ``simulation`` (dt, duration, include_end), ``population`` (size,
    initial_state) and ``input``. Command-line overrides win (``simulation.dt=0.1``,
    ``input.amplitude=5``, ``neuron.a=0.03``); a preset for another neuron is a one-line error.
(c) **Experiments.** ``configs/experiment/*.yaml`` (``# @package _global_``) set
    ``populations`` and ``experiment: {name, description, options}``. After a successful run
    this task calls ``simctl.experiments.finish(cfg, run_dir, h5_path, pops)`` when
    ``cfg.experiment`` is set (``cfg`` is the composed DictConfig; ``run_dir`` and ``h5_path``
    are Paths; ``pops``: what ``sim.h5`` holds, kept in memory by :class:`KeepingWriter`, or
    None when the file must be read).
(d) **Loaders.** :func:`simctl.recording.load_run` returns a ``RunData`` whose ``populations``
    map names to ``PopulationData`` (attrs, spike_times/spike_ids, state_time/state/state_ids,
    input_time/input_current, summary).
(e) **Piecewise input.** ``input=piecewise`` takes ``baseline``, ``scale`` and ``segments`` of
    ``{start, end, include_start, include_end, value, slope, origin}``; the input of step k is
    evaluated at ``t_k = k·dt``; ``simulation.include_end: true`` gives the MATLAB grid
    ``0:dt:T`` (T/dt + 1 steps), ``simulation.steps`` an exact count.
(f) **The steps of a run**, shared with the batch launcher (``hydra/launcher=batch``,
    :mod:`hydra_plugins.simctl_batch_launcher`), which simulates several jobs as one population
    and writes each job's files as :func:`simulate` does: :func:`prepare_run_dir`,
    :func:`run_line`, :func:`open_writer` (root and population attributes) and
    :func:`report_run` (summary lines, ``summary.json``, figures).

Exit codes: 0 done, 1 the simulation failed (NaN), 2 a configuration error, 130/143 interrupted.
In a sweep (``-m``) a failing job is logged and recorded in its ``summary.json`` and the sweep
goes on; ``simctl collect`` lists it.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from simctl.config.errors import ConfigError, SimulationError, Terminated

log = logging.getLogger("simctl")

EXIT_CONFIG = 2
EXIT_SIMULATION = 1
EXIT_CHECKS = 1  #: an experiment's published-property check failed (experiment.strict)


def config_dirs_from_hydra(hydra_cfg: Any = None) -> list[str]:
    """The user config directories on Hydra's search path (``--config-dir``, searchpath), from
    ``hydra_cfg`` (a composed config's ``hydra`` node) or Hydra's runtime."""
    if hydra_cfg is None:
        from hydra.core.hydra_config import HydraConfig

        hydra_cfg = HydraConfig.get()
    dirs = []
    for source in hydra_cfg.runtime.config_sources:
        if source.provider in ("main", "hydra", "schema") or source.schema == "structured":
            continue
        if source.schema in ("file", "pkg"):
            dirs.append(f"{source.schema}://{source.path}")
    return dirs


#: run specs validated during composition (``simctl.cli``), by the job's task overrides; the
#: task takes its own and does not resolve again
PREPARED: dict[tuple[str, ...], Any] = {}


def resolve_config(
    cfg: DictConfig,
    choices: dict[str, Any] | None = None,
    config_dirs: list[str] | None = None,
) -> Any:
    """The one validation of a composed config: a :class:`~simctl.config.RunSpec` or a
    :class:`ConfigError`. With its ``hydra`` node (a composition), the choices and the config
    directories come from it; otherwise pass them (``config_dirs=None``: Hydra's runtime)."""
    import copy

    from omegaconf import open_dict, read_write

    from simctl.config import resolve, search_dirs

    if "hydra" in cfg:
        hydra_cfg = cfg.hydra
        if choices is None:
            choices = {
                k: v for k, v in hydra_cfg.runtime.choices.items() if not k.startswith("hydra/")
            }
        if config_dirs is None:
            config_dirs = config_dirs_from_hydra(hydra_cfg)
        cfg = copy.deepcopy(cfg)
        with read_write(cfg), open_dict(cfg):
            del cfg["hydra"]
    data = OmegaConf.to_container(cfg, resolve=True)
    dirs = search_dirs(config_dirs_from_hydra() if config_dirs is None else config_dirs)
    spec = resolve(data, dirs, dict(choices or {}))
    _check_experiment_options(data, (choices or {}).get("experiment"), dirs)
    return spec


def _check_experiment_options(data: dict, name: Any, dirs: list) -> None:
    """An experiment's options are those its file lists, of the kinds it gives them."""
    from simctl.config import load_option
    from simctl.config.validate import check_like

    experiment = data.get("experiment")
    if not isinstance(name, str) or not isinstance(experiment, dict):
        return
    given = experiment.get("options") or {}
    defaults = (load_option("experiment", name, dirs).get("experiment") or {}).get("options")
    check_like(given, defaults or {}, "experiment.options", f" of experiment={name}")


def simulate(
    cfg: DictConfig,
    run_dir: Path,
    choices: dict[str, Any] | None = None,
    config_dirs: list[str] | None = None,
    spec: Any = None,
    kept: dict[str, Any] | None = None,
) -> Path:
    """Runs one composed config into ``run_dir``; returns the path of ``sim.h5``.

    Usable without Hydra's runtime (tests, notebooks): pass ``config_dirs`` (extra config
    directories, may be empty) and the group ``choices``. ``spec`` is the config already
    validated by :func:`resolve_config` (else it is validated here). ``kept``: a dict that
    receives what ``sim.h5`` holds about each population as
    :class:`~simctl.recording.PopulationData`, as :func:`~simctl.recording.load_run` would read
    it back (populations without projections, up to :data:`KEEP_BYTES` of data; else left
    empty), for an experiment's after-run step.
    """
    choices = dict(choices or {})
    if spec is None:
        spec = resolve_config(cfg, choices, config_dirs)

    import torch  # only now: --help and --cfg never pay for it

    from simctl import registry, runner

    sim = spec.simulation
    device = runner.resolve_device(sim.device)
    dtype = {"float32": torch.float32, "float64": torch.float64}[sim.dtype]
    torch.manual_seed(sim.seed)
    _check_memory(spec, device, dtype)
    pops = []
    net = None
    if spec.network is not None:  # populations connected by projections (simctl.network)
        from simctl.network import build_network

        net = build_network(spec, sim, device, dtype)
        net.select_engine()  # a bad $SIMCTL_NETWORK_ENGINE stops here, before run_dir changes
        pops = [n.pop for n in net.pops]
    for i, p in enumerate(spec.populations if net is None else []):
        try:
            pops.append(registry.build_population(p, i, sim, spec.record, device, dtype))
        except (MemoryError, RuntimeError) as error:
            text = str(error)
            if not isinstance(error, MemoryError) and not (
                "allocate" in text or "out of memory" in text
            ):
                raise
            raise ConfigError(
                f"{p.key}.size",
                p.size,
                f"not enough memory for {p.size} x {p.model} neurons on {device}",
                "a smaller population",
            ) from None
    # before anything in run_dir is created or truncated; held until simulate returns
    lock = _lock_run_dir(run_dir)  # noqa: F841
    prepare_run_dir(run_dir)
    h5_path = run_dir / "sim.h5"
    log.info("%s", run_line(pops, device, sim.dtype, h5_path))
    steps = runner.block_steps(pops, sim.block_ms)  # the writer's chunks are a block long
    keep = kept is not None and net is None
    with open_writer(cfg, choices, spec, pops, device, h5_path, steps, keep=keep) as writer:
        if net is not None:
            from simctl.network import write_projections

            write_projections(net, writer, sim.seed, spec.record.connectivity)
        try:
            if net is not None:
                net.run(writer, progress=sim.progress)
            else:
                runner.run(pops, writer, sim.block_ms, sim.progress)
        except OSError:
            raise  # the file cannot be written (a full disk): nothing more is attempted
        except BaseException:
            runner.write_summaries(pops, writer)  # a NaN, a signal: what ran, summarised
            writer.flush()
            raise
        runner.write_summaries(pops, writer)
        writer.flush()
        writer.finish()
    if keep and kept is not None:
        kept.update(writer.kept() or {})
    report_run(run_dir, spec, pops, h5_path)
    return h5_path


# -- the steps of a run that the batch launcher (hydra_plugins.simctl_batch_launcher) shares:
# it simulates several jobs as one population and writes each job's files with these


def prepare_run_dir(run_dir: Path) -> None:
    """Creates ``run_dir`` and checks that it is writable (a one-line ConfigError if not)."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write_test"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise ConfigError(
            "hydra.run.dir", str(run_dir), f"output directory is not writable ({error.strerror})"
        ) from None


def run_line(pops: list, device: Any, dtype: str, h5_path: Path) -> str:
    """The log line that starts a run: its populations, device, dtype and file."""
    return "simulating {} on {} ({}) into {}".format(
        ", ".join(
            f"{p.name} ({p.spec.size} x {p.model.name}, dt {p.spec.dt:g} ms, {p.spec.t_stop:g} ms)"
            for p in pops
        ),
        device,
        dtype,
        h5_path,
    )


def open_writer(
    cfg: DictConfig,
    choices: dict[str, Any],
    spec: Any,
    pops: list,
    device: Any,
    h5_path: Path,
    steps: dict[str, int],
    clock: Any = None,
    config_yaml: str | None = None,
    keep: bool = False,
) -> Any:
    """A :class:`~simctl.recording.SimWriter` on ``h5_path`` with the run's root attributes and
    every population of ``pops`` added (``steps``: the runner's steps per block, by name;
    ``clock``: the writer's clock, default the populations' own time; ``config_yaml``: the
    resolved ``cfg`` as YAML where it was made while the job's Hydra config was current;
    ``keep``: a :class:`KeepingWriter`, which also keeps what it writes)."""
    import torch

    from simctl import __version__, registry
    from simctl.config.resolve import spec_to_dict, spikes_of
    from simctl.models import unit_of
    from simctl.recording import SimWriter

    sim = spec.simulation
    dts = {p.spec.dt for p in pops}
    root = {
        "simctl_version": __version__,
        "seed": sim.seed,
        "device": str(device),
        "dtype": sim.dtype,
        "torch_version": torch.__version__,
        "t_stop": max(p.spec.t_stop for p in pops),
        "config_yaml": OmegaConf.to_yaml(cfg, resolve=True) if config_yaml is None else config_yaml,
        "choices_json": json.dumps(choices, sort_keys=True),
    }
    if len(dts) == 1:
        root["dt"] = dts.pop()
    if clock is None:

        def clock() -> dict[str, float]:
            return {p.name: p.t for p in pops}

    writer = SimWriter(h5_path, root, clock=clock)
    if keep:
        writer = KeepingWriter(writer)
    try:
        for pop in pops:
            s = pop.spec
            units = {var: unit_of(s.model, var) for var in pop.variables}
            writer.add_population(
                pop.name,
                {
                    "model": s.model,
                    "size": s.size,
                    "preset": s.preset,
                    "dt": s.dt,
                    "t_stop": s.t_stop,
                    "n_steps": s.n_steps,
                    "parameters_json": registry.parameters_json(s),
                    "input_json": json.dumps(spec_to_dict(s.input)),
                    "encoder": s.encoder.name,
                    "source": s.source,
                    "voltage": pop.model.voltage,
                    "spiking": bool(pop.model.spiking),
                    "spike_peak": _spike_peak(s.params),
                    "record_every": pop.every,
                    "input_units": s.input_units,
                    "drive": "spikes" if spikes_of(s.encoder) else "current",
                },
                units,
                pop.record_ids,
                pop.record_input,
                input_units=s.input_units,
                rows_per_flush=max(1, steps[pop.name] // pop.every),
            )
    except BaseException:
        writer.__exit__(*sys.exc_info())  # as leaving its ``with`` block would (OSError kept)
        raise
    return writer


#: the most data (bytes) a :class:`KeepingWriter` keeps; beyond it it keeps nothing
KEEP_BYTES = 256 * 2**20


class KeepingWriter:
    """A :class:`~simctl.recording.SimWriter` that also keeps a copy of what it writes, so
    that an experiment's after-run step need not read ``sim.h5`` back (about 0.15 s for the
    20 populations of ``izhikevich2004``: some 1000 HDF5 attribute reads).

    :meth:`kept` gives each population as :func:`~simctl.recording.load_run` reads it: the
    same attributes (as HDF5 stores and returns them), dtypes (times float64, state and
    input float32, ids int64) and summaries; ``tests/test_experiments.py`` compares the two.
    Past :data:`KEEP_BYTES` it drops what it kept and :meth:`kept` returns None.
    """

    def __init__(self, writer: Any):
        self.writer = writer
        self._pops: dict[str, dict[str, Any]] = {}
        self._bytes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.writer, name)

    def __enter__(self) -> KeepingWriter:
        self.writer.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.writer.__exit__(*exc)

    def _keep(self, name: str, part: str, data: Any, dtype: str) -> None:
        """A copy of ``data`` (the runner reuses its arrays) for population ``name``."""
        import numpy as np

        if self._pops is None:
            return
        array = np.array(data, dtype=dtype, copy=True)
        self._bytes += array.nbytes
        if self._bytes > KEEP_BYTES:
            self._pops = None  # too much: the caller reads the file
            return
        self._pops[name][part].append(array)

    def add_population(
        self,
        name: str,
        attrs: dict[str, Any],
        variables: dict[str, str],
        node_ids: Any,
        record_input: bool,
        input_units: str = "",
        rows_per_flush: int | None = None,
    ) -> None:
        import numpy as np

        self.writer.add_population(
            name, attrs, variables, node_ids, record_input, input_units, rows_per_flush
        )
        if self._pops is None:
            return
        n_rec = len(node_ids)
        self._pops[name] = {
            "attrs": {key: _as_read(value) for key, value in attrs.items()},
            "variables": dict(variables) if n_rec else {},
            "node_ids": np.asarray(node_ids, dtype="i8").copy(),
            "input": bool(record_input and n_rec),
            **{part: [] for part in ("times", "ids", "time", "input_time", "current")},
            **{f"state.{var}": [] for var in variables},
        }

    def append_spikes(self, name: str, times_ms: Any, node_ids: Any) -> None:
        import numpy as np

        self.writer.append_spikes(name, times_ms, node_ids)
        self._keep(name, "times", times_ms, "f8")
        self._keep(name, "ids", np.asarray(node_ids).astype("u8", copy=False), "i8")

    def append_state(self, name: str, time_ms: Any, values: dict[str, Any]) -> None:
        self.writer.append_state(name, time_ms, values)
        if self._pops is not None and self._pops[name]["variables"]:
            variables = list(self._pops[name]["variables"])
            self._keep(name, "time", time_ms, "f8")
            for var in variables:
                self._keep(name, f"state.{var}", values[var], "f4")

    def append_input(self, name: str, time_ms: Any, current: Any) -> None:
        self.writer.append_input(name, time_ms, current)
        if self._pops is not None and self._pops[name]["input"]:
            self._keep(name, "input_time", time_ms, "f8")
            self._keep(name, "current", current, "f4")

    def write_summary(self, name: str, spike_count: Any, t_ms: float, first_spike_ms: Any) -> None:
        import numpy as np

        self.writer.write_summary(name, spike_count, t_ms, first_spike_ms)
        if self._pops is not None:
            count = np.array(spike_count, dtype="i8")
            rate = count / (t_ms / 1000.0) if t_ms > 0 else np.zeros(len(count))
            self._pops[name]["summary"] = (
                {
                    "spike_count": count,
                    "rate_hz": rate.astype("f8"),
                    "first_spike_ms": np.array(first_spike_ms, dtype="f8"),
                },
                float(t_ms),
            )

    def set_population_attrs(self, name: str, attrs: dict[str, Any]) -> None:
        self.writer.set_population_attrs(name, attrs)
        if self._pops is not None:
            self._pops[name]["attrs"].update({k: _as_read(v) for k, v in attrs.items()})

    def kept(self) -> dict[str, Any] | None:
        """Every population as :class:`~simctl.recording.PopulationData` (after the writer's
        last flush), or None when it kept too much."""
        import numpy as np

        from simctl.recording import PopulationData

        if self._pops is None:
            return None
        out = {}
        clock = self.writer.clock() if self.writer.clock is not None else {}

        def joined(parts: list[Any], dtype: str, width: int | None = None) -> Any:
            if parts:
                return np.concatenate(parts)
            return np.zeros((0,) if width is None else (0, width), dtype=dtype)

        for name, entry in self._pops.items():
            times, ids = joined(entry["times"], "f8"), joined(entry["ids"], "i8")
            n_rec = len(entry["node_ids"])
            state_time = joined(entry["time"], "f8") if entry["variables"] else None
            n_input = len(joined(entry["input_time"], "f8")) if entry["input"] else 0
            t_ms = float(clock.get(name, 0.0))
            attrs = dict(entry["attrs"])
            attrs["t_reached"] = t_ms
            attrs["flushed"] = np.array(
                [t_ms, len(times), 0 if state_time is None else len(state_time), n_input]
            )
            pop = PopulationData(name=name, attrs=attrs, spike_times=times, spike_ids=ids)
            pop.n_spikes = len(times)
            if state_time is not None:
                pop.state_time = state_time
                pop.state_ids = entry["node_ids"]
                for var, units in entry["variables"].items():
                    pop.state[var] = joined(entry[f"state.{var}"], "f4", n_rec)
                    pop.state_units[var] = units
            if entry["input"]:
                pop.input_current = joined(entry["current"], "f4", n_rec)
                pop.input_time = joined(entry["input_time"], "f8")
            pop.t_reached = t_ms
            if "summary" in entry:
                pop.summary, pop.t_reached = entry["summary"]
            out[name] = pop
        return out


def _as_read(value: Any) -> Any:
    """An attribute value as HDF5 stores it (``simctl.recording``: None as "", containers as
    JSON) and :func:`~simctl.recording.read_attrs` returns it (numpy scalars unwrapped)."""
    if value is None:
        return ""
    if isinstance(value, dict | list | tuple):
        return json.dumps(value)
    if isinstance(value, str):
        return str(value)
    if hasattr(value, "item") and getattr(value, "shape", None) == ():  # a numpy scalar
        return value.item()
    return value


def report_run(run_dir: Path, spec: Any, pops: list, h5_path: Path) -> None:
    """After a complete ``sim.h5``: the populations' summary lines, ``summary.json`` (status
    ok) and the figures."""
    from simctl import runner

    rows = runner.summary_rows(pops)
    for row in rows:
        log.info(
            "%s: %d spikes from %d neurons in %g ms (mean %.2f Hz)",
            row["population"],
            row["spikes"],
            row["size"],
            row["t_ms"],
            row["mean_rate_hz"],
        )
        if row.get("warning"):
            log.warning("%s: %s", row["population"], row["warning"])
    _write_status(run_dir, "ok", rows)
    # nothing to draw (an experiment draws its own figure): not even the file is read again
    if spec.plot.enabled and (spec.plot.raster or spec.plot.traces):
        try:
            from simctl.plotting import plot_run

            for path in plot_run(h5_path, run_dir, spec.plot):
                log.info("wrote %s", path)
        except KeyboardInterrupt as error:
            log.warning(
                "interrupted while plotting: sim.h5 is complete; figures skipped "
                "(draw them with: simctl plot %s)",
                h5_path,
            )
            stop = PlottingInterrupted(str(error))
            stop.terminated = isinstance(error, (Terminated, runner.Interrupted))
            raise stop from None


class PlottingInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM after the data were complete: only the figures are missing."""

    terminated = False


def _check_memory(spec: Any, device: Any, dtype: Any) -> None:
    """A one-line error for a population that cannot fit in memory (the state alone), rather
    than an allocation failure or the kernel's OOM killer half-way through building it."""
    import os

    import torch

    from simctl import registry

    if device.type == "cuda":
        total = torch.cuda.get_device_properties(device).total_memory
    else:
        try:
            total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
            return
    itemsize = torch.empty((), dtype=dtype).element_size()
    for p in spec.populations:
        n_vars = len(registry.get_model(p.model).variables)
        need = p.size * itemsize * (n_vars + 2)  # state, input and spikes of one step
        if need > total:
            raise ConfigError(
                f"{p.key}.size",
                p.size,
                f"{p.size} x {p.model} neurons need at least {need / 2**30:.0f} GiB, "
                f"more than the {total / 2**30:.0f} GiB of memory on {device}",
                "a smaller population",
            )


def _spike_peak(params: dict) -> float:
    for key in ("v_peak", "v_th", "v_thresh"):
        if isinstance(params.get(key), (int, float)):
            return float(params[key])
        for nested in params.values():
            if isinstance(nested, dict) and isinstance(nested.get(key), (int, float)):
                return float(nested[key])
    return float("nan")


def _write_status(run_dir: Path, status: str, rows: list | None = None, error: str = "") -> None:
    try:
        from hydra.core.hydra_config import HydraConfig

        overrides = list(HydraConfig.get().overrides.task)
    except Exception:  # noqa: BLE001 - outside Hydra
        overrides = []
    payload = {"status": status, "error": error, "overrides": overrides, "populations": rows or []}
    try:
        (run_dir / "summary.json").write_text(json.dumps(payload, indent=1))
    except OSError:
        pass


def _finish_experiment(
    cfg: DictConfig, run_dir: Path, h5_path: Path, multirun: bool, pops: dict | None = None
) -> int:
    """The experiment's after-run step; exit code 1 (``EXIT_CHECKS``) when a published-property
    check failed and ``experiment.strict`` is true (every file is written first). ``pops``:
    what ``sim.h5`` holds, kept in memory by :func:`simulate` (else the file is read)."""
    if not cfg.get("experiment"):
        return 0
    from simctl import experiments

    failed = experiments.finish(cfg, run_dir, h5_path, pops or None)
    if not failed or not bool(cfg.experiment.get("strict", True)):
        return 0
    message = (
        f"{len(failed)} check(s) failed: {', '.join(failed)} "
        "(see checks.csv; experiment.strict=false exits 0)"
    )
    if multirun:
        log.error("job failed: %s", message)
        return EXIT_CHECKS
    print(f"simctl: {message}", file=sys.stderr)
    sys.exit(EXIT_CHECKS)


@hydra.main(version_base="1.3", config_path="pkg://simctl.configs", config_name="config")
def main(cfg: DictConfig) -> Any:
    """The Hydra task of ``simctl run``."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hc = HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    multirun = hc.mode == RunMode.MULTIRUN
    choices = {k: v for k, v in hc.runtime.choices.items() if not k.startswith("hydra/")}
    from simctl.recording import RunDirBusy

    try:
        # first: a second run into this directory must not touch summary.json or sim.h5
        lock = _lock_run_dir(run_dir)
    except RunDirBusy as error:
        return _busy(error, multirun)
    spec = PREPARED.pop(tuple(hc.overrides.task), None)
    kept: dict[str, Any] | None = {} if cfg.get("experiment") else None
    try:
        h5_path = simulate(cfg, run_dir, choices, spec=spec, kept=kept)
        return _finish_experiment(cfg, run_dir, h5_path, multirun, kept)
    except ConfigError as error:
        return _fail(run_dir, f"error: {error.line()}", EXIT_CONFIG, multirun)
    except SimulationError as error:
        return _fail(run_dir, f"error: {error}", EXIT_SIMULATION, multirun)
    except OSError as error:  # a full disk, a quota, an I/O error while writing
        import os

        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        reason = os.strerror(error.errno) if error.errno else str(error).splitlines()[0]
        message = (
            f"error: cannot write the run's files in {run_dir} ({reason}); sim.h5 keeps the "
            "blocks flushed before the fault and says complete=false"
        )
        if multirun:
            return _fail(run_dir, message, EXIT_SIMULATION, multirun)
        _write_status(run_dir, "failed", error=message)
        _log_to_files(logging.ERROR, message)
        print(f"simctl: {message}", file=sys.stderr)
        # HDF5 cannot always close a file whose writes failed; collecting its objects at
        # exit can crash the interpreter (SIGSEGV), so leave without collecting them
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_SIMULATION)
    except KeyboardInterrupt as error:
        # never import here: a Ctrl-C inside `import torch` leaves it half-imported
        runner = sys.modules.get("simctl.runner")
        by_term = (
            isinstance(error, Terminated)
            or getattr(error, "terminated", False)
            or (runner is not None and isinstance(error, runner.Interrupted))
        )
        code = 143 if by_term else 130
        if isinstance(error, PlottingInterrupted):
            if multirun:
                raise
            sys.exit(code)  # summary.json keeps status ok: the data are complete
        if (run_dir / "sim.h5").is_file():
            log.warning("interrupted: sim.h5 closed with complete=false")
        else:
            log.warning("interrupted before the simulation started (no sim.h5)")
        _write_status(run_dir, "interrupted")
        if multirun:
            raise
        sys.exit(code)
    finally:
        lock.release()


def _lock_run_dir(run_dir: Path) -> Any:
    """The run directory's lock (:class:`simctl.recording.RunDirLock`)."""
    from simctl.recording import RunDirLock

    return RunDirLock(run_dir)


def _busy(error: Exception, multirun: bool) -> int:
    """Another run holds the directory: one line, exit 2, and nothing in it is touched (not
    even its log: the line goes to stderr, or to the sweep's log)."""
    if multirun:
        log.error("job failed: %s", error)
        return EXIT_CONFIG
    print(f"simctl: error: {error}", file=sys.stderr)
    sys.exit(EXIT_CONFIG)


def _fail(run_dir: Path, message: str, code: int, multirun: bool) -> int:
    import os

    _write_status(run_dir, "failed", error=message)
    if multirun:
        log.error("job failed: %s", message)
        return code
    _log_to_files(logging.ERROR, message)  # the console gets it once, on stderr
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        raise
    print(f"simctl: {message}", file=sys.stderr)
    sys.exit(code)


def _log_to_files(level: int, message: str) -> None:
    """``message`` into the run's log files (simctl.log) only, not onto the console."""
    record = log.makeRecord(log.name, level, __file__, 0, message, (), None)
    seen = set()
    logger: logging.Logger | None = log
    while logger is not None:
        for handler in logger.handlers:
            if isinstance(handler, logging.FileHandler) and id(handler) not in seen:
                seen.add(id(handler))
                handler.handle(record)
        logger = logger.parent if logger.propagate else None


def _register_batch_launcher() -> None:
    """Makes ``hydra/launcher=batch`` (:mod:`hydra_plugins.simctl_batch_launcher`) known to
    Hydra. An installed wheel puts it in the ``hydra_plugins`` namespace package, which Hydra
    scans; an editable install (``pip install -e .``) maps it through an import hook that
    Hydra's scan (``pkgutil.walk_packages``) does not see, so it is registered here too
    (registering it twice is harmless)."""
    try:
        from hydra.core.plugins import Plugins

        from hydra_plugins.simctl_batch_launcher.batch_launcher import BatchLauncher
    except ImportError:  # pragma: no cover - a partial installation
        return
    Plugins.instance().register(BatchLauncher)


_register_batch_launcher()
