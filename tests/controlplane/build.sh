#!/usr/bin/env bash
# Build etcd, kube-apiserver and kube-controller-manager from the Go module proxy, once.
#
# The binaries are cached outside the repo, keyed by version and by the hash of our go.sum files,
# and rebuilt only when missing. Prints the cache directory holding them on stdout.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
module_version() { grep -oE "$1 v[0-9][^ ]*" "$2" | head -n 1 | cut -d' ' -f2; }
k8s_version=$(module_version 'k8s.io/kubernetes' "$here/kube/go.mod")
etcd_version=$(module_version 'go.etcd.io/etcd/server/v3' "$here/etcd/go.mod")
sums=$(cat "$here/kube/go.sum" "$here/etcd/go.sum" | sha256sum | cut -c1-12)
cache_root=${STATUSPAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/statuspage-operator}
dest="$cache_root/controlplane/k8s-${k8s_version}_etcd-${etcd_version}_${sums}"
bins=(etcd kube-apiserver kube-controller-manager)

complete() {
  local bin
  for bin in "${bins[@]}"; do [ -x "$dest/$bin" ] || return 1; done
}

if complete; then
  echo "$dest"
  exit 0
fi

mkdir -p "$cache_root/controlplane"
# Two callers (make cluster-up and a test run) must not build twice at once.
exec 9>"$cache_root/controlplane/.build.lock"
flock 9
if complete; then
  echo "$dest"
  exit 0
fi

work=$(mktemp -d "$cache_root/controlplane/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
start=$(date +%s)
echo "building the local control plane into $dest (first time only; about 10-20 min on 2 cores)" >&2

minor=${k8s_version#v1.}
minor=${minor%%.*}
stamp="k8s.io/component-base/version"
client="k8s.io/client-go/pkg/version"
ldflags="-s -w"
for pkg in $stamp $client; do
  ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

export CGO_ENABLED=0 GOFLAGS=-mod=readonly
(cd "$here/etcd" && go build -trimpath -ldflags "-s -w" -o "$work/etcd" .)
(cd "$here/kube" && go build -trimpath -ldflags "$ldflags" -o "$work/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager)

mkdir -p "$dest"
for bin in "${bins[@]}"; do mv "$work/$bin" "$dest/$bin"; done
echo "built in $(( $(date +%s) - start ))s" >&2
echo "$dest"
