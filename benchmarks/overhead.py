"""The fixed Python cost of a fused call, and the cost of faulting in fresh output pages.

Measures, in one process, in CPU time of the calling thread (best of ``--repeats`` rounds of
``--calls`` calls each; the kernel runs on that thread):

* ``layer_us``: a library-layer call, ``lif.LIF()(x)`` under ``torch.no_grad()`` with a
  2-step × 1-neuron input, where the kernel itself takes well under a microsecond: the time is
  the wrapper's (plan look-up, state copies, initial state, shapes);
* ``integrate_us`` / ``spike_events_us``: the same for :func:`simctl.kernels.integrate` and
  :func:`simctl.kernels.spike_events` with a given state;
* ``runner_block_overhead``: the runner's call at 10^4 neurons × 100 steps (one current per step,
  spikes as events, 10 recorded neurons, ~6 % of neuron-steps spiking, the population's
  :class:`simctl.kernels.Workspace`, each block from the state the last one returned): the
  fraction of the call outside the C kernel, from the call's time minus the bare kernel's
  (``Plan.function`` on the same pointers);
  ``runner_merge_us`` the time-ordering of the block's events alone (proportional to its
  spikes), and ``runner_fixed_share`` what is left beside kernel and merge;
* ``output_4mb_ms`` / ``output_40mb_ms``: :func:`integrate` producing a 4 MB (10^4 × 100) or
  40 MB (10^5 × 100) float32 output per call, the previous one dropped as the call returns:
  a fresh output costs page faults on first touch unless its memory is reused.

Prints one JSON line. ``python benchmarks/overhead.py [--calls 2000] [--repeats 5]``
"""

from __future__ import annotations

import argparse
import ctypes
import json
import time
from collections.abc import Callable


def _per_call(function: Callable[[], object], calls: int, repeats: int) -> float:
    # CPU time of this thread (torch runs on one thread here): robust to other processes
    # competing for the cores, which inflate wall-clock times several-fold on a shared machine
    best = float("inf")
    for _ in range(repeats):
        start = time.thread_time()
        for _ in range(calls):
            function()
        best = min(best, (time.thread_time() - start) / calls)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    import torch

    from simctl import kernels
    from simctl.kernels import fused
    from simctl.kernels.merge import merge_by_step
    from simctl.neurons import lif

    torch.set_num_threads(1)
    p = lif.LIFParameters()
    layer = lif.LIF(p)
    tiny = torch.full((2, 1), 3.0)
    state1 = lif.lif_initial_state((1,), p)

    def layer_call():
        with torch.no_grad():
            layer(tiny)

    def integrate_call():
        kernels.integrate(lif.MODEL, tiny, state1, p, 0.001)

    def events_call():
        kernels.spike_events(lif.MODEL, tiny, state1, p, 0.001)

    for call in (layer_call, integrate_call, events_call):
        call()
    assert kernels.last_backend()[0] == "c", kernels.last_backend()
    result: dict[str, object] = {
        "layer_us": 1e6 * _per_call(layer_call, args.calls, args.repeats),
        "integrate_us": 1e6 * _per_call(integrate_call, args.calls, args.repeats),
        "spike_events_us": 1e6 * _per_call(events_call, args.calls, args.repeats),
    }

    # the runner's block: 10^4 neurons × 100 steps, a per-step current, 10 recorded neurons
    n, steps = 10**4, 100
    drive = torch.full((steps, 1), 0.25).expand(steps, n)  # i -> 1.25: regular firing
    torch.manual_seed(0)
    state = lif.LIFFeedForwardState(v=torch.rand(n), i=torch.rand(n))  # phases spread out
    index = torch.arange(0, n, n // 10)

    work = kernels.Workspace()  # as the runner passes one per population
    current = [state]

    def block():
        # as the runner: each block from the state the previous one returned
        result = kernels.spike_events(lif.MODEL, drive, current[0], p, 0.001, ("v",), index, work)
        current[0] = result[3]
        return result

    block()
    plan = fused.get_plan(
        lif.MODEL.feed_forward_step, drive, state, p, 0.001, ("v",), "step", True, True
    )
    x = drive[:, 0].contiguous()
    new_state = [t.clone() for t in state]
    trace = torch.empty(steps, index.numel())
    table, _ = fused._record_table(index, (n,))
    space = torch.empty(n * steps // 8, dtype=torch.int64)
    counts = torch.tensor([0, space.numel()], dtype=torch.int64)
    # the kernel reads the initial state (last) and writes the final state (second)
    arrays = [x, *new_state, trace, table, space, counts, *state]
    pointers = (ctypes.c_void_p * len(arrays))(*[a.data_ptr() for a in arrays])

    def bare():
        plan.function(steps, n, 0, n, plan.consts, pointers)

    events = block()[0].size
    # the part of the block proportional to its spikes: putting the kernel's per-tile runs
    # of events in time order (simctl.kernels.merge), timed alone on the bare kernel's events
    bare()
    raw = space.numpy()[: int(counts[0])].copy()
    runs = -(-n // fused.LANES)

    def merge():
        merged = merge_by_step(raw, n, steps, runs)
        assert merged is not None and merged.size == raw.size

    # alternating rounds, best of each: all see the same load from other processes
    t_block = t_bare = t_merge = float("inf")
    for _ in range(max(3, args.repeats)):
        t_block = min(t_block, _per_call(block, 50, 1))
        t_bare = min(t_bare, _per_call(bare, 50, 1))
        t_merge = min(t_merge, _per_call(merge, 50, 1))
    result.update(
        runner_block_us=1e6 * t_block,
        runner_kernel_us=1e6 * t_bare,
        runner_block_overhead=(t_block - t_bare) / t_block,
        runner_merge_us=1e6 * t_merge,
        # what is left once the merge is counted as the block's work: the fixed part
        runner_fixed_share=(t_block - t_bare - t_merge) / t_block,
        runner_events_per_neuron_step=events / (n * steps),
    )

    # a fresh 4 MB output per call
    full = 3.0 * torch.rand(steps, n)

    def output_call():
        kernels.integrate(lif.MODEL, full, state, p, 0.001)

    output_call()
    result["output_4mb_ms"] = 1e3 * _per_call(output_call, 50, args.repeats)
    big = 3.0 * torch.rand(steps, 10 * n)  # a 40 MB output: its own mapping on every call
    big_state = lif.lif_initial_state((10 * n,), p)

    def big_call():
        out, _, _ = kernels.integrate(lif.MODEL, big, big_state, p, 0.001)
        return out

    big_call()
    result["output_40mb_ms"] = 1e3 * _per_call(big_call, 10, args.repeats)
    result["torch"] = torch.__version__
    print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in result.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
