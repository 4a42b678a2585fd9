"""One composition for the jobs of a sweep that differ only in values (torch-free).

Hydra composes every job of a sweep from scratch (``ConfigLoaderImpl.load_sweep_config``: the
defaults list, every config file read and merged, then the command line's value overrides
applied to the result), about a quarter of a second per job. Of that work only the last step
depends on a plain ``key=value`` override: Hydra builds the defaults list from the group
overrides alone, composes it, and then applies each value override to the composed config in
command-line order (``_apply_overrides_to_config``). So the jobs whose overrides differ only in
such values share one composition, a *template*: it is composed once by Hydra itself from the
other overrides, and each job is a copy of it with the job's value overrides applied by Hydra's
own function and with the fields Hydra derives from the overrides (``hydra.overrides.task``,
``hydra.job.override_dirname``) set as Hydra sets them.

A job's override is a *value* (applied to the template's copy) when it is ``key=value``,
``+key=value`` or ``++key=value`` whose key is not a config group, not under ``hydra`` and has
no ``@package``. Everything else (group choices, deletions, ``hydra.*``) selects the template:
jobs with other such overrides get a template of their own. A job falls back to Hydra's full
composition when a value's key is a prefix of another override's key (the order of the two
would then matter), when the search path is changed (a group could then come from elsewhere),
or when applying its values raises (Hydra's own composition then reports the error).
``tests/test_batch_launcher.py`` checks the copies against Hydra's composition, node by node.

Each copy is then checked by simctl (``simctl.cli._Guard.check``: the trusted-config check and
the job's whole validation) where Hydra's composition would have run it, so a bad value still
stops the sweep with that job's one-line error before any job runs. Only a sweep whose launcher
is ``hydra/launcher=batch`` is composed this way; the other launchers compose as Hydra does.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from hydra._internal.config_loader_impl import ConfigLoaderImpl, get_overrides_dirname
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from omegaconf import DictConfig, OmegaConf

#: the batch launcher's ``_target_`` (the fast composition is this launcher's alone)
TARGET = "hydra_plugins.simctl_batch_launcher.batch_launcher.BatchLauncher"


#: the task config of each job composed from a template (``cfg`` less its ``hydra`` node, a
#: deep copy made for simctl's check), by the job's task overrides; the launcher takes its own
TASK_CONFIGS: dict[tuple[str, ...], DictConfig] = {}


def is_batch_launcher(master_config: DictConfig) -> bool:
    return OmegaConf.select(master_config, "hydra.launcher._target_", default=None) == TARGET


class SweepComposer:
    """Composes the sweep's jobs: ``compose(sweep_overrides)`` returns what
    ``loader.load_sweep_config(master_config, sweep_overrides)`` returns.

    ``load(overrides)`` is Hydra's composition of a run's config (``load_configuration`` with
    ``RunMode.RUN``, without simctl's check); ``full(sweep_overrides)`` is the full sweep
    composition a job falls back to; ``check(cfg)`` is run on each copy where Hydra's
    composition would have run simctl's check (at the end of ``load_configuration``).
    ``stats`` counts templates, copies and full compositions."""

    def __init__(
        self,
        loader: Any,
        master_config: DictConfig,
        load: Callable[[list[str]], DictConfig],
        full: Callable[[list[str]], DictConfig],
        check: Callable[[DictConfig], DictConfig | None] = lambda cfg: None,
    ) -> None:
        self.loader = loader
        self.master = master_config
        # a new sweep: task configs a sweep stopped before taking (a job's error) go
        TASK_CONFIGS.clear()
        self.load = load
        self.full = full
        self.check = check
        self.hydra_overrides: list[str] = list(
            OmegaConf.to_container(master_config.hydra.overrides.hydra)  # type: ignore[arg-type]
        )
        self.parser = OverridesParser.create()
        self._parsed: dict[str, Override] = {}
        self._groups: dict[str, bool] = {}
        self._templates: dict[tuple[str, ...], DictConfig | None] = {}
        searchpath = OmegaConf.select(master_config, "hydra.searchpath", default=None)
        self.enabled = not searchpath
        self.stats = {"templates": 0, "copies": 0, "full": 0}

    def _parse(self, line: str) -> Override:
        parsed = self._parsed.get(line)
        if parsed is None:
            parsed = self.parser.parse_overrides([line])[0]
            self._parsed[line] = parsed
        return parsed

    def _is_value(self, override: Override) -> bool:
        if override.is_delete() or override.package is not None or override.is_sweep_override():
            return False
        key = override.key_or_group
        if key == "hydra" or key.startswith(("hydra.", "hydra/")):
            return False
        return not self._group(key)

    def _group(self, key: str) -> bool:
        """``repository.group_exists(key)`` (as ``defaults_list.Overrides`` asks), once a key."""
        found = self._groups.get(key)
        if found is None:
            found = self._groups[key] = bool(self.loader.repository.group_exists(key))
        return found

    def _applied(self, override: Override) -> bool:
        """Whether Hydra applies ``override`` to the composed config (as it applies the
        values) rather than reading it into the defaults list (``defaults_list.Overrides``)."""
        if isinstance(override.value(), dict):
            return True
        return not self._group(override.key_or_group)

    def compose(self, sweep_overrides: list[str]) -> DictConfig:
        if not self.enabled:
            return self._full(sweep_overrides)
        try:
            lines = self.hydra_overrides + list(sweep_overrides)
            parsed = [self._parse(line) for line in lines]
        except Exception:  # noqa: BLE001 - Hydra's own composition reports the error
            return self._full(sweep_overrides)
        if any(o.get_key_element() == "hydra.searchpath" or o.is_sweep_override() for o in parsed):
            return self._full(sweep_overrides)
        values = [o for o in parsed if self._is_value(o)]
        if not values:
            return self._full(sweep_overrides)
        others = [o for o in parsed if not any(o is v for v in values)]
        if _overlap(values, [o for o in others if self._applied(o)]):
            return self._full(sweep_overrides)
        key = tuple(o.input_line or "" for o in others)
        if key not in self._templates:
            self._templates[key] = self._template(key)
        template = self._templates[key]
        if template is None:
            return self._full(sweep_overrides)
        try:
            cfg = self._apply(template, parsed, values)
        except Exception:  # noqa: BLE001 - Hydra's own composition reports the error
            return self._full(sweep_overrides)
        self._finish(cfg)
        self.stats["copies"] += 1
        return cfg

    def _full(self, sweep_overrides: list[str]) -> DictConfig:
        self.stats["full"] += 1
        return self.full(list(sweep_overrides))

    def _template(self, lines: tuple[str, ...]) -> DictConfig | None:
        try:
            cfg = self.load(list(lines))
        except Exception:  # noqa: BLE001 - the jobs fall back, Hydra reports the error
            return None
        self.stats["templates"] += 1
        return cfg

    def _apply(self, template: DictConfig, parsed: list[Override], values: list[Override]) -> Any:
        """What ``ConfigLoaderImpl._load_configuration_impl`` makes of ``parsed``, from the
        template (raises where Hydra's would)."""
        cfg = copy.deepcopy(template)
        ConfigLoaderImpl._apply_overrides_to_config(values, cfg)
        task = cfg.hydra.overrides.task
        task.clear()
        app_overrides = []
        for override in parsed:
            if not override.is_hydra_override():
                task.append(override.input_line)
                app_overrides.append(override)
        dirname = cfg.hydra.job.config.override_dirname
        cfg.hydra.job.override_dirname = get_overrides_dirname(
            overrides=app_overrides,
            kv_sep=dirname.kv_sep,
            item_sep=dirname.item_sep,
            exclude_keys=dirname.exclude_keys,
        )
        return cfg

    def _finish(self, cfg: DictConfig) -> None:
        """simctl's check (which exits on a bad value, as after Hydra's composition), then
        ``load_sweep_config``'s copy of the master's resolver cache. The check may return
        the job's task config (``cfg`` less its ``hydra`` node, as ``run_job`` copies it): it
        gets the same cache and is kept for the launcher in :data:`TASK_CONFIGS`."""
        task_cfg = self.check(cfg)
        OmegaConf.copy_cache(from_config=self.master, to_config=cfg)
        if task_cfg is not None:
            OmegaConf.copy_cache(from_config=self.master, to_config=task_cfg)
            TASK_CONFIGS[tuple(cfg.hydra.overrides.task)] = task_cfg


def _overlap(values: list[Override], others: list[Override]) -> bool:
    """True when a value's key is another override's key or a dotted prefix of it (or the
    other way round): then the order in which Hydra applies them would matter."""
    keys = [o.key_or_group for o in values]
    every = keys + [o.key_or_group for o in others]
    for i, key in enumerate(keys):
        for j, other in enumerate(every):
            if i == j:
                continue
            if key == other or other.startswith(key + ".") or key.startswith(other + "."):
                return True
    return False
