#!/usr/bin/env bash
# The container peer: podman and buildah from Debian, a local base image, and the agent's image
# built from the real Dockerfile (no image registry is reachable from CI, so the base is made
# here with debootstrap and passed as BASE_IMAGE).
#
# Idempotent and quick when warm:
#   - Debian packages are installed only when a tool is missing;
#   - the base rootfs tarball is cached under $CACHE, keyed by the suite, the package list and
#     the host's extra CA certificates (HTTPS from inside a build fails without them);
#   - the image is rebuilt only when a file of the build context changed (its hash is a label).
# Writes the built image's name to .peers/container-image for the tests.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${BACKUP_AGENT_CI_CACHE:-/var/cache/backup-agent-ci}
SUITE=bookworm
PACKAGES="python3,python3-venv,ca-certificates"
IMAGE_REPO=localhost/backup-agent
export CONTAINERS_CONF="$ROOT/tests/container/containers.conf"
log() { echo "install-containers: $*" >&2; }

# 1. Tools.
missing=()
for tool in podman buildah runc fuse-overlayfs slirp4netns newuidmap debootstrap; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing Debian packages (missing: ${missing[*]})"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq buildah podman runc fuse-overlayfs slirp4netns uidmap debootstrap >/dev/null
fi

# 2. The base: Debian minbase + the Python the Dockerfile needs, cached as a tarball.
extra_cas=$(cat /usr/local/share/ca-certificates/*.crt 2>/dev/null | sha256sum | cut -c1-12 || true)
key=$(printf '%s\n' "$SUITE" "$PACKAGES" "$extra_cas" | sha256sum | cut -c1-16)
tarball="$CACHE/base-$SUITE-$key.tar"
base="$IMAGE_REPO-base:$SUITE-$key"
mkdir -p "$CACHE"
if [ ! -s "$tarball" ]; then
  log "making the base with debootstrap ($SUITE: $PACKAGES) into $tarball"
  mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
  rootfs=$(mktemp -d "$CACHE/rootfs.XXXXXX")
  trap 'rm -rf "$rootfs"' EXIT
  debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$rootfs" \
    "${mirror:-http://deb.debian.org/debian}" >"$CACHE/debootstrap.log" 2>&1 \
    || { tail -20 "$CACHE/debootstrap.log" >&2; exit 1; }
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
    chroot "$rootfs" update-ca-certificates >/dev/null
  fi
  chroot "$rootfs" apt-get clean
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/*
  tar -C "$rootfs" --numeric-owner -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
  rm -rf "$rootfs"
  trap - EXIT
fi
if ! podman image exists "$base"; then
  log "importing $tarball as $base"
  podman import --quiet "$tarball" "$base" >/dev/null
fi

# 3. The agent's image, from the real Dockerfile, rebuilt only when its context changed.
context_hash=$(cd "$ROOT" && git ls-files -z -co --exclude-standard -- Dockerfile .dockerignore pyproject.toml README.md \
    backup_agent providers deploy/container | xargs -0 sha256sum | sha256sum | cut -c1-16)
image="$IMAGE_REPO:ci-$context_hash"
if ! podman image exists "$image"; then
  log "building $image from the Dockerfile on $base"
  start=$(date +%s)
  version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$ROOT/backup_agent/__init__.py")
  buildah bud --quiet --format docker --network host --layers \
    --build-arg BASE_IMAGE="$base" --build-arg VERSION="$version" -t "$image" "$ROOT" >/dev/null
  log "built $image in $(( $(date +%s) - start )) s"
  # Older CI images of this project only take disk (the builder layers stay as the cache);
  # BACKUP_AGENT_CI_KEEP_IMAGES=1 keeps them (several checkouts of the project on one machine).
  [ -n "${BACKUP_AGENT_CI_KEEP_IMAGES:-}" ] || podman images --format '{{.Repository}}:{{.Tag}}' "$IMAGE_REPO" | grep ':ci-' | grep -vx "$image" \
    | xargs -r podman rmi --force >/dev/null 2>&1 || true
fi
mkdir -p "$ROOT/.peers"
echo "$image" > "$ROOT/.peers/container-image"
log "ready: $image ($(podman image inspect --format '{{.Size}}' "$image") bytes)"
