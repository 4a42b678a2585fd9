"""Brunel (2000) model A, Fig. 8 panels A-D, in NEST 3 (and Brian2), for the regime checks of
``simctl run experiment=brunel2000`` (simctl/network_analysis.py).

Two steps, so that only the simulator differs:

``simulate`` (the peers' Python, with ``nest-simulator``): one panel at full scale with
``iaf_psc_delta`` (tau_m 20 ms, V_th 20 mV, V_reset 10 mV, E_L 0, t_ref 2 ms, input discarded
while refractory; weights are voltage jumps), J = 0.1 mV and -g*J, delay 1.5 ms, fixed in-degree
C_E = 1000, C_I = 250 (``--multapses`` allows autapses and multapses as NEST's default rule and
``pynest/examples/brunel_delta_nest.py`` do; simctl draws neither), one ``poisson_generator`` at
C_E*eta*nu_thr, resolution 0.1 ms, V_m uniform in [0, 20] mV, 1200 ms; the spikes of all
12 500 neurons go to an npz.

``brian2`` (the peers' Python, with ``brian2``): the same panel in Brian2's runtime mode
(Cython): ``dv/dt = -v/tau (unless refractory)``, exact integration, threshold ``v >= theta``,
jumps and ``PoissonInput`` gated by ``not_refractory`` (input discarded while refractory), the
same fixed in-degree drawn by numpy without autapses or multapses. Brian2 applies a jump after
the step's threshold, as simctl does (a spike answers a presynaptic one after delay + dt);
NEST's ``iaf_psc_delta`` thresholds after adding the jump (after delay).

``stats`` (simctl's Python): simctl's own ``population_stats`` (rate, ISI CV, chi, spectral
peak) of E and I together after 200 ms, the statistics the experiment checks.

Usage::

    /work/peers-venv/bin/python benchmarks/brunel_nest.py simulate C --seed 1 --out C.npz
    /work/peers-venv/bin/python benchmarks/brunel_nest.py brian2 C --seed 1 --out C_b2.npz
    python benchmarks/brunel_nest.py stats C.npz
"""

from __future__ import annotations

import argparse
import time

import numpy as np

PANELS = {"A": (3.0, 2.0), "B": (6.0, 4.0), "C": (5.0, 2.0), "D": (4.5, 0.9)}
N_E, N_I, C_E, C_I = 10000, 2500, 1000, 250
J, DELAY, TAU, THETA, V_R, T_REF = 0.1, 1.5, 20.0, 20.0, 10.0, 2.0
DT, T_STOP, TRANSIENT = 0.1, 1200.0, 200.0


def simulate(panel: str, seed: int, out: str, multapses: bool, threads: int) -> None:
    import nest

    g, eta = PANELS[panel]
    nu_thr = THETA / (J * C_E * TAU)  # spikes per ms
    nest.ResetKernel()
    nest.verbosity = nest.VerbosityLevel.WARNING
    nest.SetKernelStatus({"resolution": DT, "local_num_threads": threads, "rng_seed": seed})
    params = {
        "C_m": 1.0,
        "tau_m": TAU,
        "t_ref": T_REF,
        "E_L": 0.0,
        "V_reset": V_R,
        "V_th": THETA,
        "refractory_input": False,
    }
    nodes = nest.Create("iaf_psc_delta", N_E + N_I, params=params)
    nodes.V_m = nest.random.uniform(0.0, THETA)
    noise = nest.Create("poisson_generator", params={"rate": 1000.0 * eta * nu_thr * C_E})
    recorder = nest.Create("spike_recorder")
    nest.Connect(noise, nodes, syn_spec={"weight": J, "delay": DELAY})
    rule = {"rule": "fixed_indegree", "allow_autapses": multapses, "allow_multapses": multapses}
    for pre, k, w in ((nodes[:N_E], C_E, J), (nodes[N_E:], C_I, -g * J)):
        nest.Connect(pre, nodes, {**rule, "indegree": k}, {"weight": w, "delay": DELAY})
    nest.Connect(nodes, recorder)
    start = time.perf_counter()
    nest.Simulate(T_STOP)
    events = recorder.events
    times = np.asarray(events["times"], dtype=np.float64)
    ids = np.asarray(events["senders"], dtype=np.int64) - nodes[0].global_id
    np.savez(out, times=times, ids=ids, size=N_E + N_I, t_stop=T_STOP, g=g, eta=eta)
    print(
        f"panel {panel} g {g} eta {eta} seed {seed} multapses {multapses}: {times.size} spikes"
        f" in {time.perf_counter() - start:.0f} s -> {out}"
    )


def simulate_brian2(panel: str, seed: int, out: str) -> None:
    import brian2 as b2

    g, eta = PANELS[panel]
    n = N_E + N_I
    b2.prefs.codegen.target = "cython"
    b2.seed(seed)
    rng = np.random.default_rng(seed)
    mV, ms = b2.mV, b2.ms
    ns = {"tau": TAU * ms, "theta": THETA * mV, "V_r": V_R * mV, "J": J * mV, "g": g}
    b2.defaultclock.dt = DT * ms
    group = b2.NeuronGroup(
        n,
        "dv/dt = -v/tau : volt (unless refractory)",
        threshold="v >= theta",
        reset="v = V_r",
        refractory=T_REF * ms,
        method="exact",
        namespace=ns,
    )
    group.v = "rand() * theta"
    pre_e = np.concatenate([rng.choice(N_E, C_E, replace=False) for _ in range(n)])
    pre_i = N_E + np.concatenate([rng.choice(N_I, C_I, replace=False) for _ in range(n)])
    synapses = []
    for pre, k, w in ((pre_e, C_E, "J"), (pre_i, C_I, "-g * J")):
        syn = b2.Synapses(
            group,
            group,
            on_pre=f"v_post += {w} * int(not_refractory_post)",
            delay=DELAY * ms,
            namespace=ns,
        )
        syn.connect(i=pre, j=np.repeat(np.arange(n), k))
        synapses.append(syn)
    nu_thr = THETA / (J * C_E * TAU)  # spikes per ms
    drive = b2.PoissonInput(group, "v", C_E, eta * nu_thr / ms, weight="J * int(not_refractory)")
    monitor = b2.SpikeMonitor(group)
    net = b2.Network(group, drive, monitor, *synapses)
    start = time.perf_counter()
    net.run(T_STOP * ms, namespace=ns)
    times = np.asarray(monitor.t / ms, dtype=np.float64)
    ids = np.asarray(monitor.i, dtype=np.int64)
    np.savez(out, times=times, ids=ids, size=n, t_stop=T_STOP, g=g, eta=eta)
    print(
        f"Brian2 panel {panel} g {g} eta {eta} seed {seed}: {times.size} spikes"
        f" in {time.perf_counter() - start:.0f} s -> {out}"
    )


def stats(paths: list[str]) -> None:
    from simctl.network_analysis import population_stats

    for path in paths:
        d = np.load(path)
        s = population_stats(d["times"], d["ids"], int(d["size"]), TRANSIENT, float(d["t_stop"]))
        print(
            f"{path}: rate {s.rate_hz:.2f} Hz, ISI CV {s.cv_isi:.3f}, chi {s.chi:.3f}, "
            f"peak {s.f_peak_hz:.0f} Hz (x{s.prominence:.0f} the median power)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sim = sub.add_parser("simulate", help="one panel in NEST (the peers' Python)")
    sim.add_argument("panel", choices=sorted(PANELS))
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--out", required=True)
    sim.add_argument("--multapses", action="store_true", help="NEST's default rule")
    sim.add_argument("--threads", type=int, default=1)
    b2 = sub.add_parser("brian2", help="one panel in Brian2 (the peers' Python)")
    b2.add_argument("panel", choices=sorted(PANELS))
    b2.add_argument("--seed", type=int, default=1)
    b2.add_argument("--out", required=True)
    st = sub.add_parser("stats", help="simctl's statistics of saved spikes (simctl's Python)")
    st.add_argument("paths", nargs="+")
    args = parser.parse_args()
    if args.cmd == "simulate":
        simulate(args.panel, args.seed, args.out, args.multapses, args.threads)
    elif args.cmd == "brian2":
        simulate_brian2(args.panel, args.seed, args.out)
    else:
        stats(args.paths)


if __name__ == "__main__":
    main()
