"""Norse's ``norse.torch.utils`` paths that simctl provides: ``export_nir`` (:func:`to_nir`)
and ``import_nir`` (:func:`from_nir`). Norse's other helpers (``state``, ``pytree``,
``clone``, ``plot``, ``tensorboard``) are not part of simctl (see docs/norse-parity.md)."""
