#!/usr/bin/env bash
# Regenerate the shell completion scripts that install.sh copies into place.
#
#   packaging/completions/generate.sh [KNITCTL]
#
# KNITCTL defaults to .venv/bin/knitctl at the top of the checkout, then to
# `knitctl` on PATH. The scripts come from Typer (through Click's
# `_KNITCTL_COMPLETE=source_<shell>` hook); they call `knitctl` back for the
# actual completions, so they only change when Typer's templates do.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
top=$(cd "$here/../../.." && pwd -P)  # knitctl/share/completions → the checkout

knitctl=${1:-}
if [[ -z "$knitctl" ]]; then
    if [[ -x "$top/.venv/bin/knitctl" ]]; then
        knitctl="$top/.venv/bin/knitctl"
    elif command -v knitctl >/dev/null 2>&1; then
        knitctl=$(command -v knitctl)
    else
        echo "generate.sh: error: no knitctl found; run ./install.sh --dev --prefix .venv --no-link first, or pass its path" >&2
        exit 1
    fi
fi

die() { echo "generate.sh: error: $*" >&2; exit 1; }

# zsh reads `#compdef` only from a file's first line, and runs an autoloaded
# file as the body of `_knitctl`: so drop the blank lines before it, and call
# the completion function instead of registering it (which would make the
# first TAB of a session complete nothing).
zsh_for_fpath() {
    local text
    text=$(sed '/./,$!d')
    [[ "$text" == "#compdef knitctl"* ]] || die "the zsh script does not start with '#compdef knitctl'; check Typer's template"
    grep -qx 'compdef _knitctl_completion knitctl' <<<"$text" || die "the zsh script has no 'compdef _knitctl_completion knitctl' line; check Typer's template"
    # shellcheck disable=SC2001  # a line-anchored edit
    sed 's/^compdef _knitctl_completion knitctl$/_knitctl_completion "$@"/' <<<"$text"
}

generate() {
    local shell=$1 out="$here/$2" tmp
    tmp=$(mktemp "$out.XXXXXX")
    if [[ $shell == zsh ]]; then
        _KNITCTL_COMPLETE="source_$shell" "$knitctl" | zsh_for_fpath >"$tmp"
    else
        _KNITCTL_COMPLETE="source_$shell" "$knitctl" >"$tmp"
    fi
    [[ -s "$tmp" ]] || { rm -f "$tmp"; die "$knitctl printed no $shell completion"; }
    chmod 644 "$tmp"
    mv -f "$tmp" "$out"
    echo "generate.sh: wrote $out" >&2
}

generate bash knitctl.bash
generate zsh _knitctl
generate fish knitctl.fish
