"""``simctl`` command line: argv dispatch (never imports torch or matplotlib at module level).

``simctl run …`` is the Hydra app :func:`simctl.app.main` (``-m``, ``--help``, ``--cfg job``,
``--info`` work as Hydra users expect). Before handing over, the overrides are composed and
validated here (no torch), so a bad value is one line on stderr with exit code 2. The other
verbs are small argparse commands: ``presets [NAME]``, ``inspect FILE.h5``, ``plot FILE.h5``,
``collect SWEEP_DIR``.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import typing
from collections.abc import Sequence

EXIT_CONFIG = 2

USAGE = """usage: simctl <command> [args]

commands:
  run [overrides...]     simulate (a Hydra app: -m for sweeps, --help, --cfg job, --info)
  presets [NAME]         list the presets, or show one
  inspect FILE.h5        populations, sizes, duration, spike counts, rates, completeness
  plot FILE.h5           redraw raster.png and traces.png from a run's file
  collect SWEEP_DIR      one table (collect.csv) and plot (collect.png) for a sweep
  export FILE.h5 --to nwb [-o OUT]   the run as NWB 2 (needs pip install "simctl[nwb]")

examples:
  simctl run neuron=izhikevich preset=bursting
  simctl run -m input.amplitude=5,10,15 && simctl collect multirun/<date>/<time>
  eval "$(simctl run -sc install=bash)"    # Tab completion (zsh, fish: README)
"""

#: Hydra's flags of ``simctl run``: those that take a value, those whose value is optional
#: (``--cfg [job]``, ``--info [searchpath]``) and those that take none
_VALUE_FLAGS = {
    "--config-path",
    "-cp",
    "--config-name",
    "-cn",
    "--config-dir",
    "-cd",
    "--experimental-rerun",
    "--package",
    "-p",
}
_OPTIONAL_VALUE_FLAGS = {"--cfg", "-c", "--info", "-i"}
_KNOWN_FLAGS = {
    *_VALUE_FLAGS,
    *_OPTIONAL_VALUE_FLAGS,
    "--help",
    "-h",
    "--hydra-help",
    "--version",
    "--resolve",
    "--run",
    "-r",
    "--multirun",
    "-m",
    "--shell-completion",
    "-sc",
}
#: flags after which nothing is validated (Hydra prints help or information, or reruns)
_NO_CHECK = {
    "--help",
    "-h",
    "--hydra-help",
    "--info",
    "-i",
    "--shell-completion",
    "-sc",
    "--version",
    "--experimental-rerun",
    "--config-path",
    "-cp",
    "--config-name",
    "-cn",
}
_CFG_VALUES = ("job", "hydra", "all")
_INFO_VALUES = ("all", "config", "defaults", "defaults-tree", "plugins", "searchpath")


def _check_flags(flags: dict[str, str | None]) -> str:
    """A one-line problem with the ``--flags`` of ``simctl run``, else ''."""
    for flag, value in flags.items():
        if flag not in _KNOWN_FLAGS:
            return (
                f"{flag}: unknown option of simctl run; allowed: -m, --help, --hydra-help, "
                "--cfg job|hydra|all, --resolve, --package, --info, --config-dir, "
                "--config-name, --version, --shell-completion, --experimental-rerun"
            )
        if flag in ("--cfg", "-c") and value not in _CFG_VALUES:
            return f"{flag}={value or ''}: not a valid choice; allowed: {', '.join(_CFG_VALUES)}"
        if flag in ("--info", "-i") and value is not None and value not in _INFO_VALUES:
            return f"{flag}={value}: not a valid choice; allowed: {', '.join(_INFO_VALUES)}"
    # Hydra takes one of these at a time (-m with --cfg/--info shows the first job instead)
    modes = [f for f in flags if f in ("--run", "-r", "--cfg", "-c", "--info", "-i")]
    if len(modes) > 1:
        return (
            f"{' '.join(modes)}: only one of --run, --cfg, --info at a time; allowed: one of them"
        )
    return ""


def _first_job_args(args: Sequence[str]) -> list[str]:
    """``args`` of a sweep (``-m``) as the arguments of its first job: Hydra refuses
    ``--cfg``/``--info`` together with ``-m``, so these print the first job's config."""
    overrides, flags, _ = _split_args(args)
    config_dir = flags.get("--config-dir") or flags.get("-cd")
    first = dict(zip(overrides, _override_sets(overrides, True, config_dir)[0], strict=True))
    return [first.get(a, a) for a in args if a not in ("-m", "--multirun")]


def _error(message: str) -> int:
    # always one line: a library's message (h5py's) may hold newlines
    print(f"simctl: error: {' '.join(message.split())}", file=sys.stderr)
    return EXIT_CONFIG


class _Parser(argparse.ArgumentParser):
    """argparse for the small commands, whose usage errors are simctl's one line (exit 2)
    instead of argparse's usage block: the problem, then the usage as what is allowed."""

    def error(self, message: str) -> typing.NoReturn:
        usage = " ".join(self.format_usage().split()).removeprefix("usage: ")
        sys.exit(_error(f"{self.prog}: {message}; allowed: {usage} (--help: more)"))


def _split_args(args: Sequence[str]) -> tuple[list[str], dict[str, str | None], bool]:
    overrides: list[str] = []
    flags: dict[str, str | None] = {}
    multirun = False
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-m", "--multirun"):
            multirun = True
        elif a.startswith("-") and "=" not in a:
            if a in _OPTIONAL_VALUE_FLAGS:
                # optional value (job/hydra/all, searchpath/…)
                if i + 1 < len(args) and not args[i + 1].startswith("-") and "=" not in args[i + 1]:
                    flags[a] = args[i + 1]
                    i += 1
                else:
                    flags[a] = None
            elif a in _VALUE_FLAGS and i + 1 < len(args):
                flags[a] = args[i + 1]
                i += 1
            else:
                flags[a] = None
        elif a.startswith("--") and "=" in a:
            k, v = a.split("=", 1)
            flags[k] = v
        else:
            overrides.append(a)
        i += 1
    return overrides, flags, multirun


def _override_sets(
    overrides: list[str], multirun: bool, config_dir: str | None = None
) -> list[list[str]]:
    """The override lists to validate: all of them, and for sweeps each swept value once."""
    if not multirun:
        return [overrides]
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    base, sweeps = [], []
    for o in parsed:
        if o.is_sweep_override():
            values = _sweep_values(o, config_dir)
            key = o.get_key_element()
            sweeps.append((len(base), key, values))
            base.append(f"{key}={values[0]}" if values else o.input_line)
        else:
            base.append(o.input_line)
    sets = [base]
    for index, key, values in sweeps:
        for value in values[1:25]:
            other = list(base)
            other[index] = f"{key}={value}"
            sets.append(other)
    return sets[:60]


def _translate(error: BaseException, overrides: list[str], group_options=None, compose=None) -> str:
    """One line for a Hydra/OmegaConf composition error; ``group_options(group)`` lists the
    options of Hydra's own groups (``hydra/launcher``), ``compose(overrides)`` composes the
    config whose keys are suggested (default: :func:`_compose`)."""
    from hydra.errors import MissingConfigException

    text = str(error)
    if (
        isinstance(error, MissingConfigException)
        or "Could not find" in text
        or "Could not load" in text
    ):
        m = re.search(r"Could not (?:find|load) '([^']+)/([^'/]*)'", text)
        if m:
            group, option = m.group(1), m.group(2)
            from simctl.config import list_options

            opts = list_options(group)
            if not opts and group_options is not None:
                try:
                    opts = sorted(group_options(group))
                except Exception:  # noqa: BLE001 - best effort
                    opts = []
            if (group, option) in PLUGINS and option not in opts:
                what, install = PLUGINS[(group, option)]
                return (
                    f"{group}={option}: {what} is not installed (a Hydra plugin); allowed: "
                    f"{install}, or one of {', '.join(opts)}"
                )
            from simctl.config.errors import did_you_mean

            hint = did_you_mean(option, opts)
            return f"{group}={option}: unknown {group} option{hint}; allowed: {', '.join(opts)}"
    m = re.match(r"Error merging override ([^=\s]+)=(.*)", text)
    cause = str(getattr(error, "__cause__", None) or "").strip()
    if m and cause:
        # a typed node (a launcher's config dataclass) refused the value: say why
        why = cause.splitlines()[0]
        kind = re.search(r"could not be converted to (\w+)", why)
        allowed = {"Integer": "an integer", "Float": "a number", "Boolean": "true or false"}
        tail = f"; allowed: {allowed[kind.group(1)]}" if kind and kind.group(1) in allowed else ""
        return f"{m.group(1)}={m.group(2)}: {why}{tail}"
    m = re.search(r"Could not override '([^']+)'", text) or re.search(
        r"Could not append to config. An item is already at '([^']+)'", text
    )
    if m or "not in struct" in text:
        key = m.group(1) if m else ""
        if not key:
            km = re.search(r"full_key: (\S+)", text)
            key = km.group(1) if km else "?"
        value = next(
            (o.split("=", 1)[1] for o in overrides if o.split("=", 1)[0].lstrip("+~") == key), ""
        )
        if "already at" in text:
            return f"+{key}={value}: {key} is already in the config; allowed: {key}={value}"
        # the key that is missing: the override's own, or one inside a mapping value
        cause = str(getattr(error, "__cause__", None) or "")
        km = re.search(r"full_key: (\S+)", cause)
        missing = km.group(1) if km and km.group(1).startswith(key) else key
        parent, _, leaf = missing.rpartition(".")
        others = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") != key]
        allowed = _keys_at(parent, others, compose)
        shown = missing if missing == key else f"{key}={value} ({missing}"
        line = f"{key}={value}: unknown key" if missing == key else f"{shown}): unknown key"
        if parent in _OPEN_MAPPINGS or (parent.startswith("populations") and not allowed):
            add = f"+{key}={value}" if missing == key else f"+{missing}=..."
            line = f"{key}={value}: {missing} is not in the config yet; allowed: add it with {add}"
        elif allowed:
            from simctl.config.errors import did_you_mean

            line += f"{did_you_mean(leaf, allowed)}; allowed: {', '.join(allowed)}"
        return line
    if (
        "mismatched input" in text
        or "no viable alternative" in text
        or "Error parsing override" in text
        or "LexerNoViableAltException" in text
        or "Config group override must be" in text
    ):
        first = text.strip().splitlines()[0]
        bad = next((o for o in overrides if o in text), None) or next(
            (o for o in overrides if o.startswith("=")), None
        )
        where = f" {bad!r}" if bad and bad not in first else ""
        return (
            f"cannot parse the override{where}: {first}; allowed: key=value, +key=value, "
            "~key, group=option (quote values with spaces, e.g. 'key={a: 1}')"
        )
    m = re.search(r"full_key: (\S+)", text)
    first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    if m:
        return f"{m.group(1)}: {first}"
    return first


#: mappings whose keys are the user's to choose (state variables, parameters, populations)
_OPEN_MAPPINGS = ("population.initial_state", "neuron.params_dist", "populations")


def _keys_at(path: str, overrides: list[str], compose=None) -> list[str]:
    try:
        if compose is None:
            cfg = _compose(overrides, hydra=path.startswith("hydra"))
        else:
            cfg = compose(overrides)
    except Exception:  # noqa: BLE001
        return []
    node = cfg
    for part in [p for p in path.split(".") if p]:
        node = node.get(part) if hasattr(node, "get") else None
        if node is None:
            return []
    return [str(k) for k in node.keys()] if hasattr(node, "keys") else []


def _compose(overrides: list[str], config_dir: str | None = None, hydra: bool = False):
    """The composed config (no Hydra runtime); with ``hydra`` (or a ``--config-dir``, whose
    search path is a ``hydra.`` override) the ``hydra`` node is kept."""
    from hydra import compose, initialize_config_module

    extra = []
    if config_dir:
        extra = [f"hydra.searchpath=[file://{os.path.abspath(config_dir)}]"]
    with initialize_config_module("simctl.configs", version_base="1.3"):
        return compose(
            "config", overrides=[*overrides, *extra], return_hydra_config=hydra or bool(extra)
        )


#: accepted values of ``$SIMCTL_KERNELS`` (``simctl.kernels.BACKENDS``; kept torch-free here)
KERNEL_CHOICES = ("auto", "c", "triton", "reference", "compile")


def preflight(args: Sequence[str]) -> int:
    """The checks of ``simctl run`` arguments that need no composition; 0 or exit code 2.

    Composition and validation happen once, inside Hydra's own composition (see
    :class:`_Guard`), before Hydra configures logging, runs callbacks or exports anything.
    """
    overrides, flags, multirun = _split_args(args)
    problem = _check_flags(flags)
    if problem:
        return _error(problem)
    if "--experimental-rerun" in flags:
        return _error(
            f"--experimental-rerun={flags['--experimental-rerun'] or ''}: refused: it unpickles "
            "a file, which can run any code; allowed: simctl run with the job's "
            ".hydra/overrides.yaml as overrides"
        )
    kernels = os.environ.get("SIMCTL_KERNELS")
    if kernels is not None and (kernels.strip().lower() or "auto") not in KERNEL_CHOICES:
        return _error(
            f"SIMCTL_KERNELS={kernels}: unknown kernel backend; "
            f"allowed: {', '.join(KERNEL_CHOICES)}"
        )
    config_dir = flags.get("--config-dir") or flags.get("-cd")
    if config_dir is not None and not os.path.isdir(config_dir):
        return _error(f"--config-dir={config_dir}: no such directory; allowed: a directory")
    if multirun:
        problem = _check_sweeps(overrides, config_dir)
        if problem:
            return _error(problem)
    return 0


_SWEEP_FORMS = "a,b,c, range(start,stop[,step]), choice(a,b), glob(pattern)"


def _is_glob(override) -> bool:
    return override.value_type is not None and override.value_type.name == "GLOB_CHOICE_SWEEP"


def _sweep_values(override, config_dir: str | None = None) -> list[str]:
    """The values of a discrete sweep override; a ``glob`` over a config group's options
    (simctl's and ``config_dir``'s: Hydra's own parser needs a config loader for it)."""
    if _is_glob(override):
        from simctl.config import list_options, search_dirs

        dirs = search_dirs([config_dir] if config_dir else None)
        return override.value().filter(list_options(override.get_key_element(), dirs))
    return list(override.sweep_string_iterator())


def _check_sweeps(overrides: list[str], config_dir: str | None = None) -> str:
    """A one-line problem with the sweeps of ``-m`` that Hydra's basic sweeper reports with a
    traceback (``range(1,5,0)``, ``interval(0,1)``) or runs as zero jobs and exit 0
    (``range(5,1)``, a ``glob`` that matches no option), else ''."""
    if any(o.lstrip("+~").startswith("hydra/sweeper=") for o in overrides):
        return ""  # another sweeper: its own sweep syntax
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except Exception:  # noqa: BLE001 - the composition reports a parse error in one line
        return ""
    for o in parsed:
        if not o.is_sweep_override():
            continue
        line = o.input_line
        if not o.is_discrete_sweep():
            kind = o.value_type.name.lower().replace("_", " ") if o.value_type else "this"
            return (
                f"{line}: the basic sweeper cannot run an {kind} (it needs the values); "
                f"allowed: {_SWEEP_FORMS}, or a sweeper plugin (hydra/sweeper=optuna)"
            )
        if _is_glob(o) and o.get_key_element().startswith("hydra"):
            continue  # Hydra's own groups (hydra/launcher=glob(*)): Hydra lists them
        try:
            values = _sweep_values(o, config_dir)
        except ValueError as error:  # range(1,5,0)
            return f"{line}: {error}; allowed: {_SWEEP_FORMS} (a non-zero step)"
        if not values:
            return (
                f"{line}: the sweep has no values (zero jobs); allowed: {_SWEEP_FORMS} with "
                "at least one value (range(start,stop) needs start < stop for a positive step)"
            )
    return ""


def _hydra_argv(args: Sequence[str]) -> list[str]:
    """``args`` with the overrides first and the flags after them: Hydra's argparse takes the
    overrides as one positional list, so a flag placed among them (``a=1 --config-dir d b=2``)
    would leave ``b=2`` unrecognised."""
    overrides, flags, multirun = _split_args(args)
    out = list(overrides)
    if multirun:
        out.append("-m")
    for flag, value in flags.items():
        out.append(flag)
        if value is not None:
            out.append(value)
    return out


def _die(message: str) -> None:
    print(f"simctl: error: {message}", file=sys.stderr)
    sys.exit(EXIT_CONFIG)


def _unwrap(error: BaseException) -> BaseException:
    """Hydra wraps OmegaConf's errors in an empty ConfigCompositionException."""
    while not str(error).strip() and error.__cause__ is not None:
        error = error.__cause__
    return error


def yaml_problem(error: BaseException) -> str:
    """``FILE:LINE: broken YAML (...)`` when ``error`` (or its cause) is a YAML syntax error."""
    import yaml

    seen = error
    while seen is not None:
        if isinstance(seen, yaml.MarkedYAMLError):
            mark = seen.problem_mark or seen.context_mark
            where = f"{mark.name}:{mark.line + 1}" if mark else "a config file"
            what = " ".join(str(seen.problem or seen.context or "").split())
            return f"{where}: broken YAML ({what}); allowed: a valid YAML mapping"
        if isinstance(seen, yaml.YAMLError):
            return f"broken YAML ({' '.join(str(seen).split())}); allowed: a valid YAML mapping"
        seen = seen.__cause__ or seen.__context__
    return ""


def interpolation_problem(error: BaseException, cfg=None) -> str:
    """One line for an OmegaConf interpolation error (``${oc.env:MISSING}``, unknown resolver,
    missing key), naming the key and its raw value."""
    from omegaconf.errors import InterpolationResolutionError

    if not isinstance(error, InterpolationResolutionError):
        return ""
    key = getattr(error, "full_key", "") or "?"
    raw = ""
    if cfg is not None:
        try:
            node = cfg
            for part in key.split("."):
                node = node._get_node(part)
            raw = str(node._value())  # the ${...} text, unresolved
        except Exception:  # noqa: BLE001 - best effort
            raw = ""
    why = (str(error).strip().splitlines() or [type(error).__name__])[0]
    head = f"{key}={raw}" if raw else key
    return (
        f"{head}: cannot resolve the interpolation ({why}); allowed: an existing key, a set "
        "environment variable, or the resolvers oc.env, oc.select, oc.decode, now"
    )


class _Guard:
    """Runs inside every composition Hydra makes during one ``simctl run``.

    Hydra composes (``ConfigLoaderImpl.load_configuration``), then configures logging from the
    config, instantiates ``hydra.callbacks`` and exports ``hydra.job.env_set``. The guard
    checks each composed config right after composition, so a config that would run code is
    refused (one line, exit 2) before any of that, and it validates the job once: the
    :class:`~simctl.config.RunSpec` is handed to the task (``simctl.app.PREPARED``), which
    does not resolve again. In a sweep, Hydra composes every job twice (to check the batch,
    then to launch it); the second composition reuses the first. ``Hydra.get_mode`` (a
    throw-away composition that only reads ``hydra.mode``) is skipped: ``-m`` decides.
    """

    def __init__(self, validate: bool):
        self.validate = validate
        self.compositions = 0
        #: the sweep directory and the first of its folders that did not exist before
        self.new_sweep_dir: tuple[str, str] | None = None
        self._sweep_jobs: dict[tuple[str, ...], object] = {}
        self._in_sweep = False
        self._sweep_composer = None
        self._saved: list[tuple[object, str, object]] = []

    def __enter__(self) -> _Guard:
        from hydra._internal.config_loader_impl import ConfigLoaderImpl
        from hydra._internal.hydra import Hydra
        from hydra.types import RunMode

        guard = self
        load, load_sweep = ConfigLoaderImpl.load_configuration, ConfigLoaderImpl.load_sweep_config

        def load_configuration(loader, config_name, overrides, run_mode, *a, **k):
            try:
                cfg = load(loader, config_name, overrides, run_mode, *a, **k)
            except Exception as error:  # noqa: BLE001 - Hydra's composition errors
                if os.environ.get("HYDRA_FULL_ERROR") == "1":
                    raise
                given = [o for o in overrides if not o.startswith("hydra.mode=")]

                def compose(ov: list[str]):
                    return load(loader, config_name, ov, RunMode.RUN)

                line = yaml_problem(error) or _translate(
                    _unwrap(error), given, loader.get_group_options, compose
                )
                _die(line)
            guard.compositions += 1
            guard.check(cfg, run_mode)
            return cfg

        def load_sweep_config(loader, master_config, sweep_overrides):
            key = tuple(sweep_overrides)
            if key in guard._sweep_jobs:
                return guard._sweep_jobs.pop(key)
            guard._in_sweep = True
            try:
                composer = guard._composer(loader, master_config, load, load_sweep)
                if composer is None:
                    cfg = load_sweep(loader, master_config, sweep_overrides)
                else:
                    cfg = composer.compose(list(sweep_overrides))
            finally:
                guard._in_sweep = False
            guard._sweep_jobs[key] = cfg
            return cfg

        self._patch(ConfigLoaderImpl, "load_configuration", load_configuration)
        self._patch(ConfigLoaderImpl, "load_sweep_config", load_sweep_config)
        self._patch(Hydra, "get_mode", lambda hydra, config_name, overrides: None)
        return self

    def _composer(self, loader, master_config, load, load_sweep):
        """``hydra/launcher=batch`` composes the jobs that differ only in values from one
        composition (:mod:`hydra_plugins.simctl_batch_launcher._compose`); None otherwise."""
        from hydra_plugins.simctl_batch_launcher._compose import SweepComposer, is_batch_launcher

        if self._sweep_composer is not None and self._sweep_composer.master is master_config:
            return self._sweep_composer
        if not is_batch_launcher(master_config):
            return None
        from hydra.types import RunMode

        def check(cfg):
            self.compositions += 1
            task_cfg = _task_config(cfg)
            self.check(cfg, RunMode.RUN, task_cfg)
            return task_cfg

        self._sweep_composer = SweepComposer(
            loader,
            master_config,
            load=lambda ov: load(loader, master_config.hydra.job.config_name, ov, RunMode.RUN),
            full=lambda ov: load_sweep(loader, master_config, ov),
            check=check,
        )
        return self._sweep_composer

    def _patch(self, owner: object, name: str, function: object) -> None:
        self._saved.append((owner, name, getattr(owner, name)))
        setattr(owner, name, function)

    def __exit__(self, *exc: object) -> None:
        for owner, name, original in reversed(self._saved):
            setattr(owner, name, original)
        self._saved.clear()

    def check(self, cfg, run_mode, task_cfg=None) -> None:
        """Refuses a config that would run code; validates a job (exit 2 on any problem).

        ``task_cfg`` (the batch launcher's jobs): ``cfg`` less its ``hydra`` node, a copy the
        caller keeps; the validation then reads it and ``cfg``'s own ``hydra`` node instead of
        making its two copies of ``cfg`` (the result is the same)."""
        import copy

        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode
        from omegaconf import OmegaConf

        from simctl import app
        from simctl.config import ConfigError
        from simctl.config.validate import check_trusted

        try:
            check_trusted(OmegaConf.to_container(cfg, resolve=False))
            problem = _check_launcher(cfg)
            if problem:
                _die(problem)
        except ConfigError as error:
            _die(error.line())
        if not self.validate:
            return
        multirun = run_mode == RunMode.MULTIRUN
        if not self._in_sweep:
            problem = _check_output_dir(cfg, multirun)
            if problem:
                _die(problem)
            if multirun and self.new_sweep_dir is None:
                self.new_sweep_dir = _new_folder(str(cfg.hydra.sweep.dir))
        if multirun:
            return  # the sweep's jobs are validated one by one as Hydra composes them
        try:
            if task_cfg is not None:
                spec = _resolve_task(cfg, task_cfg)
            else:
                # for ${hydra:...} in the task's config; Hydra sets it again for the job
                HydraConfig.instance().set_config(copy.deepcopy(cfg))
                spec = app.resolve_config(cfg)
        except ConfigError as error:
            if os.environ.get("HYDRA_FULL_ERROR") == "1":
                raise
            _die(error.line())
        except Exception as error:  # noqa: BLE001 - interpolation and YAML errors
            if os.environ.get("HYDRA_FULL_ERROR") == "1":
                raise
            line = yaml_problem(error) or interpolation_problem(error, cfg)
            if not line:
                raise
            _die(line)
        app.PREPARED[tuple(cfg.hydra.overrides.task)] = spec


def _new_folder(path: str) -> tuple[str, str] | None:
    """``(path, first folder of it that does not exist yet)``, or None when it exists."""
    target = os.path.abspath(path)
    if os.path.exists(target):
        return None
    first = target
    while not os.path.exists(os.path.dirname(first)):
        first = os.path.dirname(first)
    return target, first


def _remove_unused_sweep_dir(new: tuple[str, str] | None) -> None:
    """After a sweep refused before its first job: Hydra's sweeper has already made the sweep
    directory and written ``multirun.yaml`` there; remove them (and the folders made for
    them) when nothing else was written, so a refused sweep leaves no half-made directory."""
    if new is None:
        return
    target, first = new
    try:
        if set(os.listdir(target)) - {"multirun.yaml"}:
            return  # a job ran: keep everything
        if os.path.exists(os.path.join(target, "multirun.yaml")):
            os.remove(os.path.join(target, "multirun.yaml"))
        folder = target
        while True:
            os.rmdir(folder)  # only empty folders; the first one that is not stops here
            if folder == first:
                break
            folder = os.path.dirname(folder)
    except OSError:
        pass


def _task_config(cfg):
    """``cfg`` less its ``hydra`` node, as Hydra's ``run_job`` makes it (a deep copy, then
    ``del copy["hydra"]`` under ``read_write``/``open_dict``), without copying the ``hydra``
    node only to drop it: the root's content is the same dict less that key meanwhile."""
    import copy

    from omegaconf import open_dict, read_write

    content = cfg.__dict__["_content"]
    cfg.__dict__["_content"] = {k: v for k, v in content.items() if k != "hydra"}
    try:
        task_cfg = copy.deepcopy(cfg)
    finally:
        cfg.__dict__["_content"] = content
    with read_write(task_cfg), open_dict(task_cfg):
        pass  # (the flag changes of run_job's deletion)
    return task_cfg


def _resolve_task(cfg, task_cfg):
    """``app.resolve_config(cfg)`` computed on ``task_cfg`` (``cfg`` less its ``hydra``
    node), with ``${hydra:...}`` reading ``cfg``'s own ``hydra`` node meanwhile."""
    from hydra.core.hydra_config import HydraConfig

    from simctl import app

    instance = HydraConfig.instance()
    saved = instance.cfg
    instance.cfg = cfg  # HydraConfig.get() is cfg.hydra, as after set_config(copy of cfg)
    try:
        hydra_cfg = cfg.hydra
        choices = {k: v for k, v in hydra_cfg.runtime.choices.items() if not k.startswith("hydra/")}
        return app.resolve_config(task_cfg, choices, app.config_dirs_from_hydra(hydra_cfg))
    finally:
        instance.cfg = saved


def _check_launcher(cfg) -> str:
    """A SLURM launcher needs SLURM: say so in one line instead of failing at submission."""
    import shutil

    from omegaconf import OmegaConf

    target = str(OmegaConf.select(cfg, "hydra.launcher._target_", default="") or "")
    if "submitit" in target.lower() and "slurm" in target.lower() and not shutil.which("sbatch"):
        choice = OmegaConf.select(cfg, "hydra.runtime.choices.hydra/launcher", default="")
        return (
            f"hydra/launcher={choice or target}: SLURM is not available here (SLURM's sbatch "
            "was not found on PATH); allowed: hydra/launcher=submitit_local or "
            "hydra/launcher=joblib on this machine, or the same command on a SLURM login node"
        )
    return ""


#: Hydra's launcher and sweeper plugins by option name: (what it is, how to install it)
PLUGINS = {
    ("hydra/launcher", "joblib"): ("the joblib launcher", "pip install 'simctl[joblib]'"),
    ("hydra/launcher", "submitit_local"): (
        "the submitit launcher",
        "pip install 'simctl[submitit]'",
    ),
    ("hydra/launcher", "submitit_slurm"): (
        "the submitit launcher",
        "pip install 'simctl[submitit]'",
    ),
    ("hydra/launcher", "ray"): ("the Ray launcher", "pip install 'simctl[ray]'"),
    ("hydra/launcher", "ray_aws"): ("the Ray launcher", "pip install 'simctl[ray]'"),
    ("hydra/launcher", "rq"): ("the RQ launcher", "pip install hydra-rq-launcher"),
    ("hydra/sweeper", "optuna"): ("the Optuna sweeper", "pip install hydra-optuna-sweeper"),
    ("hydra/sweeper", "nevergrad"): (
        "the Nevergrad sweeper",
        "pip install hydra-nevergrad-sweeper",
    ),
    ("hydra/sweeper", "ax"): ("the Ax sweeper", "pip install hydra-ax-sweeper"),
}


def _check_output_dir(cfg, multirun: bool) -> str:
    """A one-line problem when the run (or sweep) directory cannot be created, else ''."""
    import tempfile
    from pathlib import Path

    from omegaconf import OmegaConf

    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    try:
        given = OmegaConf.select(cfg, key)
    except Exception as error:  # noqa: BLE001 - an interpolation that cannot resolve
        return interpolation_problem(error, cfg) or f"{key}: {error}"
    if given is None or not str(given).strip():
        # Path('') is the working directory: the run's files would land among the user's
        shown = "null" if given is None else repr(str(given))
        return f"{key}={shown}: empty; allowed: a directory (. for this one)"
    target = Path(str(given)).absolute()
    ancestor = target
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    try:
        if not ancestor.is_dir():
            raise NotADirectoryError(f"{ancestor} is not a directory")
        os.rmdir(tempfile.mkdtemp(prefix=".simctl-probe-", dir=ancestor))
    except OSError as error:
        reason = error.strerror or str(error)
        return (
            f"{key}={target}: output directory is not writable ({reason} at {ancestor}); "
            "allowed: a writable directory"
        )
    return ""


#: the guard of the ``simctl run`` in progress (tests read its ``compositions``)
GUARD: _Guard | None = None


def cmd_run(args: list[str]) -> int:
    global GUARD
    overrides, flags, multirun = _split_args(args)
    for flag in ("-sc", "--shell-completion"):
        if flag in flags:  # before any check: a Tab never prints an error
            from simctl.completion import shell_completion

            given = [flags[flag]] if flags[flag] else []
            code, problem = shell_completion([*given, *overrides])
            return _error(problem) if problem else code
    code = preflight(args)
    if code:
        return code
    if "--hydra-help" in flags:
        args = _hydra_help_args(args)
    if multirun and any(f in flags for f in ("--cfg", "-c", "--info", "-i")):
        try:
            args = _first_job_args(args)
        except Exception as error:  # noqa: BLE001 - override parse errors
            return _error(_translate(error, _split_args(args)[0]))
        print("simctl: note: with -m, --cfg and --info show the first job", file=sys.stderr)
    from simctl import app

    validate = not any(f in _NO_CHECK for f in flags)
    sys.argv = ["simctl", *_hydra_argv(args)]
    if "--help" in flags or "-h" in flags:
        try:
            with _Guard(validate) as GUARD:
                app.main()
        except SystemExit as done:  # Hydra's help exits; the neuron's units follow it
            _print_neuron_units(_split_args(args)[0])
            raise done from None
        return 0
    try:
        with _Guard(validate) as GUARD:
            app.main()
    except SystemExit as done:
        if done.code == EXIT_CONFIG:
            _remove_unused_sweep_dir(GUARD.new_sweep_dir if GUARD else None)
        raise
    return 0


def _hydra_help_args(args: list[str]) -> list[str]:
    """``--hydra-help`` shows simctl's page (configs/hydra/hydra_help/simctl.yaml). Hydra
    composes that page from its own config only, so the task's overrides are left out (they
    would be unknown keys there); ``hydra/…`` and ``hydra.…`` overrides stay."""
    overrides = set(_split_args(args)[0])
    kept = [a for a in args if a not in overrides or a.lstrip("+~").startswith("hydra")]
    if not any(a.lstrip("+~").startswith("hydra/hydra_help=") for a in kept):
        kept.append("hydra/hydra_help=simctl")
    return kept


def _print_neuron_units(overrides: list[str]) -> None:
    """After ``simctl run --help``: the chosen neuron's parameters, state and input with their
    units, from its description (torch-free)."""
    from simctl.models import describe

    model = "izhikevich"
    for item in overrides:
        key, _, value = item.lstrip("+~").partition("=")
        if key == "neuron" and value:
            model = value
    try:
        described = describe(model)
    except KeyError:
        return
    print(f"\n== neuron={model}: {described['summary']} ==")
    for key, spec in described["parameters"].items():
        what = spec.get("unit", "") if spec.get("unit") not in (None, "1") else ""
        if spec.get("choices"):
            what = "one of " + ", ".join(spec["choices"])
        print(f"  neuron.{key:<24} {what:<14} {spec.get('doc', '')}")
    current = described["current"]
    unit = "dimensionless" if current["unit"] == "1" else current["unit"]
    print(f"  input: a current in {unit} into {current['enters']} ({current.get('doc', '')})")
    jumps = ", ".join(
        f"{k} ({'dimensionless' if u == '1' else u})" for k, u in described["jumps"].items()
    )
    print(f"  spikes (encoders, projections) may jump: {jumps}")


def _physical_shown(preset: dict, dirs: list) -> dict:
    """A preset in physical units (``neuron.physical``) shows its physical keys and the library
    fields converted from them, not the option file's library defaults."""
    from simctl.config import ConfigError
    from simctl.config.resolve import check_neuron

    try:
        spec = check_neuron(preset.get("neuron"), "neuron", dirs)
    except ConfigError:
        return preset
    if not spec.physical:
        return preset
    neuron = {"model": spec.model, "physical": spec.physical}
    neuron.update({k: v for k, v in spec.params.items() if k not in ("tau_syn_inv",)})
    return {**preset, "neuron": neuron}


def cmd_presets(args: list[str]) -> int:
    parser = _Parser(prog="simctl presets", description="List the presets, or show one.")
    parser.add_argument("name", nargs="?", help="a preset to show in full")
    ns = parser.parse_args(args)
    from simctl.config import ConfigError, list_options, load_preset, search_dirs

    dirs = search_dirs()
    if ns.name:
        try:
            p = load_preset(ns.name, dirs)
        except ConfigError as error:
            return _error(error.line())
        from omegaconf import OmegaConf

        info = p["preset_info"]
        p = _physical_shown(p, dirs)
        print(f"{ns.name}: {info.get('description', '')}")
        print(f"  model:  {info.get('model', '')}")
        print(f"  source: {info.get('source', '')}")
        neuron = p.get("neuron") or {}
        if neuron:
            print("neuron:")
            print("\n".join(_with_units(neuron, info.get("model", ""))))
        rest = {k: v for k, v in p.items() if k not in ("preset_info", "neuron") and v}
        print(OmegaConf.to_yaml(rest).rstrip())
        unit = _current_unit(info.get("model", ""), neuron)
        if unit:
            print(f"# input values are currents in {unit}")
        print(f"\nrun it: simctl run neuron={info.get('model')} preset={ns.name}")
        return 0
    rows = []
    for name in list_options("preset", dirs):
        try:
            p = load_preset(name, dirs)
        except ConfigError:
            continue
        info, sim, inp = p["preset_info"], p["simulation"], p["input"] or {}
        rows.append(
            (
                name,
                info.get("model", ""),
                f"{sim.get('dt', '')}",
                f"{sim.get('duration', '')}",
                _describe_input(inp),
                info.get("source", "").split(";")[0],
            )
        )
    head = ("preset", "model", "dt ms", "T ms", "stimulus", "source")
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    widths[-1] = 0
    for r in [head, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=False)).rstrip())
    print("\nshow one: simctl presets NAME    run one: simctl run preset=NAME")
    return 0


def _with_units(node: dict, model: str, indent: str = "  ", path: str = "") -> list[str]:
    """``key: value  # unit, what it is`` lines of a neuron node (units from the model's
    description, :mod:`simctl.models`; torch-free)."""
    from simctl.models import parameter

    lines = []
    for key, value in node.items():
        if value is None and key == "params_dist":
            continue
        if isinstance(value, dict):
            lines.append(f"{indent}{key}:")
            lines.extend(_with_units(value, model, indent + "  ", f"{path}{key}."))
            continue
        spec = {}
        try:
            spec = parameter(model, f"{path}{key}") or {}
        except KeyError:
            pass
        unit = spec.get("unit", "")
        note = ", ".join(x for x in (unit if unit not in ("", "1") else "", spec.get("doc")) if x)
        lines.append(f"{indent}{key}: {value}" + (f"  # {note}" if note else ""))
    return lines


def _current_unit(model: str, neuron: dict) -> str:
    from simctl.models import current_unit

    try:
        unit = current_unit(model, physical=bool(neuron.get("physical")))
    except KeyError:
        return ""
    return "dimensionless units (as in the paper)" if unit == "1" else unit


def _describe_input(inp: dict) -> str:
    proto = inp.get("protocol", "none")
    if proto == "step":
        lo = ">=" if inp.get("include_start", True) else ">"
        text = f"step {inp.get('amplitude')} for t{lo}{inp.get('start')}"
        if inp.get("stop") is not None:
            text += f" until {inp.get('stop')}"
        if inp.get("baseline"):
            text = f"{inp.get('baseline')} + " + text
        return text
    if proto == "ramp":
        return f"ramp {inp.get('slope')}/ms from {inp.get('start')}"
    if proto == "piecewise":
        n = len(inp.get("segments") or [])
        return f"piecewise, {n} window{'s' if n != 1 else ''}"
    return proto


def cmd_inspect(args: list[str]) -> int:
    parser = _Parser(prog="simctl inspect", description="Summarise a sim.h5.")
    parser.add_argument("file")
    ns = parser.parse_args(args)
    import numpy as np

    from simctl.recording import count_spikes, load_run

    if not os.path.isfile(ns.file):
        what = "a directory, not a file" if os.path.isdir(ns.file) else "no such file"
        return _error(f"{ns.file}: {what}; allowed: a sim.h5 written by simctl, or SONATA spikes")

    try:
        # no spike lists: memory does not grow with the spike count (counts read in chunks)
        run = load_run(ns.file, state=False, spikes=False)
    except (OSError, ValueError, KeyError) as error:
        return _error(f"{ns.file}: cannot read ({error})")
    a = run.attrs
    pops = run.populations.values()
    reached = [p.t_reached for p in pops if p.t_reached is not None]
    if run.foreign:
        print(f"{ns.file}: SONATA spikes written by another tool (no simctl attributes)")
    else:
        if run.complete:
            state = "complete"
        else:
            at = f" at t = {max(reached):g} ms" if reached else ""
            state = f"INCOMPLETE (complete=false): stopped{at} of {a.get('t_stop', 0):g} ms"
        print(
            f"{ns.file}: simctl format {a.get('format_version')}, created {a.get('created')}, "
            f"{state}"
        )
        print(
            f"  device {a.get('device')}, dtype {a.get('dtype')}, seed {a.get('seed')}, "
            f"t_stop {a.get('t_stop', 0):g} ms"
        )
    head = ("population", "model", "preset", "size", "dt ms", "t ms", "spikes", "mean Hz", "active")
    rows = []
    for name, pop in run.populations.items():
        t_ms = pop.t_reached if pop.t_reached is not None else pop.t_stop
        count = pop.summary.get("spike_count")
        if count is None and pop.n_spikes:  # killed before its summary: count the spikes
            count = count_spikes(ns.file, name, pop.size)
        elif count is None:
            count = np.zeros(pop.size, dtype=np.int64)
        mean_hz = count.sum() / len(count) / (t_ms / 1000.0) if len(count) and t_ms > 0 else None
        rows.append(
            (
                name,
                pop.attrs.get("model") or "-",
                pop.attrs.get("preset") or "-",
                pop.size,
                f"{pop.dt:g}" if pop.dt else "-",
                f"{t_ms:g}" if run.complete or run.foreign else f"{t_ms:g} of {pop.t_stop:g}",
                pop.n_spikes,
                "-" if mean_hz is None else f"{mean_hz:.2f}",
                int((count > 0).sum()),
            )
        )
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, *rows]:
        print("  " + "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=False)).rstrip())
    return 0


def cmd_plot(args: list[str]) -> int:
    parser = _Parser(prog="simctl plot", description="Redraw a run's figures from its file.")
    parser.add_argument("file")
    parser.add_argument("-o", "--out", help="output directory (default: beside the file)")
    parser.add_argument("--format", default="png", choices=("png", "pdf", "svg"))
    parser.add_argument(
        "--populations",
        help="comma-separated populations to draw, in this order (default: all; traces.png "
        "shows the first 8)",
    )
    ns = parser.parse_args(args)
    from pathlib import Path

    from simctl.config.schema import Plot
    from simctl.plotting import plot_run

    chosen = [p for p in (ns.populations or "").split(",") if p] or None
    path = Path(ns.file)
    if not path.is_file():
        return _error(f"{ns.file}: no such file")
    if ns.out:
        problem = _unwritable_dir(Path(ns.out), "-o", ns.out, missing_ok=True)
        if problem:
            return _error(problem)
    try:
        outs = plot_run(
            path, Path(ns.out) if ns.out else path.parent, Plot(format=ns.format), chosen
        )
    except (OSError, ValueError, KeyError) as error:
        if chosen and isinstance(error, KeyError) and str(error.args[0]).startswith("no popul"):
            return _error(f"--populations={ns.populations}: {error.args[0]}")
        return _error(
            f"{ns.file}: cannot plot ({error}); allowed: a sim.h5 written by simctl, or SONATA "
            "spikes"
        )
    for out in outs:
        print(out)
    return 0


def _unwritable_dir(folder, flag: str, given: str, missing_ok: bool) -> str:
    """A one-line problem when ``folder`` (``flag``'s value ``given``) is not a writable
    directory, or one that can be made (``missing_ok``), else ''. Leaves nothing behind."""
    import tempfile

    target = folder.absolute()
    ancestor = target
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    reason = ""
    if ancestor != target and not missing_ok:
        reason = f"no such directory {target}"
    elif not ancestor.is_dir():
        reason = f"{ancestor} is not a directory"
    else:
        try:  # a probe: permissions alone do not tell (root, read-only mounts, /proc)
            os.rmdir(tempfile.mkdtemp(prefix=".simctl-probe-", dir=ancestor))
        except OSError as error:
            reason = f"{error.strerror or error} at {ancestor}"
    if not reason:
        return ""
    return (
        f"{flag}={given}: output directory is not writable ({reason}); "
        "allowed: a writable directory"
    )


def cmd_export(args: list[str]) -> int:
    parser = _Parser(
        prog="simctl export", description="Write a run's file in another format (NWB 2)."
    )
    parser.add_argument("file")
    parser.add_argument("--to", required=True, choices=("nwb",), help="the format")
    parser.add_argument("-o", "--out", help="output file (default: sim.nwb beside the input)")
    ns = parser.parse_args(args)
    from pathlib import Path

    path = Path(ns.file)
    if not path.is_file():
        return _error(f"{ns.file}: no such file")
    if ns.out:
        problem = _unwritable_dir(Path(ns.out).parent, "-o", ns.out, missing_ok=False)
        if problem:
            return _error(problem)
    try:
        from simctl.export import to_nwb

        out = to_nwb(path, ns.out)
    except ImportError as error:
        return _error(
            f"--to nwb: needs pynwb ({error}); allowed: pip install 'simctl[nwb]', then again"
        )
    except (OSError, ValueError, KeyError) as error:
        return _error(f"{ns.file}: cannot export ({error}); allowed: a sim.h5 written by simctl")
    print(out)
    return 0


def cmd_collect(args: list[str]) -> int:
    parser = _Parser(prog="simctl collect", description="Tabulate a sweep's jobs.")
    parser.add_argument("sweep_dir")
    ns = parser.parse_args(args)
    from pathlib import Path

    from simctl.collect import collect

    path = Path(ns.sweep_dir)
    if not path.is_dir():
        what = "a file, not a directory" if path.exists() else "no such directory"
        return _error(f"{ns.sweep_dir}: {what}; allowed: a sweep's directory (multirun/...)")
    if not any(path.glob("**/.hydra/overrides.yaml")):
        return _error(
            f"{ns.sweep_dir}: no jobs (no */.hydra/overrides.yaml); allowed: the directory of a "
            "sweep (simctl run -m ...: multirun/<date>/<time>)"
        )
    if (path / ".hydra" / "overrides.yaml").is_file() and not any(
        p.parent.parent != path for p in path.glob("**/.hydra/overrides.yaml")
    ):
        return _error(
            f"{ns.sweep_dir}: a single run's directory, not a sweep; allowed: the directory "
            f"of a sweep (simctl run -m ...), or simctl inspect {path / 'sim.h5'}"
        )
    return collect(path)


COMMANDS = {
    "run": cmd_run,
    "presets": cmd_presets,
    "inspect": cmd_inspect,
    "plot": cmd_plot,
    "collect": cmd_collect,
    "export": cmd_export,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    if args[0] == "--version":
        from simctl import __version__

        print(f"simctl {__version__}")
        return 0
    command = COMMANDS.get(args[0])
    if command is None:
        from simctl.config.errors import did_you_mean

        hint = did_you_mean(args[0], COMMANDS)
        return _error(
            f"{args[0]}: unknown command{hint}; allowed: {', '.join(COMMANDS)} "
            "(simctl --help shows them)"
        )
    terminated: list[int] = []

    def on_sigterm(signum: int, frame: object) -> None:
        # between the blocks of a run (start-up, between the jobs of a sweep) SIGTERM
        # unwinds like Ctrl-C; inside a block the runner's own handler does the same
        from simctl.config.errors import Terminated

        terminated.append(signum)
        raise Terminated(f"signal {signum}")

    previous = _set_signal(signal.SIGTERM, on_sigterm)
    # a process started in the background inherits SIGINT ignored; a run obeys Ctrl-C from
    # its first moment (the runner does the same inside the simulation loop)
    previous_int = _set_signal(signal.SIGINT, signal.default_int_handler)
    import atexit

    atexit.register(_keep_exit_code)
    try:
        return command(args[1:])
    except BrokenPipeError:  # e.g. `simctl presets | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt as error:
        runner = sys.modules.get("simctl.runner")
        by_term = bool(terminated) or (runner is not None and isinstance(error, runner.Interrupted))
        what = "SIGTERM" if by_term else "Ctrl-C"
        print(
            f"simctl: interrupted ({what}): finished runs are kept; a run in progress has "
            "complete=false in its sim.h5",
            file=sys.stderr,
        )
        return 143 if by_term else 130
    except Exception as error:  # noqa: BLE001 - files that are not what they claim
        if command not in (cmd_inspect, cmd_plot) or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        name = next((a for a in args[1:] if not a.startswith("-")), "?")
        text = " ".join(str(error).split()) or type(error).__name__
        return _error(
            f"{name}: cannot read ({type(error).__name__}: {text}); "
            "allowed: a sim.h5 written by simctl"
        )
    finally:
        _set_signal(signal.SIGTERM, previous)
        _set_signal(signal.SIGINT, previous_int)


def _keep_exit_code() -> None:
    """At exit: the exit code stays simctl's (130 or 143). CPython ends the process with
    SIGINT when a KeyboardInterrupt escaped code it ran through ``PyRun_*`` (as an extension
    module may while it is imported), even when simctl handled the interrupt; seen as exit -2
    after a Ctrl-C at start-up."""
    import ctypes

    try:
        ctypes.c_int.in_dll(ctypes.pythonapi, "_Py_UnhandledKeyboardInterrupt").value = 0
    except (AttributeError, ValueError, OSError):  # another Python implementation
        pass


def _set_signal(signum: int, handler: object) -> object:
    """``signal.signal`` where it is allowed (the main thread), else a no-op."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None
    if handler is None:
        return None
    return signal.signal(signum, handler)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
