#!/usr/bin/env bash
# Build the hatbot image with podman where no image registry is reachable: first a local
# stand-in for the Python base image (debootstrap minbase bookworm, then Debian's python3 by
# python-base.Containerfile), cached under a tag that carries a hash of its recipe; then the
# top-level Dockerfile on it. Idempotent: a second run reuses the base and podman's layer cache.
#
#   deploy/image/build.sh [--tag NAME] [--annoy-march LEVEL] [--refresh-base]
#
#   --tag NAME           image to build (default localhost/hatbot:latest; also tagged VERSION)
#   --annoy-march LEVEL  gcc -march for annoy's extension (default: the Dockerfile's x86-64-v2)
#   --refresh-base       rebuild the local base even when cached (new Debian security updates)
#
# Environment: PYTHON_IMAGE=python:3.11.7-slim-bookworm builds on that image instead of the
# local base (it must be pullable; debootstrap is then not needed).
# Needs podman and runc (crun refuses this kernel's hybrid cgroups), and for the local base
# debootstrap and root: apt-get install podman runc debootstrap.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/deploy/image"
SUITE=bookworm
MIRROR=http://deb.debian.org/debian
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt

fail() { echo "build.sh: $*" >&2; exit 1; }
usage() { sed -n '7,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

tag=localhost/hatbot:latest
march=
refresh=false
while [ $# -gt 0 ]; do
    case "$1" in
        --tag) [ $# -ge 2 ] || usage; tag=$2; shift 2 ;;
        --annoy-march) [ $# -ge 2 ] || usage; march=$2; shift 2 ;;
        --refresh-base) refresh=true; shift ;;
        -h | --help) usage ;;
        *) echo "build.sh: unknown argument: $1" >&2; usage ;;
    esac
done

needed=(podman runc)
[ -n "${PYTHON_IMAGE:-}" ] || needed+=(debootstrap)
missing=()
for command in "${needed[@]}"; do
    command -v "$command" >/dev/null || missing+=("$command")
done
[ ${#missing[@]} -eq 0 ] ||
    fail "missing ${missing[*]}; install with: apt-get install ${missing[*]}"

# Flags these machines need: runc, explicit ulimits (podman's defaults exceed the hard
# limits), the host network for apt and pip during the build.
PODMAN=(podman --runtime runc)
BUILD_FLAGS=(--format docker --network host --layers
    --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
# pip trusts the host's CA bundle, mounted for pip's steps only (never copied into a layer).
[ -s "$CA_BUNDLE" ] && BUILD_FLAGS+=(--secret "id=ca-certificates,src=$CA_BUNDLE")

elapsed() { printf '%dm %02ds' $(($1 / 60)) $(($1 % 60)); }

# The local base: tags carry a hash of what makes them, so a changed recipe builds a new one.
build_minbase() {  # TAG
    [ "$(id -u)" -eq 0 ] || fail "debootstrap needs root to build the local base"
    local rootfs
    rootfs="$(mktemp -d /var/tmp/hatbot-rootfs.XXXXXX)"
    # shellcheck disable=SC2064  # expand now: the trap outlives this function's locals
    trap "rm -rf '$rootfs'" EXIT
    echo "build.sh: debootstrap --variant=minbase $SUITE (log: $rootfs.log)"
    debootstrap --variant=minbase "$SUITE" "$rootfs" "$MIRROR" >"$rootfs.log" 2>&1 ||
        fail "debootstrap failed; see $rootfs.log"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar --numeric-owner -C "$rootfs" -c . |
        "${PODMAN[@]}" import --change 'CMD ["/bin/bash"]' \
            --message "debootstrap --variant=minbase $SUITE $MIRROR" - "$1" >/dev/null
    rm -rf "$rootfs" "$rootfs.log"
    trap - EXIT
}

local_base() {  # prints the tag of the local Python base, building what is missing
    local minbase_recipe minbase python
    minbase_recipe="debootstrap --variant=minbase $SUITE $MIRROR"
    minbase="localhost/hatbot-minbase:$SUITE-$(echo "$minbase_recipe" | sha256sum | cut -c1-12)"
    python="localhost/hatbot-python:$SUITE-$(
        { echo "$minbase_recipe"; cat "$HERE/python-base.Containerfile"; } |
            sha256sum | cut -c1-12)"
    if ! $refresh && "${PODMAN[@]}" image exists "$python"; then
        echo "build.sh: local base cached: $python" >&2
        echo "$python"
        return
    fi
    local start=$SECONDS
    if $refresh || ! "${PODMAN[@]}" image exists "$minbase"; then
        build_minbase "$minbase" >&2
    fi
    "${PODMAN[@]}" build "${BUILD_FLAGS[@]}" --pull=never --build-arg "MINBASE=$minbase" \
        -f "$HERE/python-base.Containerfile" -t "$python" "$HERE" >&2
    echo "build.sh: local base $python built in $(elapsed $((SECONDS - start)))" >&2
    echo "$python"
}

if [ -n "${PYTHON_IMAGE:-}" ]; then
    base=$PYTHON_IMAGE
    BUILD_FLAGS+=(--pull=missing)
else
    base="$(local_base)"
    BUILD_FLAGS+=(--pull=never)
fi

version="$(sed -n 's/^version *= *//p' "$ROOT/setup.cfg")"
revision="$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)"
if [ "$revision" != unknown ] && [ -n "$(git -C "$ROOT" status --porcelain 2>/dev/null)" ]; then
    revision="$revision-dirty"
fi
source_url="$(git -C "$ROOT" remote get-url origin 2>/dev/null || echo unknown)"
build_args=(--build-arg "PYTHON_IMAGE=$base")
# Labels that change without the content: given as --label, since buildah (1.28) reuses a
# cached LABEL step whose ARG changed, and the Dockerfile's LABELs would keep stale values.
oci=org.opencontainers.image
build_args+=(--label "$oci.version=$version" --label "$oci.revision=$revision"
    --label "$oci.source=$source_url" --label "$oci.base.name=$base"
    --label "$oci.created=$(date -u +%Y-%m-%dT%H:%M:%SZ)")
[ -z "$march" ] || build_args+=(--build-arg "ANNOY_MARCH=$march")

name=$tag  # NAME[:TAG], where NAME may hold a registry's host:port
[[ ${tag##*/} != *:* ]] || name=${tag%:*}
previous="$("${PODMAN[@]}" image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)"
start=$SECONDS
echo "build.sh: building $tag on $base"
"${PODMAN[@]}" build "${BUILD_FLAGS[@]}" "${build_args[@]}" \
    -t "$tag" -t "$name:$version" -f "$ROOT/Dockerfile" "$ROOT"
# The image this build replaced, now without a name, goes (not the layer cache; not when a
# container still uses it).
if [ -n "$previous" ] &&
    [ "$("${PODMAN[@]}" image inspect --format '{{len .RepoTags}}' "$previous")" = 0 ]; then
    "${PODMAN[@]}" rmi "$previous" >/dev/null 2>&1 || true
fi
size="$("${PODMAN[@]}" image inspect --format '{{.Size}}' "$tag")"
echo "build.sh: built $tag in $(elapsed $((SECONDS - start))), $((size / 1000000)) MB"
