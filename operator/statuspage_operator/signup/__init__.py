"""`statuspage-signup`: the public's own subscriptions (docs/behaviour.md, "Subscriptions by the
public"); its own process, ServiceAccount and routes, so the page server stays read-only."""
