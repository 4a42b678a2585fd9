"""``simctl collect SWEEP_DIR``: one row per job of a Hydra multirun, and a summary plot.

A job is a numbered sub-directory with ``.hydra/overrides.yaml``. Its status comes from
``summary.json`` (written by every job, failed ones included) and the ``complete`` flag of its
``sim.h5``; its measures from the file's ``/summary`` group. Writes ``collect.csv`` (``job``,
``overrides`` (space-separated), one column per override key, status, error, and per
population ``spikes:<pop>`` and ``mean_rate_hz:<pop>``) and ``collect.png`` (mean rate
against each swept numeric parameter); prints the failed jobs. Reads files only: no simulation
code, no torch.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["collect", "collect_rows"]


def _job_dirs(sweep_dir: Path) -> list[Path]:
    jobs = [p.parent.parent for p in sweep_dir.glob("**/.hydra/overrides.yaml")]
    jobs = [j for j in jobs if j != sweep_dir]

    def key(p: Path) -> tuple:
        rel = p.relative_to(sweep_dir).parts
        return tuple(int(x) if x.isdigit() else x for x in rel)

    return sorted(set(jobs), key=key)


def _overrides(job: Path) -> dict[str, str]:
    from omegaconf import OmegaConf

    items = OmegaConf.to_container(OmegaConf.load(job / ".hydra" / "overrides.yaml")) or []
    out = {}
    for item in items:
        key, _, value = str(item).partition("=")
        key = key.lstrip("+~")
        if not key.startswith("hydra"):
            out[key] = value
    return out


def collect_rows(sweep_dir: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """``(rows, override keys)`` of every job under ``sweep_dir``."""
    from simctl.recording import load_run

    rows, keys = [], []
    for job in _job_dirs(sweep_dir):
        over = _overrides(job)
        for k in over:
            if k not in keys:
                keys.append(k)
        row: dict[str, Any] = {
            "job": str(job.relative_to(sweep_dir)),
            "overrides": " ".join(f"{k}={v}" for k, v in over.items()),
            **over,
            "status": "",
            "error": "",
        }
        status_file = job / "summary.json"
        if status_file.is_file():
            row["status"], row["error"] = _status(status_file)
        h5 = job / "sim.h5"
        if h5.is_file():
            try:
                run = load_run(h5, state=False, spikes=_small(h5))
            except (OSError, ValueError) as error:
                row["status"], row["error"] = "failed", f"unreadable sim.h5 ({error})"
            else:
                for pop, data in run.populations.items():
                    if "spike_count" in data.summary:
                        rate = data.summary["rate_hz"]
                        row[f"spikes:{pop}"] = int(data.summary["spike_count"].sum())
                        row[f"mean_rate_hz:{pop}"] = float(rate.mean()) if len(rate) else 0.0
                        cv = data.summary.get("cv_isi")  # networks: the ISI CV per neuron
                        if cv is not None and np.isfinite(cv).any():
                            row[f"cv_isi:{pop}"] = float(np.nanmean(cv))
                        else:
                            cv = _mean_cv(data)
                            if cv is not None:
                                row[f"cv_isi:{pop}"] = cv
                if not run.complete and row["status"] == "ok":
                    row["status"] = "incomplete"
                elif not row["status"]:
                    row["status"] = "ok" if run.complete else "incomplete"
        elif not row["status"]:
            row["status"], row["error"] = "failed", "no sim.h5 (the job did not run)"
        rows.append(row)
    _one_population_per_job(rows)
    return rows, keys


MEASURES = ("spikes", "mean_rate_hz", "cv_isi")


def _small(h5: Path, limit: int = 20_000_000) -> bool:
    """Whether the file's spikes are few enough to read for the ISI CV (memory bound)."""
    import h5py

    try:
        with h5py.File(h5, "r") as f:
            group = f.get("spikes")
            return (
                group is not None
                and sum(group[p]["timestamps"].shape[0] for p in group if "timestamps" in group[p])
                <= limit
            )
    except (OSError, KeyError):
        return False


def _mean_cv(data: Any) -> float | None:
    """The mean over neurons (with at least three spikes) of the ISI coefficient of
    variation, or None when the spikes were not read or too few neurons fire."""
    import numpy as np

    times, ids = data.spike_times, data.spike_ids
    if times is None or ids is None or len(times) == 0:
        return None
    order = np.lexsort((times, ids))
    times, ids = np.asarray(times)[order], np.asarray(ids)[order]
    isi = np.diff(times)
    same = ids[1:] == ids[:-1]
    isi, owner = isi[same], ids[1:][same]
    if isi.size == 0:
        return None
    counts = np.bincount(owner)
    total = np.bincount(owner, weights=isi)
    square = np.bincount(owner, weights=isi * isi)
    keep = counts >= 2
    if not keep.any():
        return None
    mean = total[keep] / counts[keep]
    var = np.maximum(square[keep] / counts[keep] - mean * mean, 0.0)
    return float(np.mean(np.sqrt(var) / mean))


def _one_population_per_job(rows: list[dict[str, Any]]) -> None:
    """Where every job has exactly one population but their names differ (a sweep over
    presets names each job's population after its preset), the measures go into plain
    ``spikes``/``mean_rate_hz``/``cv_isi`` columns beside a ``population`` column instead of
    one (mostly empty) column per name: a table with one row per job, not a diagonal."""
    names = [{k.split(":", 1)[1] for k in r if k.startswith("mean_rate_hz:")} for r in rows]
    if len({frozenset(n) for n in names if n}) < 2 or any(len(n) > 1 for n in names):
        return
    for row, found in zip(rows, names, strict=True):
        if not found:
            continue
        (pop,) = found
        row["population"] = pop
        for measure in MEASURES:
            if f"{measure}:{pop}" in row:
                row[measure] = row.pop(f"{measure}:{pop}")


def _status(path: Path) -> tuple[str, str]:
    """``(status, error)`` of a job's summary.json; an empty, cut-off or foreign one means the
    job did not finish writing it: failed, saying why."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return "failed", f"summary.json is unreadable ({error})"
    if not text.strip():
        return "failed", "summary.json is empty (the job stopped before finishing it)"
    try:
        info = json.loads(text)
    except ValueError as error:
        return "failed", f"summary.json is partial or not JSON ({error})"
    if not isinstance(info, dict) or not isinstance(info.get("status"), str) or not info["status"]:
        return "failed", "summary.json has no status"
    return info["status"], str(info.get("error") or "")


def _numeric(rows: list[dict], key: str) -> bool:
    values = [r.get(key) for r in rows if r.get(key) not in (None, "")]
    if len(set(values)) < 2:
        return False
    try:
        [float(v) for v in values]
    except (TypeError, ValueError):
        return False
    return True


def _varies(rows: list[dict], key: str) -> bool:
    return len({r.get(key) for r in rows if r.get(key) not in (None, "")}) >= 2


def collect(sweep_dir: Path) -> int:
    """Writes collect.csv and collect.png into ``sweep_dir``; returns 0 (1 when no job)."""
    rows, keys = collect_rows(sweep_dir)
    if not rows:
        print(f"simctl: error: {sweep_dir}: no jobs (no */.hydra/overrides.yaml)", file=sys.stderr)
        return 1
    measures = sorted(
        {k for r in rows for k in r if k.startswith(tuple(f"{m}:" for m in MEASURES))}
    )
    plain = [m for m in ("population", *MEASURES) if any(m in r for r in rows)]
    columns = ["job", "overrides", *keys, "status", *plain, *measures, "error"]
    with open(sweep_dir / "collect.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            writer.writerow({c: r.get(c, "") for c in columns})
    from simctl.plotting import collect_figure

    swept = [k for k in keys if _numeric(rows, k)]
    categories = [k for k in keys if k not in swept and _varies(rows, k)]
    fig = collect_figure(rows, swept, categories=categories)
    fig.savefig(sweep_dir / "collect.png", dpi=150)
    if len(swept) >= 2:  # a 2-D sweep (a phase diagram): heat maps over the first two keys
        from simctl.plotting import collect_heatmaps

        collect_heatmaps(rows, swept[0], swept[1]).savefig(
            sweep_dir / "collect_heatmaps.png", dpi=150
        )
        print(f"heat maps over ({swept[0]}, {swept[1]}) -> {sweep_dir / 'collect_heatmaps.png'}")
    ok = [r for r in rows if r["status"] == "ok"]
    failed = [r for r in rows if r["status"] != "ok"]
    print(
        f"{len(rows)} jobs: {len(ok)} ok, {len(failed)} failed -> "
        f"{sweep_dir / 'collect.csv'}, {sweep_dir / 'collect.png'}"
    )
    widths = {
        c: max(len(c), *(len(_fmt(r.get(c, ""))) for r in rows))
        for c in columns
        if c not in ("error", "overrides")
    }
    print("  ".join(c.ljust(w) for c, w in widths.items()))
    for r in rows:
        print("  ".join(_fmt(r.get(c, "")).ljust(w) for c, w in widths.items()))
    for r in failed:
        print(f"failed job {r['job']} ({r['overrides']}): {r['status']}: {r['error']}")
    return 0


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)
