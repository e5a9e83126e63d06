"""statuspage-operator: a public status page declared as Kubernetes custom resources."""
