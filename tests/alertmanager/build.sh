#!/usr/bin/env bash
# Build Prometheus Alertmanager from its Go module, once, for the e2e tests and benches.
#
# `go install github.com/prometheus/alertmanager/cmd/alertmanager@VERSION` fails: ui/web.go embeds
# app/dist, which the module zip does not carry. So the module is copied to a writable folder,
# placeholder pages are put where the UI would be (the tests use only the HTTP API), and it is
# built there. Cached outside the repo, keyed by version; prints the binary's path on stdout.
set -euo pipefail

version=${ALERTMANAGER_VERSION:-v0.35.0}
cache_root=${STATUSPAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/statuspage-operator}
dest="$cache_root/alertmanager/$version"

if [ -x "$dest/alertmanager" ]; then
  echo "$dest/alertmanager"
  exit 0
fi

mkdir -p "$cache_root/alertmanager"
# Two callers (a test run and a bench) must not build twice at once.
exec 9>"$cache_root/alertmanager/.build.lock"
flock 9
if [ -x "$dest/alertmanager" ]; then
  echo "$dest/alertmanager"
  exit 0
fi

work=$(mktemp -d "$cache_root/alertmanager/.build.XXXXXX")
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
start=$(date +%s)
echo "building Alertmanager $version into $dest (first time only; about a minute on 2 cores)" >&2
module=$(go mod download -json "github.com/prometheus/alertmanager@$version" \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
cp -r "$module" "$work/src"
chmod -R u+w "$work/src"
for ui in elm mantine; do
  mkdir -p "$work/src/ui/app/dist/$ui"
  echo '<!doctype html><title>Alertmanager</title>' >"$work/src/ui/app/dist/$ui/index.html"
done
(cd "$work/src" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$work/alertmanager" ./cmd/alertmanager)
mkdir -p "$dest"
mv "$work/alertmanager" "$dest/alertmanager"
echo "built in $(( $(date +%s) - start ))s" >&2
echo "$dest/alertmanager"
