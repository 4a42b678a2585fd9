"""Norse's ``norse.torch.functional.<name>`` paths: one submodule per Norse file, holding the same
objects as simctl's model files (``simctl.neurons.functional.lif.lif_step is
simctl.neurons.lif.lif_step``). As in Norse 1.1.0 the package itself exports nothing; import the
submodule (``from simctl.neurons.functional.lif import lif_feed_forward_step``)."""
