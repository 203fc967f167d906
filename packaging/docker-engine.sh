#!/usr/bin/env bash
# Make a Docker engine available: install the distribution's docker.io when the
# engine is missing, and start dockerd in the background when it isn't running.
# Used by .ci/run and by install.sh. Prints what it does to stderr.
set -euo pipefail
say() { printf 'docker-engine: %s\n' "$*" >&2; }
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# A fresh machine may have no package lists yet: update them once, before the first install.
updated=0
apt_install() {
    if [ "$updated" -eq 0 ]; then
        $SUDO apt-get update -qq
        updated=1
    fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

if ! command -v dockerd >/dev/null 2>&1; then
    say "installing docker.io from the distribution's packages"
    apt_install docker.io
fi
# The offline image builder (knitctl/share/images/build.sh) needs a static busybox (a dynamic
# one, from the busybox package, can't run in an empty image) and mmdebstrap.
if ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed'; then
    say "installing busybox-static"
    apt_install busybox-static
fi
if ! command -v mmdebstrap >/dev/null 2>&1; then
    say "installing mmdebstrap"
    apt_install mmdebstrap
fi

if docker info >/dev/null 2>&1; then
    say "dockerd is running"
    exit 0
fi
if command -v systemctl >/dev/null 2>&1 && systemctl is-system-running >/dev/null 2>&1; then
    $SUDO systemctl start docker && say "started docker.service"
else
    say "starting dockerd in the background (log: /var/log/knit-dockerd.log)"
    $SUDO sh -c 'nohup dockerd >/var/log/knit-dockerd.log 2>&1 &'
fi
for _ in $(seq 1 120); do
    docker info >/dev/null 2>&1 && { say "dockerd is up"; exit 0; }
    sleep 0.5
done
say "dockerd did not come up; see /var/log/knit-dockerd.log"
exit 1
