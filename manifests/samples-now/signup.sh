#!/usr/bin/env bash
# `make run`'s mail and sign-up configuration (docs/operations.md, "Mail relay" and "Subscription
# key"): the namespace statuspage-signups with the key Secret (random keys, made once and kept)
# and the relay Secret pointing at the local stand-in relay ($MAIL_PORT, no TLS on loopback).
# Existing Secrets are left alone, so a key survives a second `make run`.
set -euo pipefail
kubectl=${KUBECTL:-kubectl}
namespace=statuspage-signups
mail_port=${MAIL_PORT:-8025}
$kubectl get namespace "$namespace" >/dev/null 2>&1 || $kubectl create namespace "$namespace"
key() { head -c 32 /dev/urandom | base64 -w0; }
if ! $kubectl -n "$namespace" get secret statuspage-subscription-key >/dev/null 2>&1; then
  $kubectl -n "$namespace" create secret generic statuspage-subscription-key \
    --from-literal=key="$(key)" --from-literal=naming="$(key)" >/dev/null
  echo "secret/statuspage-subscription-key created in $namespace"
fi
if ! $kubectl -n "$namespace" get secret statuspage-mail-relay >/dev/null 2>&1; then
  $kubectl -n "$namespace" create secret generic statuspage-mail-relay \
    --from-literal=url="smtp://127.0.0.1:${mail_port}?tls=none" \
    --from-literal=from=status@example.com >/dev/null
  echo "secret/statuspage-mail-relay created in $namespace"
fi
