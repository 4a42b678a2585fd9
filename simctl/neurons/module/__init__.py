"""Norse's ``norse.torch.module.<name>`` paths (``snn``, ``lif``, ``leaky_integrator``, ...):
the same classes as simctl's model files, so Norse code that subclasses
``norse.torch.module.snn.SNNCell`` runs with only the top package renamed. As in Norse 1.1.0 the
package itself exports nothing."""
