"""simctl's Hydra launcher ``hydra/launcher=batch`` (see :mod:`.batch_launcher`)."""
