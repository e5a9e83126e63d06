"""`statuspage-alerts`: Alertmanager's webhook receiver, the only writer of `status.alerts`.

Its own process and Deployment (manifests/alerts/), with only the rights it needs: read pages,
components and the receiver Secrets, patch components' status. Every replica takes webhooks and
writes; optimistic concurrency (resourceVersion) keeps two writers from losing each other's work.
"""
