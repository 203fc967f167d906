#!/usr/bin/env bash
# Build knit's container images offline, without any image registry:
#   knit/busybox:1      a static busybox root (docker import)
#   knit/python:3.11    a Debian root with python3 (+numpy) made by mmdebstrap (docker import)
# Images already present are reused. Needs: docker, busybox-static, mmdebstrap
# (apt-get install -y busybox-static mmdebstrap) and access to Debian's package mirror.
# Usage: packaging/images/build.sh [busybox] [python]   (default: both)
set -euo pipefail

want=("$@")
[ ${#want[@]} -eq 0 ] && want=(busybox python)

BUSYBOX_IMAGE=${KNIT_BUSYBOX_IMAGE:-knit/busybox:1}
PYTHON_IMAGE=${KNIT_PYTHON_IMAGE:-knit/python:3.11}
SUITE=${KNIT_DEBIAN_SUITE:-bookworm}

say() { printf 'build-images: %s\n' "$*" >&2; }
have() { docker image inspect "$1" >/dev/null 2>&1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

build_busybox() {
    if have "$BUSYBOX_IMAGE"; then say "$BUSYBOX_IMAGE present"; return; fi
    local bb
    bb=$(command -v busybox || true)
    if [ -z "$bb" ] || ! file -L "$bb" 2>/dev/null | grep -q 'statically linked'; then
        [ -x /bin/busybox ] && bb=/bin/busybox
    fi
    [ -n "$bb" ] || { say "busybox not found: apt-get install -y busybox-static"; exit 1; }
    local root="$work/busybox"
    mkdir -p "$root/bin" "$root/tmp" "$root/etc"
    cp "$bb" "$root/bin/busybox"
    for applet in $("$root/bin/busybox" --list); do
        [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
    done
    chmod 1777 "$root/tmp"
    echo 'root:x:0:0:root:/root:/bin/sh' > "$root/etc/passwd"
    echo 'root:x:0:' > "$root/etc/group"
    tar -C "$root" -c . | docker import -c 'ENV PATH=/bin' -c 'CMD ["/bin/sh"]' - "$BUSYBOX_IMAGE" >/dev/null
    say "built $BUSYBOX_IMAGE"
}

build_python() {
    if have "$PYTHON_IMAGE"; then say "$PYTHON_IMAGE present"; return; fi
    command -v mmdebstrap >/dev/null || { say "mmdebstrap not found: apt-get install -y mmdebstrap"; exit 1; }
    say "making a $SUITE root with python3 (a few minutes)"
    mmdebstrap --quiet --variant=minbase --include=python3-minimal,python3,python3-numpy,ca-certificates \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        "$SUITE" "$work/python.tar"
    docker import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        -c 'ENV PYTHONUNBUFFERED=1' -c 'CMD ["python3"]' "$work/python.tar" "$PYTHON_IMAGE" >/dev/null
    say "built $PYTHON_IMAGE"
}

for w in "${want[@]}"; do
    case "$w" in
        busybox) build_busybox ;;
        python) build_python ;;
        *) say "unknown image '$w' (busybox, python)"; exit 2 ;;
    esac
done
