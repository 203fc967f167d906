#!/usr/bin/env bash
# The programs the tests use besides Docker, installed from the distribution's packages when
# missing: Graphviz's `dot` (`knitctl plan graph -o svg|png` draws with it; a test draws with the
# real one). Used by the README's test command and so by .ci/run. Prints what it does to stderr.
set -euo pipefail
say() { printf 'test-tools: %s\n' "$*" >&2; }
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

missing=()
command -v dot >/dev/null 2>&1 || missing+=(graphviz)

if [ "${#missing[@]}" -eq 0 ]; then
    say "all present"
    exit 0
fi
say "installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
