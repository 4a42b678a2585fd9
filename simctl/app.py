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
    this task calls ``simctl.experiments.finish(cfg, run_dir, h5_path)`` when ``cfg.experiment``
    is set (``cfg`` is the composed DictConfig; ``run_dir`` and ``h5_path`` are Paths).
(d) **Loaders.** :func:`simctl.recording.load_run` returns a ``RunData`` whose ``populations``
    map names to ``PopulationData`` (attrs, spike_times/spike_ids, state_time/state/state_ids,
    input_time/input_current, summary).
(e) **Piecewise input.** ``input=piecewise`` takes ``baseline``, ``scale`` and ``segments`` of
    ``{start, end, include_start, include_end, value, slope, origin}``; the input of step k is
    evaluated at ``t_k = k·dt``; ``simulation.include_end: true`` gives the MATLAB grid
    ``0:dt:T`` (T/dt + 1 steps), ``simulation.steps`` an exact count.

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

from simctl.config.errors import ConfigError, SimulationError

log = logging.getLogger("simctl")

EXIT_CONFIG = 2
EXIT_SIMULATION = 1


def config_dirs_from_hydra() -> list[str]:
    """The user config directories on Hydra's search path (``--config-dir``, searchpath)."""
    from hydra.core.hydra_config import HydraConfig

    dirs = []
    for source in HydraConfig.get().runtime.config_sources:
        if source.provider in ("main", "hydra", "schema") or source.schema == "structured":
            continue
        if source.schema in ("file", "pkg"):
            dirs.append(f"{source.schema}://{source.path}")
    return dirs


def simulate(
    cfg: DictConfig,
    run_dir: Path,
    choices: dict[str, Any] | None = None,
    config_dirs: list[str] | None = None,
) -> Path:
    """Runs one composed config into ``run_dir``; returns the path of ``sim.h5``.

    Usable without Hydra's runtime (tests, notebooks): pass ``config_dirs`` (extra config
    directories, may be empty) and the group ``choices``.
    """
    from simctl.config import resolve, search_dirs

    choices = dict(choices or {})
    data = OmegaConf.to_container(cfg, resolve=True)
    data.pop("hydra", None)
    dirs = search_dirs(config_dirs_from_hydra() if config_dirs is None else config_dirs)
    spec = resolve(data, dirs, choices)

    import torch  # only now: --help and --cfg never pay for it

    from simctl import __version__, registry, runner
    from simctl.config.resolve import spec_to_dict
    from simctl.recording import SimWriter

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
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write_test"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise ConfigError(
            "hydra.run.dir", str(run_dir), f"output directory is not writable ({error.strerror})"
        ) from None
    dts = {p.spec.dt for p in pops}
    root = {
        "simctl_version": __version__,
        "seed": sim.seed,
        "device": str(device),
        "dtype": sim.dtype,
        "torch_version": torch.__version__,
        "t_stop": max(p.spec.t_stop for p in pops),
        "config_yaml": OmegaConf.to_yaml(cfg, resolve=True),
        "choices_json": json.dumps(choices, sort_keys=True),
    }
    if len(dts) == 1:
        root["dt"] = dts.pop()
    h5_path = run_dir / "sim.h5"
    log.info(
        "simulating %s on %s (%s) into %s",
        ", ".join(
            f"{p.name} ({p.spec.size} x {p.model.name}, dt {p.spec.dt:g} ms, {p.spec.t_stop:g} ms)"
            for p in pops
        ),
        device,
        sim.dtype,
        h5_path,
    )
    with SimWriter(h5_path, root) as writer:
        for pop in pops:
            s = pop.spec
            units = {var: _units(pop.model, var) for var in pop.variables}
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
                },
                units,
                pop.record_ids,
                pop.record_input,
                input_units=s.input_units,
            )
        if net is not None:
            from simctl.network import write_projections

            write_projections(net, writer, sim.seed, spec.record.connectivity)
        try:
            if net is not None:
                net.run(writer, progress=sim.progress)
            else:
                runner.run(pops, writer, sim.block_ms, sim.progress)
        finally:
            runner.write_summaries(pops, writer)
            writer.flush()
        writer.finish()
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
    _write_status(run_dir, "ok", rows)
    if spec.plot.enabled:
        from simctl.plotting import plot_run

        for path in plot_run(h5_path, run_dir, spec.plot):
            log.info("wrote %s", path)
    return h5_path


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


def _units(model: Any, var: str) -> str:
    leaf = var.split(".")[-1]
    if leaf in ("v", "b") or leaf == model.voltage:
        return "mV"
    if leaf == "rho":
        return "steps"
    return ""


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


def _finish_experiment(cfg: DictConfig, run_dir: Path, h5_path: Path) -> None:
    if cfg.get("experiment"):
        from simctl import experiments

        experiments.finish(cfg, run_dir, h5_path)


@hydra.main(version_base="1.3", config_path="pkg://simctl.configs", config_name="config")
def main(cfg: DictConfig) -> Any:
    """The Hydra task of ``simctl run``."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hc = HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    multirun = hc.mode == RunMode.MULTIRUN
    choices = {k: v for k, v in hc.runtime.choices.items() if not k.startswith("hydra/")}
    try:
        h5_path = simulate(cfg, run_dir, choices)
        _finish_experiment(cfg, run_dir, h5_path)
        return 0
    except ConfigError as error:
        return _fail(run_dir, f"error: {error.line()}", EXIT_CONFIG, multirun)
    except SimulationError as error:
        return _fail(run_dir, f"error: {error}", EXIT_SIMULATION, multirun)
    except KeyboardInterrupt as error:
        from simctl.runner import Interrupted

        code = 143 if isinstance(error, Interrupted) else 130
        log.warning("interrupted: sim.h5 closed with complete=false")
        _write_status(run_dir, "interrupted")
        if multirun:
            raise
        sys.exit(code)


def _fail(run_dir: Path, message: str, code: int, multirun: bool) -> int:
    import os

    _write_status(run_dir, "failed", error=message)
    if multirun:
        log.error("job failed: %s", message)
        return code
    log.error(message)
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        raise
    print(f"simctl: {message}", file=sys.stderr)
    sys.exit(code)
