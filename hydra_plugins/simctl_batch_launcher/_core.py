"""The batch launcher's work: plan the sweep's batches, simulate each as one population, write
every job's files as a lone run would.

**What batches.** Each job is composed, validated and built exactly as ``simctl run`` builds
it (:func:`simctl.registry.build_population`: its own seed, its own random generators). Jobs
share one simulation when their populations have the same model and drive (``neuron``,
``encoder`` spikes or current), ``simulation.dt``, number of steps, ``simulation.block_ms``
(the block length, set by the population size when null), ``simulation.device`` and
``dtype``, ``record.variables``/``every``/``input``, and equal non-numeric neuron options
(``update_order``, ``u_law``, ``method``...). Free to differ from job to job:

* **numeric neuron parameters** that the model's step uses as they are (Izhikevich ``b``,
  ``c``, ``d``, ``sq``, ``mn``, ``bias``, ``v_th``; LIF ``v_th``, ``v_reset``, ``v_leak``);
  they become per-neuron tensors, one value per job. A parameter the step first combines with
  another scalar (Izhikevich ``a`` and ``tau_inv``, LIF ``tau_mem_inv`` and ``tau_syn_inv`` are
  multiplied by ``dt`` in Python, in double precision) would round differently as a float32
  tensor: jobs that differ in such a parameter are simulated apart, in one batch per value.
  The check is made on the step itself: its traced graph (:mod:`simctl.kernels.trace`) with
  the parameter as a per-neuron input must be the lone run's graph with that input where the
  lone run has the parameter's value (operands of ``add``/``mul`` in either order, ``rsub``
  as ``sub`` swapped), and identical everywhere else;
* **the input**: protocol and values (``input.*``), the encoder's values, noise and Poisson
  drive included: every job's input is computed by its own protocol object with its own
  generator, block by block over the same blocks as a lone run, so every random draw is the
  lone run's;
* **the initial state** (``population.initial_state``), ``population.size`` (within one
  block length), ``simulation.seed``, ``record.neurons``, ``plot.*``, presets and experiments
  (their after-run step runs per job).

The model's step must be elementwise per neuron (the tracer proves it); a model whose step
mixes neurons, a network (``projections``), or a job whose config has an error runs alone.
Each job's neurons are a contiguous block of the batch; its spikes, traces and input samples
go to its own ``sim.h5`` with its own node ids (0 … N−1). A batch that fails (a NaN in one
job) is simulated again one job at a time, so each job's failure is its own.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import struct
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, configure_log, filter_overrides, run_job
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from simctl import app, registry, runner
from simctl.config.errors import ConfigError, SimulationError
from simctl.config.resolve import spikes_of
from simctl.kernels.trace import Unsupported, flatten, trace_step, unflatten

from ._compose import TASK_CONFIGS

log = logging.getLogger("hydra_plugins.simctl_batch_launcher")
job_log = logging.getLogger("simctl")


@dataclasses.dataclass
class Job:
    """One job of the sweep, composed and (when it can be) built as a lone run builds it."""

    idx: int
    overrides: list[str]
    config: DictConfig  #: the composed job config, with its ``hydra`` node
    run_dir: Path | None = None
    task_cfg: DictConfig | None = None  #: the config the task would get (no ``hydra`` node)
    config_yaml: str = ""  #: ``task_cfg`` resolved, as sim.h5's root attribute
    task_yaml: str = ""  #: ``task_cfg`` as YAML, unresolved (``.hydra/config.yaml``)
    choices: dict[str, Any] = dataclasses.field(default_factory=dict)
    spec: Any = None
    pops: list[Any] = dataclasses.field(default_factory=list)
    device: Any = None
    alone: str = ""  #: why the job cannot share a batch at all ('' if it can)
    signature: list[tuple[str, Any]] = dataclasses.field(default_factory=list)
    shared: bool = False  #: composed as a copy of a shared composition (:mod:`._compose`)

    @property
    def h5_path(self) -> Path:
        assert self.run_dir is not None
        return self.run_dir / "sim.h5"


def launch(launcher: Any, job_overrides: list[list[str]], initial_job_idx: int) -> list[JobReturn]:
    """Runs every job (batches where possible) and returns Hydra's JobReturns in job order."""
    results: dict[int, JobReturn] = {}
    size = launcher.max_batch
    for start in range(0, len(job_overrides), size):
        window = job_overrides[start : start + size]
        jobs = [_prepare(launcher, initial_job_idx + start + i, o) for i, o in enumerate(window)]
        shared = sum(job.shared for job in jobs)
        if shared:
            log.info(
                "%d of %d jobs: composed once per set of group choices, each a copy with its "
                "own values applied",
                shared,
                len(jobs),
            )
        for group in _plan(jobs):
            if len(group) == 1:
                results[group[0].idx] = _run_alone(launcher, group[0])
            else:
                results.update(_run_batch(launcher, group))
    return [results[i] for i in sorted(results)]


# -- preparing the jobs -----------------------------------------------------------------------


def _prepare(launcher: Any, idx: int, overrides: list[str]) -> Job:
    config = launcher.hydra_context.config_loader.load_sweep_config(launcher.config, overrides)
    with open_dict(config):
        config.hydra.job.id = idx
        config.hydra.job.num = idx
    job = Job(idx, overrides, config)
    saved = HydraConfig.instance().cfg
    try:
        # the job's directory as hydra.core.utils.run_job computes it, with the job's Hydra
        # config current where an interpolation reads it (${hydra:...}; setting it copies the
        # hydra node, a good part of a job's cost, so only then)
        sweep = config.hydra.sweep
        reads_hydra = "${hydra:" in f"{sweep._get_node('dir')}{sweep._get_node('subdir')}"
        if reads_hydra:
            HydraConfig.instance().set_config(config)
        out = str(OmegaConf.select(config, "hydra.sweep.dir"))
        out = os.path.join(out, str(OmegaConf.select(config, "hydra.sweep.subdir")))
        with read_write(config.hydra.runtime), open_dict(config.hydra.runtime):
            config.hydra.runtime.output_dir = os.path.abspath(out)
        job.run_dir = Path(config.hydra.runtime.output_dir)
        # the task's config as run_job hands it over (a deep copy less the hydra node; the
        # one made for simctl's check when the job was composed from a template)
        job.task_cfg = TASK_CONFIGS.pop(tuple(config.hydra.overrides.task), None)
        job.shared = job.task_cfg is not None
        if job.task_cfg is None:
            job.task_cfg = copy.deepcopy(config)
            with read_write(job.task_cfg), open_dict(job.task_cfg):
                del job.task_cfg["hydra"]
        # as .hydra/config.yaml will hold it (Hydra writes it before the task runs)
        job.task_yaml = OmegaConf.to_yaml(job.task_cfg)
        if reads_hydra or "${hydra:" in job.task_yaml:
            HydraConfig.instance().set_config(config)
        # resolved now, while the job's Hydra config is current (as in the lone run's task)
        job.config_yaml = OmegaConf.to_yaml(job.task_cfg, resolve=True)
        job.choices = {
            k: v for k, v in config.hydra.runtime.choices.items() if not k.startswith("hydra/")
        }
        spec = app.PREPARED.get(tuple(config.hydra.overrides.task))
        job.spec = spec if spec is not None else app.resolve_config(config)
        _build(job)
    except Exception:  # noqa: BLE001 - the job reports its own error when it runs alone
        job.alone = "its configuration does not build (the job reports why)"
    finally:
        HydraConfig.instance().cfg = saved
    return job


def _build(job: Job) -> None:
    """The job's populations exactly as :func:`simctl.app.simulate` builds them."""
    spec = job.spec
    if spec.network is not None:
        job.alone = "projections: a network's populations are simulated one job at a time"
        return
    sim = spec.simulation
    job.device = runner.resolve_device(sim.device)
    dtype = {"float32": torch.float32, "float64": torch.float64}[sim.dtype]
    torch.manual_seed(sim.seed)
    app._check_memory(spec, job.device, dtype)
    job.pops = [
        registry.build_population(p, i, sim, spec.record, job.device, dtype)
        for i, p in enumerate(spec.populations)
    ]
    steps = runner.block_steps(job.pops, sim.block_ms)
    sig: list[tuple[str, Any]] = [
        ("simulation.device", str(job.device)),
        ("simulation.dtype", sim.dtype),
        ("populations", len(job.pops)),
    ]
    for pop in job.pops:
        s = pop.spec
        at = "" if s.key in ("", "population") else f"{s.key}."
        sig += [
            (f"{at}neuron", s.model),
            (f"{at}encoder", "spikes" if spikes_of(s.encoder) else "current"),
            ("simulation.dt", s.dt),
            ("simulation.duration", s.n_steps),
            ("simulation.block_ms", steps[pop.name]),
            ("record.variables", tuple(pop.variables)),
            ("record.every", pop.every),
            ("record.input", pop.record_input),
            (f"{at}neuron (its input's unit scale)", s.input_divisor),
        ]
        for path, leaf in flatten(pop.p):
            if not _numeric(leaf):
                sig.append((f"{at}neuron.{path}", _hashable(leaf)))
    job.signature = sig


def _numeric(leaf: Any) -> bool:
    if isinstance(leaf, torch.Tensor):
        return leaf.dtype.is_floating_point
    return isinstance(leaf, float | int) and not isinstance(leaf, bool)


def _hashable(value: Any) -> Any:
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value


# -- planning ---------------------------------------------------------------------------------


def _plan(jobs: list[Job]) -> list[list[Job]]:
    """The jobs in groups that can each be one simulation (a group of one runs alone), in
    order of their first job; logs one line for each job or group kept apart, naming why."""
    split: set[tuple[int, str]] = set()  #: (population index, parameter path) kept apart
    notes: dict[str, str] = {}
    while True:
        groups: dict[Any, list[Job]] = {}
        for job in jobs:
            key = ("alone", job.idx) if job.alone else _key(job, split)
            groups.setdefault(key, []).append(job)
        new = False
        for key, group in groups.items():
            if key[0] == "alone" or len(group) < 2:
                continue
            for index, path, why in _unbatchable(group):
                if (index, path) not in split:
                    split.add((index, path))
                    notes[path] = why
                    new = True
            if new:
                break
        if not new:
            break
    plan = list(groups.values())
    _log_plan(plan, split, notes)
    # a group whose model cannot be batched at all (its step mixes neurons) runs one by one
    out: list[list[Job]] = []
    for group in plan:
        why = _not_elementwise(group) if len(group) > 1 else ""
        if why:
            log.info("jobs %s run one by one: %s", _ids(group), why)
            out.extend([job] for job in group)
        else:
            out.append(group)
    return out


def _key(job: Job, split: set[tuple[int, str]]) -> tuple:
    values = [value for _, value in job.signature]
    for index, path in sorted(split):
        leaf = dict(flatten(job.pops[index].p)).get(path) if index < len(job.pops) else None
        values.append(_value_key(leaf))
    return ("batch", *values)


def _value_key(leaf: Any) -> Any:
    if isinstance(leaf, torch.Tensor):
        return (tuple(leaf.shape), leaf.detach().cpu().numpy().tobytes())
    return leaf


def _batched_paths(pops: list[Any]) -> list[str]:
    """Numeric parameter paths that are not one and the same scalar in every job."""
    leaves = [flatten(p.p) for p in pops]
    paths = []
    for k, (path, first) in enumerate(leaves[0]):
        values = [pl[k][1] for pl in leaves]
        if not _numeric(first):
            continue
        if any(isinstance(v, torch.Tensor) for v in values) or len({float(v) for v in values}) > 1:
            paths.append(path)
    return paths


def _unbatchable(group: list[Job]) -> list[tuple[int, str, str]]:
    """``(population index, parameter path, why)`` for the differing parameters that a
    per-neuron tensor would not reproduce exactly."""
    out = []
    for index in range(len(group[0].pops)):
        pops = [job.pops[index] for job in group]
        for path in _batched_paths(pops):
            scalars = [
                leaf
                for pop in pops
                if not isinstance(leaf := dict(flatten(pop.p))[path], torch.Tensor)
            ]
            if not scalars:
                continue  # a per-neuron tensor in every job already: the lone runs' arithmetic
            why = _direct(pops[0], path, scalars[0])
            if why:
                at = pops[0].spec.key
                at = "" if at in ("", "population") else f"{at}."
                out.append((index, path, f"{at}neuron.{path}: {why}"))
    return out


def _trace(pop: Any, p: Any) -> Any:
    from simctl.kernels.fused import _per_neuron

    x = torch.zeros(1, dtype=pop.dtype)
    graph, _ = trace_step(pop.model.feed_forward_step, x, pop.state, p, pop.spec.dt, _per_neuron(p))
    return graph


def _set(p: Any, path: str, value: Any) -> Any:
    leaves = [value if name == path else leaf for name, leaf in flatten(p)]
    return unflatten(p, leaves)


def _proof(pop: Any, p: Any, what: tuple, prove: Callable[[], str]) -> str:
    """``prove()`` (a reason, '' when proven), kept in simctl's trace cache
    (:mod:`simctl.kernels.plancache`) under everything the traces depend on (the step, the
    dtypes and structure of its input and state, the parameters' structure and scalar values,
    ``dt``: the key of a fused plan) and this file's source, so that a later sweep neither
    traces nor imports torch's tracing stack (about a second) for the same proof."""
    from simctl.kernels import fused, plancache

    try:
        x = torch.zeros(1, dtype=pop.dtype)
        variant = ("simctl_batch_launcher", _source_hash(), *what)
        key = fused._key(pop.model.feed_forward_step, x, pop.state, p, pop.spec.dt, (), variant)
        name = plancache.disk_key(key)
    except Exception:  # noqa: BLE001 - an unhashable parameter: prove it every time
        name = None
    entry = plancache.load(name) if name else None
    if entry is not None and "refused" in entry:
        return entry["refused"]
    why = prove()
    if name:
        plancache.store(name, {"refused": why})
    return why


_SOURCE_HASH: str | None = None


def _source_hash() -> str:
    global _SOURCE_HASH
    if _SOURCE_HASH is None:
        import hashlib

        _SOURCE_HASH = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
    return _SOURCE_HASH


def _direct(pop: Any, path: str, value: float | int) -> str:
    """'' when the step uses parameter ``path`` only as it is (so a per-neuron tensor of the
    run's dtype computes exactly what the lone run computes with the number), else why not."""
    lone_p = _set(pop.p, path, value)
    return _proof(pop, lone_p, ("direct", path), lambda: _prove_direct(pop, lone_p, path, value))


def _prove_direct(pop: Any, lone_p: Any, path: str, value: float | int) -> str:
    batch_p = _set(pop.p, path, torch.full((2,), value, dtype=pop.dtype))
    try:
        lone = _trace(pop, lone_p)
        batch = _trace(pop, batch_p)
    except Unsupported as error:
        return f"a per-neuron value cannot be checked against the lone run ({error})"
    if _same_graph(lone, batch, f"p:{path}", float(value)):
        return ""
    return (
        "the step combines it with other numbers before it meets the state (e.g. a·dt), and a "
        "per-neuron tensor would round that product differently from the lone run"
    )


#: traced operations whose operands may be swapped without changing a bit (IEEE addition and
#: multiplication commute exactly), and pairs that are one another with operands swapped:
#: torch records ``scalar - tensor`` as ``rsub(tensor, scalar)`` and ``scalar < tensor`` as
#: ``gt(tensor, scalar)``, a per-neuron tensor in the order written
_COMMUTATIVE = frozenset({"add", "mul", "eq", "ne"})
_SWAPPED = {"sub": "rsub", "rsub": "sub", "gt": "lt", "lt": "gt", "ge": "le", "le": "ge"}


def _equivalents(op: str, args: tuple) -> list[tuple[str, tuple]]:
    """``(op, args)`` and the forms that compute the same bits."""
    out = [(op, args)]
    if len(args) == 2:
        if op in _COMMUTATIVE:
            out.append((op, args[::-1]))
        if op in _SWAPPED:
            out.append((_SWAPPED[op], args[::-1]))
    return out


def _same_graph(lone: Any, batch: Any, name: str, value: float) -> bool:
    """The batched graph is the lone one with input ``name`` wherever the lone graph has the
    constant ``value``, and identical everywhere else (operations, dtypes, constants)."""
    bits = struct.pack("d", value)

    def ref(graph: Any, arg: Any) -> Any:
        if isinstance(arg, tuple) and len(arg) == 2 and arg[0] == "in":
            return ("in", graph.inputs[arg[1]][0])
        if isinstance(arg, tuple) and len(arg) == 2 and arg[0] == "c":
            return ("c", struct.pack("d", graph.consts[arg[1]]))
        return arg

    def same(a: Any, b: Any) -> bool:
        a, b = ref(lone, a), ref(batch, b)
        return a == b or (a == ("c", bits) and b == ("in", name))

    if len(lone.nodes) != len(batch.nodes):
        return False
    for a, b in zip(lone.nodes, batch.nodes, strict=True):
        if (a.dtype, a.compute, a.attrs) != (b.dtype, b.compute, b.attrs):
            return False
        if len(a.args) != len(b.args):
            return False
        if not any(
            a.op == op and all(map(same, a.args, args)) for op, args in _equivalents(b.op, b.args)
        ):
            return False
    if len(lone.state_out) != len(batch.state_out):
        return False
    return same(lone.output, batch.output) and all(map(same, lone.state_out, batch.state_out))


def _not_elementwise(group: list[Job]) -> str:
    """'' when every population's step is elementwise per neuron, else why not."""
    for pop in group[0].pops:
        why = _proof(pop, pop.p, ("elementwise",), lambda pop=pop: _prove_elementwise(pop))
        if why:
            return why
    return ""


def _prove_elementwise(pop: Any) -> str:
    try:
        _trace(pop, pop.p)
    except Unsupported as error:
        at = pop.spec.key
        at = "" if at in ("", "population") else f"{at}."
        return (
            f"{at}neuron={pop.spec.model}: its step is not elementwise per neuron "
            f"({error}), so jobs cannot share a population"
        )
    return ""


def _ids(group: list[Job]) -> str:
    idx = [job.idx for job in group]
    if idx == list(range(idx[0], idx[0] + len(idx))) and len(idx) > 2:
        return f"#{idx[0]}-#{idx[-1]}"
    return ", ".join(f"#{i}" for i in idx)


def _log_plan(plan: list[list[Job]], split: set[tuple[int, str]], notes: dict[str, str]) -> None:
    first = next((g for g in plan if not g[0].alone), None)
    for group in plan:
        job = group[0]
        if job.alone:
            log.info("job #%d runs on its own: %s", job.idx, job.alone)
            continue
        if group is first or first is None:
            continue
        if len(group) == 1:
            what = f"job #{job.idx} runs on its own"
        else:
            what = f"jobs {_ids(group)} are a batch of their own"
        log.info("%s: %s", what, _difference(first[0], job, split, notes))


def _difference(a: Job, b: Job, split: set[tuple[int, str]], notes: dict[str, str]) -> str:
    """Why job ``b`` cannot share ``a``'s batch: the first key that differs."""
    for (key, va), (_, vb) in zip(a.signature, b.signature, strict=False):
        if va != vb:
            return f"{key} differs from job #{a.idx} ({vb} here, {va} there)"
    for index, path in sorted(split):
        va = dict(flatten(a.pops[index].p)).get(path)
        vb = dict(flatten(b.pops[index].p)).get(path)
        if _value_key(va) != _value_key(vb):
            return f"{notes[path]} (here {_show(vb)}, {_show(va)} in job #{a.idx})"
    return "its values differ"


def _show(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a per-neuron tensor of {value.numel()} values"
    return f"{value:g}" if isinstance(value, float) else str(value)


# -- running ----------------------------------------------------------------------------------


def _log_job_line(job: Job) -> None:
    log.info(f"\t#{job.idx} : {' '.join(filter_overrides(job.overrides))}")


def _run_alone(launcher: Any, job: Job) -> JobReturn:
    """Exactly what Hydra's basic launcher does with one job."""
    _log_job_line(job)
    ret = run_job(
        hydra_context=launcher.hydra_context,
        task_function=launcher.task_function,
        config=job.config,
        job_dir_key="hydra.sweep.dir",
        job_subdir_key="hydra.sweep.subdir",
    )
    configure_log(launcher.config.hydra.hydra_logging, launcher.config.hydra.verbose)
    return ret


class _Inputs:
    """The batch's input: every job's own input block (its protocol, encoder and generator),
    side by side along the neuron axis."""

    def __init__(self, pops: list[Any]):
        self.pops = pops

    def block(self, k0: int, k1: int) -> torch.Tensor:
        n = k1 - k0
        return torch.cat([p.input_block(k0, k1).expand(n, p.spec.size) for p in self.pops], 1)


@dataclasses.dataclass
class _Part:
    writer: Any
    name: str  #: the population's name in the job
    offset: int  #: its first neuron in the batch
    size: int
    columns: slice  #: its recorded neurons among the batch's


class _Fanout:
    """A writer for the runner that splits each batched population's blocks into the jobs'
    own writers (node ids made the job's own again)."""

    def __init__(self, parts: dict[str, list[_Part]], writers: list[Any]):
        self.parts = parts
        self.writers = writers
        self.offsets = {name: np.array([p.offset for p in ps]) for name, ps in parts.items()}

    def append_spikes(self, name: str, times_ms: np.ndarray, node_ids: np.ndarray) -> None:
        parts = self.parts[name]
        if not node_ids.size:
            return
        owner = np.searchsorted(self.offsets[name], node_ids, side="right") - 1
        # a stable sort by job keeps each job's spikes in the batch's order: by time, then by
        # neuron, which is the order of a lone run
        order = np.argsort(owner, kind="stable")
        bounds = np.searchsorted(owner[order], np.arange(len(parts) + 1))
        for k, part in enumerate(parts):
            mine = order[bounds[k] : bounds[k + 1]]
            if mine.size:
                part.writer.append_spikes(part.name, times_ms[mine], node_ids[mine] - part.offset)

    def append_state(self, name: str, time_ms: np.ndarray, values: dict[str, np.ndarray]) -> None:
        for part in self.parts[name]:
            if part.columns.stop > part.columns.start:
                mine = {var: np.ascontiguousarray(v[:, part.columns]) for var, v in values.items()}
                part.writer.append_state(part.name, time_ms, mine)

    def append_input(self, name: str, time_ms: np.ndarray, current: np.ndarray) -> None:
        for part in self.parts[name]:
            if part.columns.stop > part.columns.start:
                part.writer.append_input(
                    part.name, time_ms, np.ascontiguousarray(current[:, part.columns])
                )

    def flush(self) -> None:
        for writer in self.writers:
            writer.flush()


def _merge(pops: list[Any]) -> tuple[Any, list[tuple[int, int, slice]]]:
    """One population of every job's population ``pops`` (same model, grid and recording):
    parameters that differ become per-neuron tensors, states and inputs side by side. Returns
    it and each job's ``(offset, size, recorded columns)``."""
    first = pops[0]
    dtype, device = first.dtype, first.device
    batched = set(_batched_paths(pops))
    leaves = []
    for k, (path, leaf) in enumerate(flatten(first.p)):
        if path not in batched:
            leaves.append(leaf)
            continue
        parts = []
        for pop in pops:
            value = flatten(pop.p)[k][1]
            value = torch.as_tensor(value, dtype=dtype, device=device)
            parts.append(value.expand(pop.spec.size) if value.numel() == 1 else value)
        leaves.append(torch.cat(parts))
    p = unflatten(first.p, leaves)
    states = [flatten(pop.state) for pop in pops]
    state = unflatten(
        first.state,
        [torch.cat([s[k][1] for s in states]) for k in range(len(states[0]))],
    )
    layout, ids, offset = [], [], 0
    for pop in pops:
        ids.extend(offset + i for i in pop.record_ids)
        layout.append((offset, pop.spec.size, slice(len(ids) - len(pop.record_ids), len(ids))))
        offset += pop.spec.size
    merged = runner.Population(
        spec=dataclasses.replace(first.spec, size=offset),
        model=first.model,
        p=p,
        state=state,
        stimulus=_Inputs(pops),
        encoder=None,
        variables=list(first.variables),
        record_ids=ids,
        every=first.every,
        record_input=first.record_input,
        device=device,
        dtype=dtype,
    )
    return merged, layout


def _run_batch(launcher: Any, group: list[Job]) -> dict[int, JobReturn]:
    """Simulates ``group`` as one population per population of its jobs, writes every job's
    ``sim.h5``, then finishes each job through Hydra's ``run_job`` (``.hydra/``, its log,
    ``summary.json``, figures); on a failure of the batch, runs its jobs one by one."""
    n_pops = len(group[0].pops)
    try:
        merged = [_merge([job.pops[i] for job in group]) for i in range(n_pops)]
    except Exception as error:  # noqa: BLE001 - e.g. states of shapes that do not line up
        return _one_by_one(launcher, group, f"they cannot be merged ({error})")
    batch_pops = [pop for pop, _ in merged]
    first = group[0]
    sim = first.spec.simulation
    block_ms = _block_ms(first)
    log.info(
        "jobs %s: one simulation of %s",
        _ids(group),
        ", ".join(f"{p.spec.size} x {p.model.name}" for p in batch_pops),
    )
    failure = ""
    try:
        with ExitStack() as stack:
            try:
                for job in group:
                    stack.enter_context(app._lock_run_dir(job.run_dir))
            except Exception as error:  # noqa: BLE001 - RunDirBusy: each job reports it alone
                stack.close()
                return _one_by_one(launcher, group, str(error))
            writers: list[Any] = []
            try:
                _simulate(group, merged, stack, writers, block_ms, sim.progress)
            except KeyboardInterrupt:
                for k, (job, writer) in enumerate(zip(group, writers, strict=False)):
                    _take(job, k, merged)
                    runner.write_summaries(job.pops, writer)
                    writer.flush()
                    _interrupted(job)
                log.warning("interrupted: the batch's sim.h5 files closed with complete=false")
                raise
    except Exception as error:  # noqa: BLE001 - a NaN in one job, an unwritable directory
        failure = str(error).splitlines()[0] if str(error) else type(error).__name__
    if failure:
        return _one_by_one(launcher, group, f"the batch failed ({failure})")
    total = sum(p.spec.size for p in batch_pops)
    results = {}
    for job in group:
        app.PREPARED.pop(tuple(job.config.hydra.overrides.task), None)  # used: the task is ours
        _log_job_line(job)
        results[job.idx] = _run_job(launcher.hydra_context, _finisher(job, _ids(group), total), job)
        configure_log(launcher.config.hydra.hydra_logging, launcher.config.hydra.verbose)
    return results


def _save_text(text: str, filename: str, output_dir: Path) -> None:
    """What ``hydra.core.utils._save_config`` does with ``OmegaConf.to_yaml(cfg)`` = ``text``."""
    output_dir.mkdir(parents=True, exist_ok=True)
    with open(str(output_dir / filename), "w", encoding="utf-8") as file:
        file.write(text)


def _run_job(hydra_context: Any, task: Callable[[DictConfig], Any], job: Job) -> JobReturn:
    """What :func:`hydra.core.utils.run_job` does for the job, with the copies it makes once
    instead of twice: the job's directory and ``hydra.runtime.output_dir`` were set by
    :func:`_prepare` as ``run_job`` sets them, the task's config (the job's config less its
    ``hydra`` node, a deep copy) is the one :func:`_prepare` made (its YAML too, written as
    ``.hydra/config.yaml``), and the Hydra config is set
    once (``run_job`` sets it before and after ``output_dir``, then deep-copies it for the
    JobReturn; here the JobReturn holds the set copy itself). The files are Hydra's:
    ``.hydra/{hydra,overrides}.yaml`` by Hydra's ``_save_config`` (``config.yaml`` is the text
    it would write), the job's log by Hydra's ``configure_log``, callbacks and
    ``hydra.job.env_set`` as ``run_job`` runs them."""
    from hydra import version
    from hydra.core.utils import JobRuntime, JobStatus, _flush_loggers, _save_config, env_override

    config, task_cfg = job.config, job.task_cfg
    assert task_cfg is not None and job.run_dir is not None
    callbacks = hydra_context.callbacks
    old_cwd = os.getcwd()
    instance = HydraConfig.instance()
    orig_hydra_cfg = instance.cfg
    instance.set_config(config)
    output_dir = str(job.run_dir)
    _chdir = None
    try:
        ret = JobReturn()
        ret.cfg = task_cfg
        hydra_cfg = instance.cfg
        ret.hydra_cfg = hydra_cfg
        overrides = OmegaConf.to_container(config.hydra.overrides.task)
        assert isinstance(overrides, list)
        ret.overrides = overrides
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        _chdir = hydra_cfg.hydra.job.chdir
        if _chdir is None and version.base_at_least("1.2"):
            _chdir = False
        if _chdir is None:
            _chdir = True  # (run_job also warns that this default is deprecated)
        if _chdir:
            os.chdir(output_dir)
            ret.working_dir = output_dir
        else:
            ret.working_dir = os.getcwd()
        configure_log(config.hydra.job_logging, config.hydra.verbose)
        if config.hydra.output_subdir is not None:
            hydra_output = Path(config.hydra.runtime.output_dir) / Path(config.hydra.output_subdir)
            _save_text(job.task_yaml, "config.yaml", hydra_output)  # _save_config's text
            _save_config(hydra_cfg, "hydra.yaml", hydra_output)
            _save_config(config.hydra.overrides.task, "overrides.yaml", hydra_output)
        with env_override(hydra_cfg.hydra.job.env_set):
            callbacks.on_job_start(config=config, task_function=task)
            try:
                ret.return_value = task(task_cfg)
                ret.status = JobStatus.COMPLETED
            except Exception as e:  # noqa: BLE001 - as run_job: the JobReturn carries it
                ret.return_value = e
                ret.status = JobStatus.FAILED
        ret.task_name = JobRuntime.instance().get("name")
        _flush_loggers()
        callbacks.on_job_end(config=config, job_return=ret)
        return ret
    finally:
        instance.cfg = orig_hydra_cfg
        if _chdir:
            os.chdir(old_cwd)


def _simulate(
    group: list[Job],
    merged: list[tuple[Any, list[tuple[int, int, slice]]]],
    stack: ExitStack,
    writers: list[Any],
    block_ms: float | None,
    progress: bool | None,
) -> None:
    """Opens every job's ``sim.h5`` (appended to ``writers``, closed by ``stack`` as leaving a
    lone run's ``with`` block closes it), runs the batch into them and completes them."""
    batch_pops = [pop for pop, _ in merged]
    parts: dict[str, list[_Part]] = {p.name: [] for p in batch_pops}
    for job in group:
        app.prepare_run_dir(job.run_dir)
        writer = app.open_writer(
            job.task_cfg,
            job.choices,
            job.spec,
            job.pops,
            job.device,
            job.h5_path,
            runner.block_steps(job.pops, job.spec.simulation.block_ms),
            _clock(job.pops, batch_pops),
            job.config_yaml,
        )
        stack.enter_context(writer)
        writers.append(writer)
    for i, (pop, layout) in enumerate(merged):
        for job, writer, (offset, size, columns) in zip(group, writers, layout, strict=True):
            parts[pop.name].append(_Part(writer, job.pops[i].name, offset, size, columns))
    runner.run(batch_pops, _Fanout(parts, writers), block_ms, progress)
    for k, (job, writer) in enumerate(zip(group, writers, strict=True)):
        _take(job, k, merged)
        runner.write_summaries(job.pops, writer)
        writer.flush()
        writer.finish()


def _block_ms(job: Job) -> float | None:
    """The block length a lone run of ``job`` uses (so the batch's blocks are its blocks)."""
    sim = job.spec.simulation
    if sim.block_ms is not None:
        return sim.block_ms
    return min(max(64, min(20000, (1 << 21) // max(1, p.spec.size))) * p.spec.dt for p in job.pops)


def _clock(own: list[Any], batch: list[Any]) -> Callable[[], dict[str, float]]:
    def clock() -> dict[str, float]:
        return {o.name: b.t for o, b in zip(own, batch, strict=True)}

    return clock


def _take(job: Job, k: int, merged: list[tuple[Any, list[tuple[int, int, slice]]]]) -> None:
    """The ``k``-th job's counts, first spikes and progress, from its neurons of the batch."""
    for own, (pop, layout) in zip(job.pops, merged, strict=True):
        offset, size, _ = layout[k]
        own.spike_count = pop.spike_count[offset : offset + size].clone()
        own.first_spike = pop.first_spike[offset : offset + size].clone()
        own.k = pop.k
        own.backend, own.backend_reason = pop.backend, pop.backend_reason


def _interrupted(job: Job) -> None:
    """``summary.json`` says interrupted, with the job's own overrides (as a lone run's)."""
    saved = HydraConfig.instance().cfg
    try:
        HydraConfig.instance().set_config(job.config)
        app._write_status(job.run_dir, "interrupted")
    finally:
        HydraConfig.instance().cfg = saved


def _one_by_one(launcher: Any, group: list[Job], why: str) -> dict[int, JobReturn]:
    log.info("jobs %s run one by one: %s", _ids(group), why)
    return {job.idx: _run_alone(launcher, job) for job in group}


def _finisher(job: Job, batch: str, total: int) -> Callable[[DictConfig], Any]:
    """The job's task after the batch: what :func:`simctl.app.main` does after simulating."""

    def finish(cfg: DictConfig) -> Any:
        run_dir, h5_path = job.run_dir, job.h5_path
        assert run_dir is not None
        job_log.info("%s", app.run_line(job.pops, job.device, job.spec.simulation.dtype, h5_path))
        job_log.info(
            "simulated in one batch with jobs %s (%d neurons in all; hydra/launcher=batch)",
            batch,
            total,
        )
        for pop in job.pops:
            if pop.backend and pop.backend != "c":
                job_log.info(
                    "%s: integrated by the %s backend (%s)",
                    pop.name,
                    pop.backend,
                    pop.backend_reason or "selected",
                )
        try:
            app.report_run(run_dir, job.spec, job.pops, h5_path)
            return app._finish_experiment(cfg, run_dir, h5_path, True)
        except ConfigError as error:
            return app._fail(run_dir, f"error: {error.line()}", app.EXIT_CONFIG, True)
        except SimulationError as error:
            return app._fail(run_dir, f"error: {error}", app.EXIT_SIMULATION, True)

    return finish
