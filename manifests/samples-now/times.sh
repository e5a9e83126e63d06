#!/usr/bin/env bash
# Writes times.env for this kustomization: the cache flush starts a minute from now and lasts ten
# minutes; the database upgrade is three days from today, 22:00 to 24:00 UTC. GNU date.
# The sample PublicationPolicy lets $SAMPLES_NAMESPACE (default: default) publish its pages.
set -euo pipefail
format=+%Y-%m-%dT%H:%M:%SZ
cat >"$(dirname "$0")/times.env" <<TIMES
CDN_CACHE_FLUSH_START=$(date -u -d '+1 minute' "$format")
CDN_CACHE_FLUSH_END=$(date -u -d '+11 minutes' "$format")
DATABASE_UPGRADE_START=$(date -u -d '+3 days' +%Y-%m-%dT22:00:00Z)
DATABASE_UPGRADE_END=$(date -u -d '+4 days' +%Y-%m-%dT00:00:00Z)
SAMPLES_NAMESPACE=${SAMPLES_NAMESPACE:-default}
TIMES
