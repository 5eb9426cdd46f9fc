#!/usr/bin/env bash
# Build govmomi's vCenter simulator (vcsim) for the VMware provider's tests, from Debian's
# govmomi sources plus our patch (tests/peers/vcsim/simulator.patch):
#   1. revert/remove snapshot tasks name the VM as their entity, not the snapshot
#      (pyvmomi rejects a snapshot there);
#   2. PropertyCollector.Fetch of an unset property (vm.snapshot after the last snapshot is
#      removed) answers empty instead of panicking;
#   3. a test hook (simulator.TaskDelay) that runs named tasks slowly in the background.
# The result is <repo>/.peers/bin/vcsim. Idempotent: rebuilds only when main.go or the patch
# is newer than the binary.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SRC="$ROOT/tests/peers/vcsim"
PEERS="$ROOT/.peers"
BIN="$PEERS/bin/vcsim"
GOVMOMI=/usr/share/gocode/src/github.com/vmware/govmomi

if [ -x "$BIN" ] && [ "$BIN" -nt "$SRC/main.go" ] && [ "$BIN" -nt "$SRC/simulator.patch" ]; then
  exit 0
fi

if ! command -v go >/dev/null || ! command -v patch >/dev/null || [ ! -d "$GOVMOMI/simulator" ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go golang-github-vmware-govmomi-dev patch
fi

# A GOPATH entry ahead of Debian's: our patched simulator/, the rest of govmomi symlinked.
TREE="$PEERS/gopath/src/github.com/vmware/govmomi"
rm -rf "$TREE"
mkdir -p "$TREE" "$PEERS/bin" "$PEERS/gocache"
for entry in "$GOVMOMI"/*; do
  [ "$(basename "$entry")" = simulator ] || ln -s "$entry" "$TREE/"
done
cp -r "$GOVMOMI/simulator" "$TREE/simulator"
patch --quiet -p1 -d "$TREE" < "$SRC/simulator.patch"

# GOPATH mode needs the main package inside a GOPATH too.
MAIN="$PEERS/gopath/src/backup-agent/vcsim"
mkdir -p "$MAIN"
cp "$SRC/main.go" "$MAIN/main.go"
(
  cd "$MAIN"
  GO111MODULE=off GOPATH="$PEERS/gopath:/usr/share/gocode" GOCACHE="$PEERS/gocache" \
    go build -o "$BIN.tmp" .
)
mv "$BIN.tmp" "$BIN"
echo "built $BIN"
