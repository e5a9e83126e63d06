#!/usr/bin/env bash
# Build the operator's image with buildah (no daemon), hermetically; `make image` runs this.
#
#   PYTHON_IMAGE  the base: the Dockerfile's default (the official Python slim image, pulled once),
#                 any other image, or `debian`: a Debian bookworm base made here by mmdebstrap from
#                 Debian's packages, for machines that cannot pull from an image registry
#                 (the tests build on it)
#   IMAGE         the tag the image gets as well (default: the name the manifests use; empty: none)
#   HOST_PYTHON   a Python with pip that downloads the wheels (default: python3)
#
# Everything expensive is cached outside the repository, in ~/.cache/statuspage-operator/image:
# the mmdebstrap root file system (by its recipe), the wheelhouse (by requirements.lock) and the
# image itself, in buildah's store, tagged by the hash of its base and of every file it is built
# from. Nothing changed: nothing is built. Installs buildah, podman, runc (and mmdebstrap) when
# missing.
# Prints the image's content-addressed tag on the last line of stdout; progress goes to stderr.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
default_base=$(sed -n 's/^ARG PYTHON_IMAGE=//p' "$root/Dockerfile")
base=${PYTHON_IMAGE:-$default_base}
image=${IMAGE-ghcr.io/statuspage-operator/statuspage-operator:0.1.0}
python=${HOST_PYTHON:-python3}
cache=${STATUSPAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/statuspage-operator}/image
repository=localhost/statuspage-operator-build
export BUILDAH_ISOLATION=chroot
say() { echo "image: $*" >&2; }

# --- tools --------------------------------------------------------------------------------------
# buildah builds; podman with runc runs the image (tests/e2e/test_image.py, docs/image.md).
missing=()
for tool in buildah podman runc; do command -v $tool >/dev/null || missing+=($tool); done
[ "$base" != debian ] || command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    say "installing ${missing[*]}"
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"; } >&2
  else
    echo "image: needs ${missing[*]}: apt-get install ${missing[*]} (as root)" >&2
    exit 1
  fi
fi

mkdir -p "$cache"
# A test run and `make image` must not build at the same time.
exec 9>"$cache/.build.lock"
flock 9

# --- the base -----------------------------------------------------------------------------------
case $(uname -m) in
  x86_64) arch=x86_64 ;;
  aarch64 | arm64) arch=aarch64 ;;
  *) echo "image: unsupported architecture $(uname -m)" >&2; exit 1 ;;
esac
have_image() { buildah inspect --type image "$1" >/dev/null 2>&1; }

if [ "$base" = debian ]; then
  suite=bookworm
  include=python3,python3-venv,ca-certificates
  # Merged /usr made by mmdebstrap itself, not by the usrmerge package (and the perl it needs); no
  # manuals, translations or documentation but the licences: a smaller image.
  options=(
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
    --dpkgopt='path-exclude=/usr/share/man/*'
    --dpkgopt='path-exclude=/usr/share/locale/*'
    --dpkgopt='path-exclude=/usr/share/doc/*'
    --dpkgopt='path-include=/usr/share/doc/*/copyright'
  )
  recipe=$(printf '%s\n' "$suite" minbase "$include" "${options[@]}" | sha256sum | cut -c1-12)
  base_ref=localhost/statuspage-python-base:$suite-$recipe
  if ! have_image "$base_ref"; then
    rootfs=$cache/rootfs/$suite-$recipe.tar
    if [ ! -s "$rootfs" ]; then
      mkdir -p "$cache/rootfs"
      say "making the Debian $suite base with mmdebstrap (once)"
      start=$(date +%s)
      partial=$cache/rootfs/.partial-$suite-$recipe.tar
      mmdebstrap --quiet --variant=minbase --format=tar --include="$include" "${options[@]}" \
        "$suite" "$partial" >"$cache/rootfs/mmdebstrap.log" 2>&1 || {
        cat "$cache/rootfs/mmdebstrap.log" >&2
        exit 1
      }
      mv "$partial" "$rootfs"
      say "root file system made in $(($(date +%s) - start))s"
    fi
    container=$(buildah from scratch)
    buildah add --quiet "$container" "$rootfs" / >/dev/null
    buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      --cmd /bin/sh "$container"
    buildah commit --quiet --rm "$container" "$base_ref" >/dev/null
    say "base image $base_ref"
  fi
else
  base_ref=$base
  if ! have_image "$base_ref"; then
    say "pulling $base_ref"
    buildah pull --quiet "$base_ref" >/dev/null || {
      echo "image: cannot pull $base_ref; without a registry build on the offline base:" \
        "make image PYTHON_IMAGE=debian" >&2
      exit 1
    }
  fi
fi
base_id=$(buildah inspect --type image --format '{{.FromImageID}}' "$base_ref")

# --- what goes in, and its hash -------------------------------------------------------------------
# A snapshot of the files the wheel is made of (others may be editing the tree meanwhile).
work=$(mktemp -d "$cache/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src"
(cd "$root" && cp -p pyproject.toml README.md requirements.lock Dockerfile "$work/src/" &&
  find operator -type f ! -path '*/__pycache__/*' ! -path '*.egg-info/*' -print0 |
  xargs -0 cp -p --parents -t "$work/src")
key=$(cd "$work/src" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum |
  { cat; echo "$base_id $arch"; } | sha256sum | cut -c1-16)
# The base's id starts the tag: older builds on the same base are pruned below.
tag=$repository:${base_id:0:12}-$key

if have_image "$tag"; then
  say "up to date: $tag"
else
  total=$(date +%s)
  # The wheelhouse of the locked dependencies, for CPython 3.11 on manylinux (glibc <= 2.36, the
  # base's), whatever Python runs this. A dependency published without a wheel (feedgen) is
  # built here into one: the image build has no network and no compiler.
  lock=$(sha256sum <"$work/src/requirements.lock" | cut -c1-12)
  wheels=$cache/wheels/$lock-cp311-$arch
  if [ ! -e "$wheels/.complete" ]; then
    say "downloading the wheels of requirements.lock"
    rm -rf "$wheels" && mkdir -p "$cache/wheels"
    download=$(mktemp -d "$cache/wheels/.download.XXXXXX")
    platforms=()
    for minor in $(seq 36 -1 17); do platforms+=(--platform "manylinux_2_${minor}_$arch"); done
    platforms+=(--platform "manylinux2014_$arch")
    "$python" -m pip download --quiet --disable-pip-version-check --no-deps \
      --python-version 3.11 --implementation cp --abi cp311 "${platforms[@]}" \
      --dest "$download" --requirement "$work/src/requirements.lock" >&2
    shopt -s nullglob
    for sdist in "$download"/*.tar.gz "$download"/*.zip; do
      "$python" -m pip wheel --quiet --disable-pip-version-check --no-deps \
        --wheel-dir "$download" "$sdist" >&2
      rm "$sdist"
    done
    shopt -u nullglob
    touch "$download/.complete"
    chmod 755 "$download"
    mv "$download" "$wheels"
  fi

  # The build context: the lock, the dependencies' wheels and the operator's wheel.
  context=$work/context
  mkdir -p "$context/deps" "$context/app"
  cp "$work/src/requirements.lock" "$context/"
  cp -l "$wheels"/*.whl "$context/deps/" 2>/dev/null || cp "$wheels"/*.whl "$context/deps/"
  say "building the operator's wheel"
  "$python" -m pip wheel --quiet --disable-pip-version-check --no-deps \
    --wheel-dir "$context/app" "$work/src" >&2

  say "building $tag on $base_ref"
  start=$(date +%s)
  buildah bud --quiet --isolation chroot --pull=never --layers=false \
    --build-arg "PYTHON_IMAGE=$base_ref" --file "$work/src/Dockerfile" --tag "$tag" \
    "$context" >/dev/null
  say "image built in $(($(date +%s) - start))s ($(($(date +%s) - total))s with the wheels)"

  [ -z "$image" ] || buildah tag "$tag" "$image"
  # Older builds on the same base go, but for the newest three (another test run may be using
  # one): their layers would pile up in the store.
  buildah images --noheading --format '{{.CreatedAtRaw}}|{{.Name}}:{{.Tag}}' | sort -r |
    awk -F'|' -v prefix="$repository:${base_id:0:12}-" \
      'index($2, prefix) == 1 && ++kept > 3 { print $2 }' |
    while read -r old; do buildah rmi "$old" >/dev/null 2>&1 || true; done
fi
[ -z "$image" ] || buildah tag "$tag" "$image"
size=$(buildah images --noheading --format '{{.Size}}' "$tag" | sed -n 1p)
say "${image:-$tag} = $tag ($size)"
echo "$tag"
