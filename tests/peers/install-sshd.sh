#!/usr/bin/env bash
# Debian's OpenSSH server, the peer of the Hyper-V provider tests (the tests start their own
# sshd with their own config on a loopback port; the system service is neither enabled nor used).
set -euo pipefail
if [ -x /usr/sbin/sshd ]; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# policy-rc.d stops the package's post-install from starting the system sshd on port 22.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod +x "$policy"
  created_policy=1
fi
apt-get install -y -qq --no-install-recommends openssh-server >/dev/null
[ "$created_policy" -eq 1 ] && rm -f "$policy"
test -x /usr/sbin/sshd
