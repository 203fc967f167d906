#!/usr/bin/env bash
# Make a Docker engine available: install the distribution's docker.io when the
# engine is missing, and start dockerd in the background when it isn't running.
# Used by .ci/run and by install.sh. Prints what it does to stderr.
set -euo pipefail
say() { printf 'docker-engine: %s\n' "$*" >&2; }
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

if ! command -v dockerd >/dev/null 2>&1; then
    say "installing docker.io from the distribution's packages"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq docker.io >/dev/null
fi
for tool in busybox mmdebstrap; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        pkg=$tool; [ "$tool" = busybox ] && pkg=busybox-static
        say "installing $pkg"
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$pkg" >/dev/null
    fi
done

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
