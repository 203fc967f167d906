#!/usr/bin/env bash
# install.sh — install knit into its own virtualenv and put `knitctl` / `knitd` on PATH.
#
# Safe to run again: an existing virtualenv is reused, the package is reinstalled
# from this checkout, links and completion files are only rewritten when they differ.
# Everything it reports goes to stderr.
if [ -z "${BASH_VERSION:-}" ]; then
    echo "install.sh: error: run it with bash (./install.sh or bash install.sh)" >&2
    exit 1
fi
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: ./install.sh [OPTIONS]

Install knit from this directory into its own virtualenv, link `knitctl` and
`knitd` into a bin directory, and install shell completion (bash, zsh, fish).

Options:
  --prefix DIR     Create (or reuse) the virtualenv at DIR.
                   Default: ${XDG_DATA_HOME:-~/.local/share}/knit/venv
  --dev            Editable install with the test extra (pip install -e '.[test]').
  --bin-dir DIR    Where to link knitctl and knitd. Default: ~/.local/bin
  --no-link        Do not link the commands (and so skip shell completion too).
  --no-completion  Do not install shell completion files.
  --python PY      Python interpreter to build the virtualenv with (3.11 or newer).
                   Default: the first of python3, python3.13, python3.12, python3.11
                   that is 3.11 or newer ($KNIT_PYTHON is used when set).
  -h, --help       Show this help and exit.

Examples:
  ./install.sh                                       # a user install
  ./install.sh --dev --prefix .venv --no-link        # a development environment
EOF
}

say() { printf 'install.sh: %s\n' "$*" >&2; }
die() { printf 'install.sh: error: %s\n' "$*" >&2; exit 1; }

[[ -n "${HOME:-}" ]] || die "HOME is not set; set it to the home directory to install into"

src_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
data_home=${XDG_DATA_HOME:-$HOME/.local/share}
config_home=${XDG_CONFIG_HOME:-$HOME/.config}

prefix="$data_home/knit/venv"
bin_dir="$HOME/.local/bin"
dev=0
link=1
completion=1
python=${KNIT_PYTHON:-}

need_value() { [[ $# -ge 2 && -n "$2" ]] || die "$1 needs a value; see ./install.sh --help"; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --prefix) need_value "$@"; prefix=$2; shift 2 ;;
        --prefix=*) prefix=${1#*=}; shift ;;
        --bin-dir) need_value "$@"; bin_dir=$2; shift 2 ;;
        --bin-dir=*) bin_dir=${1#*=}; shift ;;
        --python) need_value "$@"; python=$2; shift 2 ;;
        --python=*) python=${1#*=}; shift ;;
        --dev) dev=1; shift ;;
        --no-link) link=0; shift ;;
        --no-completion) completion=0; shift ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown option '$1'; see ./install.sh --help" ;;
    esac
done

# Relative paths are taken from the current directory, like any command's.
absolute() {
    local p=$1
    [[ $p == /* ]] || p="$PWD/$p"
    while [[ $p == */ && $p != / ]]; do p=${p%/}; done
    printf '%s\n' "$p"
}
[[ -n "$prefix" ]] || die "--prefix is empty"
[[ -n "$bin_dir" ]] || die "--bin-dir is empty"
prefix=$(absolute "$prefix")
bin_dir=$(absolute "$bin_dir")

[[ -f "$src_dir/pyproject.toml" ]] || die "$src_dir has no pyproject.toml; run install.sh from a knit checkout"

if [[ $EUID -eq 0 && -n "${SUDO_USER:-}" && "$HOME" != "/root" ]]; then
    say "warning: running as root under sudo with HOME=$HOME; what is installed there will belong to root."
    say "         Run ./install.sh without sudo to install for yourself."
fi

# -- Python ≥ 3.11 -------------------------------------------------------------

python_ok() {
    "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' >/dev/null 2>&1
}

python_version() {
    "$1" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])'
}

find_python() {
    local candidate
    if [[ -n "$python" ]]; then
        command -v "$python" >/dev/null 2>&1 || die "Python interpreter '$python' not found"
        python_ok "$python" || die "$python is Python $(python_version "$python" 2>/dev/null || echo '?'); knit needs 3.11 or newer"
        command -v "$python"
        return
    fi
    for candidate in python3 python3.13 python3.12 python3.11; do
        if command -v "$candidate" >/dev/null 2>&1 && python_ok "$candidate"; then
            command -v "$candidate"
            return
        fi
    done
    die "knit needs Python 3.11 or newer, and none of python3, python3.13, python3.12, python3.11 is.
  Install one (Debian/Ubuntu: apt-get install python3 python3-venv) or pass --python /path/to/python3.11"
}

# -- the virtualenv ----------------------------------------------------------------

venv_python="$prefix/bin/python"

venv_usable() {
    [[ -f "$prefix/pyvenv.cfg" && -x "$venv_python" ]] && python_ok "$venv_python"
}

if venv_usable && [[ -z "$python" ]]; then
    say "using the existing virtualenv $prefix (Python $(python_version "$venv_python"))"
else
    py=$(find_python)
    if venv_usable && [[ "$(python_version "$venv_python" | cut -d. -f1,2)" == "$(python_version "$py" | cut -d. -f1,2)" ]]; then
        say "using the existing virtualenv $prefix (Python $(python_version "$venv_python"))"
    else
        "$py" -c 'import venv, ensurepip' >/dev/null 2>&1 ||
            die "$py has no working venv module; on Debian/Ubuntu: apt-get install python3-venv (or python3.X-venv for your version)"
        if [[ -f "$prefix/pyvenv.cfg" ]]; then
            say "recreating the virtualenv $prefix with $py (Python $(python_version "$py"))"
            "$py" -m venv --clear "$prefix" >&2
        elif [[ -e "$prefix" && ! -d "$prefix" ]]; then
            die "$prefix exists and is not a directory; choose another --prefix"
        elif [[ -d "$prefix" && -n "$(ls -A "$prefix")" ]]; then
            die "$prefix exists, is not empty and is not a virtualenv; refusing to write into it. Choose another --prefix or remove it"
        else
            say "creating a virtualenv at $prefix with $py (Python $(python_version "$py"))"
            mkdir -p "$(dirname "$prefix")"
            "$py" -m venv "$prefix" >&2
        fi
    fi
fi

# -- the package -----------------------------------------------------------------

pip=("$venv_python" -m pip --disable-pip-version-check --no-input)
if [[ $dev -eq 1 ]]; then
    say "installing knit from $src_dir, editable, with the test extra (the first time takes a minute)"
    "${pip[@]}" install -q -e "${src_dir}[test]" >&2
else
    say "installing knit from $src_dir (the first time takes a minute)"
    "${pip[@]}" install -q "$src_dir" >&2
fi
version=$("$venv_python" -c 'import importlib.metadata as m; print(m.version("knit"))')
"$prefix/bin/knitctl" --help >/dev/null 2>&1 || die "knitctl was installed into $prefix/bin but does not start; run $prefix/bin/knitctl --help to see why"
say "installed knit $version into $prefix"

# -- links -------------------------------------------------------------------------

link_command() {
    local name=$1 target="$prefix/bin/$1" dest="$bin_dir/$1" current
    if [[ ! -e "$target" ]]; then
        say "no $name in $prefix/bin; not linked"
        return
    fi
    if [[ -L "$dest" ]]; then
        current=$(readlink "$dest")
        if [[ "$current" == "$target" ]]; then
            say "$dest already links to $target"
            return
        fi
        ln -sfn "$target" "$dest"
        say "relinked $dest -> $target (was -> $current)"
    elif [[ -e "$dest" ]]; then
        die "$dest exists and is not a link; move it away or choose another --bin-dir"
    else
        ln -s "$target" "$dest"
        say "linked $dest -> $target"
    fi
}

if [[ $link -eq 1 ]]; then
    mkdir -p "$bin_dir"
    link_command knitctl
    link_command knitd
    case ":${PATH:-}:" in
        *":$bin_dir:"*) ;;
        *) say "note: $bin_dir is not on your PATH; add it (export PATH=\"$bin_dir:\$PATH\" in ~/.profile) or call $bin_dir/knitctl" ;;
    esac
else
    say "not linking knitctl and knitd, nor installing shell completion (--no-link); the commands are in $prefix/bin"
fi

# -- shell completion --------------------------------------------------------------

completion_dir="$src_dir/packaging/completions"

# install_completion SHELL FILE DEST: copy the packaged script (or generate it from
# the installed knitctl when the checkout lacks it), only when it differs.
install_completion() {
    local shell=$1 file="$completion_dir/$2" dest=$3 tmp
    mkdir -p "$(dirname "$dest")"
    tmp=$(mktemp "$dest.XXXXXX")
    if [[ -f "$file" ]]; then
        cp "$file" "$tmp"
    else
        _KNITCTL_COMPLETE="source_$shell" "$prefix/bin/knitctl" >"$tmp"
    fi
    if [[ -f "$dest" ]] && cmp -s "$tmp" "$dest"; then
        rm -f "$tmp"
        say "$shell completion is up to date: $dest"
    else
        chmod 644 "$tmp"
        mv -f "$tmp" "$dest"
        say "installed $shell completion: $dest"
    fi
}

if [[ $link -eq 0 ]]; then
    : # completion calls `knitctl` from PATH, which --no-link leaves alone
elif [[ $completion -eq 0 ]]; then
    say "not installing shell completion (--no-completion)"
else
    install_completion bash knitctl.bash "${BASH_COMPLETION_USER_DIR:-$data_home/bash-completion}/completions/knitctl"
    if [[ ! -f /usr/share/bash-completion/bash_completion && ! -f /etc/bash_completion ]]; then
        say "note: the bash-completion package is not installed; bash uses the file above once it is"
    fi
    if command -v zsh >/dev/null 2>&1 || [[ -f "$HOME/.zshrc" ]]; then
        install_completion zsh _knitctl "$HOME/.zfunc/_knitctl"
        if ! grep -qs 'zfunc' "${ZDOTDIR:-$HOME}/.zshrc"; then
            say "note: for zsh, add these lines to ${ZDOTDIR:-$HOME}/.zshrc: fpath+=~/.zfunc; autoload -Uz compinit && compinit"
        fi
    fi
    if command -v fish >/dev/null 2>&1 || [[ -d "$config_home/fish" ]]; then
        install_completion fish knitctl.fish "$config_home/fish/completions/knitctl.fish"
    fi
fi

say "done. Try: $( [[ $link -eq 1 ]] && echo "$bin_dir" || echo "$prefix/bin")/knitctl --help"
