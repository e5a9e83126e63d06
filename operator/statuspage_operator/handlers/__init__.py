"""kopf glue: settings, the engine's life cycle, liveness. The only package that imports kopf.

kopf runs the operator (start-up, clean-up, probes, peering, logging). Our objects are watched by
the engine's own informers, not by kopf's per-object machinery (see k8s/informer.py for why).
"""

from statuspage_operator.handlers import lifecycle

__all__ = ["lifecycle"]
