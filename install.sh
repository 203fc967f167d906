#!/usr/bin/env bash
# install.sh — install knit into its own virtualenv, put `knitctl` / `knitd` on PATH,
# make sure a Docker engine is there, and enable knitd as a systemd user service.
#
# Safe to run again: an existing virtualenv is reused, the package is reinstalled
# only when this checkout changed, links, completion files and the unit are only
# rewritten when they differ. `--uninstall` removes what it made and keeps the
# user's data. Everything it reports goes to stderr.
if [ -z "${BASH_VERSION:-}" ]; then
    echo "install.sh: error: run it with bash (./install.sh or bash install.sh)" >&2
    exit 1
fi
set -euo pipefail
shopt -u patsub_replacement 2>/dev/null || true # '&' in ${var//pattern/replacement} stays a '&'

usage() {
    cat <<'EOF'
Usage: ./install.sh [OPTIONS]

Install knit from this directory into its own virtualenv, link `knitctl` and
`knitd` into a bin directory, install shell completion (bash, zsh, fish), make
sure a Docker engine is installed and running, and enable knitd as a systemd
user service when there is a systemd user session.

Options:
  --prefix DIR     Create (or reuse) the virtualenv at DIR.
                   Default: ${XDG_DATA_HOME:-~/.local/share}/knit/venv
  --dev            Editable install with the test extra (pip install -e '.[test]').
                   Implies no Docker engine install and no service unless
                   --docker / --service are given.
  --bin-dir DIR    Where to link knitctl and knitd. Default: ~/.local/bin
  --no-link        Do not link the commands (and so skip shell completion too).
  --no-completion  Do not install shell completion files.
  --python PY      Python interpreter to build the virtualenv with (3.11 or newer).
                   Default: the first of python3, python3.13, python3.12, python3.11
                   that is 3.11 or newer ($KNIT_PYTHON is used when set).
  --docker         Install / start the Docker engine when missing (the default,
                   except with --dev). Runs packaging/docker-engine.sh, with sudo
                   when not root.
  --no-docker      Leave Docker alone; only say what to run when it is missing.
  --service        Install and enable the knitd systemd user unit (the default
                   when `systemctl --user` works, except with --dev).
  --no-service     Do not install the systemd user unit.
  --uninstall      Remove what install.sh made — the virtualenv, the links, the
                   completion files, the unit and knitctl's cache — and keep your
                   data (KNIT_HOME, settings). Give the --prefix / --bin-dir you installed with.
  -h, --help       Show this help and exit.

Examples:
  ./install.sh                                       # a user install
  ./install.sh --dev --prefix .venv --no-link        # a development environment
  ./install.sh --uninstall                           # remove the user install
EOF
}

say() { printf 'install.sh: %s\n' "$*" >&2; }
die() { printf 'install.sh: error: %s\n' "$*" >&2; exit 1; }

[[ -n "${HOME:-}" ]] || die "HOME is not set; set it to the home directory to install into"

src_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
data_home=${XDG_DATA_HOME:-$HOME/.local/share}
config_home=${XDG_CONFIG_HOME:-$HOME/.config}

default_prefix="$data_home/knit/venv"
prefix=$default_prefix
bin_dir="$HOME/.local/bin"
dev=0
link=1
completion=1
docker=auto   # auto | yes | no
service=auto  # auto | yes | no
uninstall=0
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
        --docker) docker=yes; shift ;;
        --no-docker) docker=no; shift ;;
        --service) service=yes; shift ;;
        --no-service) service=no; shift ;;
        --uninstall) uninstall=1; shift ;;
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

# The user's data, which install.sh never touches (the same rules as knitctl's).
knit_home=$(absolute "${KNIT_HOME:-$data_home/knit}")
knit_config=$(absolute "${KNIT_CONFIG:-$config_home/knit/config.yaml}")

unit_dir="$config_home/systemd/user"
unit_file="$unit_dir/knitd.service"
bash_completion_file="${BASH_COMPLETION_USER_DIR:-$data_home/bash-completion}/completions/knitctl"
zsh_completion_file="$HOME/.zfunc/_knitctl"
fish_completion_file="$config_home/fish/completions/knitctl.fish"
stamp_file="$prefix/knit-install.stamp"   # inside the virtualenv: what was installed from where

# A virtualenv at $prefix must never hold or contain the user's data: uninstall removes it whole.
case "$prefix/" in
    "$knit_home/" | "$knit_home/data/"* | "$knit_home/staging/"* | "$knit_home/runs/"* | "$knit_home/logs/"* | "$knit_home/inbox/"*)
        die "--prefix $prefix is knit's data (KNIT_HOME $knit_home); choose another directory" ;;
esac
case "$knit_home/" in
    "$prefix/"*) die "--prefix $prefix contains KNIT_HOME ($knit_home); choose a directory of its own" ;;
esac

if [[ $EUID -eq 0 && -n "${SUDO_USER:-}" && "$HOME" != "/root" ]]; then
    say "warning: running as root under sudo with HOME=$HOME; what is installed there will belong to root."
    say "         Run ./install.sh without sudo to install for yourself."
fi

have_user_systemd() {
    command -v systemctl >/dev/null 2>&1 && systemctl --user show-environment >/dev/null 2>&1
}

# The unit's ExecStart line for this prefix (systemd quoting: '%' doubled, quotes when needed).
unit_exec_start() {
    local path="$prefix/bin/knitd"
    path=${path//%/%%}
    if [[ $path == *[[:space:]\"\'\\]* ]]; then
        path=${path//\\/\\\\}
        path="\"${path//\"/\\\"}\""
    fi
    printf 'ExecStart=%s\n' "$path"
}

# prune_empty DIR STOP: remove DIR and its parents while they are empty, never STOP, HOME or /.
prune_empty() {
    local dir=$1 stop=$2
    while [[ -d "$dir" && "$dir" != "$stop" && "$dir" != "$HOME" && "$dir" != / && "$dir" == "$stop"/* ]]; do
        rmdir "$dir" 2>/dev/null || return 0
        dir=$(dirname "$dir")
    done
}

# -- uninstall ---------------------------------------------------------------------

uninstall_knit() {
    local removed=() name dest target current f count

    # knitd: the service first (disabled and stopped), else a knitd this virtualenv started.
    if [[ -f "$unit_file" ]]; then
        if grep -qxF "$(unit_exec_start)" "$unit_file"; then
            if have_user_systemd; then
                systemctl --user disable --now knitd.service >/dev/null 2>&1 ||
                    say "warning: systemctl --user disable --now knitd.service failed; removing the unit anyway"
            fi
            rm -f "$unit_dir/default.target.wants/knitd.service"
            rm -f "$unit_file"
            if have_user_systemd; then systemctl --user daemon-reload >/dev/null 2>&1 || true; fi
            removed+=("the knitd service $unit_file (stopped and disabled)")
            prune_empty "$unit_dir/default.target.wants" "$config_home"
        else
            say "leaving $unit_file: it starts another install's knitd ($(grep -m1 '^ExecStart=' "$unit_file" || echo 'no ExecStart'))"
        fi
    fi
    if [[ -f "$knit_home/knitd.pid" && -x "$prefix/bin/knitctl" ]]; then
        say "stopping knitd, if it runs (its containers keep running; a later knitd re-attaches to them)"
        "$prefix/bin/knitctl" down || say "warning: could not stop knitd; stop it with: kill \$(cat $knit_home/knitd.pid)"
    fi

    # The links, and the completion that goes with them.
    if [[ $link -eq 1 ]]; then
        for name in knitctl knitd; do
            dest="$bin_dir/$name"
            target="$prefix/bin/$name"
            if [[ -L "$dest" ]]; then
                current=$(readlink "$dest")
                if [[ "$current" == "$target" ]]; then
                    rm -f "$dest"
                    removed+=("the link $dest")
                else
                    say "leaving $dest: it links to $current, not to $target"
                fi
            elif [[ -e "$dest" ]]; then
                say "leaving $dest: it is not a link install.sh made"
            fi
        done
        for f in "$bash_completion_file" "$zsh_completion_file" "$fish_completion_file"; do
            if [[ -f "$f" ]] && grep -qs knitctl "$f"; then
                rm -f "$f"
                removed+=("$f")
            fi
        done
        prune_empty "$(dirname "$bash_completion_file")" "$data_home"
        prune_empty "$(dirname "$zsh_completion_file")" "$HOME"
    fi

    # knitctl's cache (descriptions of its commands, kept to answer quickly): derived, so it goes.
    local cache_dir="${XDG_CACHE_HOME:-$HOME/.cache}/knit"
    if [[ -d "$cache_dir" ]]; then
        rm -rf "$cache_dir"
        removed+=("knitctl's cache $cache_dir")
        prune_empty "$(dirname "$cache_dir")" "$HOME"
    fi

    # The virtualenv, and nothing else: it sits inside KNIT_HOME by default, beside the data.
    if [[ -f "$prefix/pyvenv.cfg" ]]; then
        rm -rf "$prefix"
        removed+=("the virtualenv $prefix")
        [[ "$prefix" == "$default_prefix" ]] && prune_empty "$(dirname "$prefix")" "$data_home"
    elif [[ -e "$prefix" ]]; then
        say "leaving $prefix: it is not a virtualenv"
    fi

    if [[ ${#removed[@]} -eq 0 ]]; then
        say "nothing to remove: knit is not installed at $prefix (give the --prefix and --bin-dir you installed with)"
    else
        say "uninstalled knit; removed:"
        for f in "${removed[@]}"; do say "  $f"; done
    fi

    # Name the user's data, which stays.
    if [[ -f "$knit_home/catalog.db" || -d "$knit_home/data" ]]; then
        count=0
        [[ -d "$knit_home/data" ]] && count=$(find "$knit_home/data" -mindepth 1 -maxdepth 1 | wc -l)
        say "kept your data: KNIT_HOME $knit_home (the catalog and $count data)"
    elif [[ -d "$knit_home" ]]; then
        say "kept KNIT_HOME $knit_home (no catalog in it)"
    else
        say "no knit data at $knit_home (KNIT_HOME)"
    fi
    if [[ -f "$knit_config" ]]; then
        say "kept your settings: $knit_config"
    fi
    local delete=""
    [[ -d "$knit_home" ]] && delete="chmod -R u+w '$knit_home' && rm -rf '$knit_home'"
    if [[ -f "$knit_config" ]]; then
        [[ -n "$delete" ]] && delete+=" && "
        if [[ "$knit_config" == "$config_home/knit/config.yaml" ]]; then
            delete+="rm -rf '$config_home/knit'"
        else
            delete+="rm -f '$knit_config'"
        fi
    fi
    [[ -z "$delete" ]] || say "to delete them too (every datum, for good): $delete"
}

if [[ $uninstall -eq 1 ]]; then
    uninstall_knit
    exit 0
fi

[[ -f "$src_dir/pyproject.toml" ]] || die "$src_dir has no pyproject.toml; run install.sh from a knit checkout"

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

# What an install depends on: the checkout's path, the mode and — unless editable, where
# the code is read from the checkout — every file that goes into the package.
fingerprint() {
    "$venv_python" - "$src_dir" "$dev" <<'PY'
import hashlib, os, sys

src, dev = sys.argv[1], sys.argv[2]
h = hashlib.sha256(f"{src}\0dev={dev}\0".encode())
tops = ["pyproject.toml"] if dev == "1" else ["pyproject.toml", "README.md", "knitctl", "daemon", "tui"]
for top in tops:
    path = os.path.join(src, top)
    if os.path.isfile(path):
        files = [path]
    else:
        files = sorted(os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs
                       if "__pycache__" not in d.split(os.sep) and not f.endswith(".pyc"))
    for f in files:
        h.update(os.path.relpath(f, src).encode() + b"\0")
        with open(f, "rb") as fh:
            h.update(hashlib.sha256(fh.read()).digest() + b"\0")
print(h.hexdigest())
PY
}

installed_version() {
    "$venv_python" -c 'import importlib.metadata as m; print(m.version("knit"))' 2>/dev/null
}

fp=$(fingerprint)
# `knitctl --version` proves it starts, and (unlike --help) leaves nothing in the user's cache.
if [[ -f "$stamp_file" && "$(cat "$stamp_file")" == "$fp" ]] && "$prefix/bin/knitctl" --version >/dev/null 2>&1; then
    say "knit $(installed_version) in $prefix is up to date"
else
    pip=("$venv_python" -m pip --disable-pip-version-check --no-input)
    rm -f "$stamp_file"
    if [[ $dev -eq 1 ]]; then
        say "installing knit from $src_dir, editable, with the test extra (the first time takes a minute)"
        "${pip[@]}" install -q -e "${src_dir}[test]" >&2
    else
        say "installing knit from $src_dir (the first time takes a minute)"
        "${pip[@]}" install -q "$src_dir" >&2
    fi
    "$prefix/bin/knitctl" --version >/dev/null 2>&1 || die "knitctl was installed into $prefix/bin but does not start; run $prefix/bin/knitctl --help to see why"
    printf '%s\n' "$fp" >"$stamp_file"
    say "installed knit $(installed_version) into $prefix"
fi

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

completion_dir="$src_dir/knitctl/share/completions"

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
    install_completion bash knitctl.bash "$bash_completion_file"
    if [[ ! -f /usr/share/bash-completion/bash_completion && ! -f /etc/bash_completion ]]; then
        say "note: the bash-completion package is not installed; bash uses the file above once it is"
    fi
    if command -v zsh >/dev/null 2>&1 || [[ -f "$HOME/.zshrc" ]]; then
        install_completion zsh _knitctl "$zsh_completion_file"
        if ! grep -qs 'zfunc' "${ZDOTDIR:-$HOME}/.zshrc"; then
            say "note: for zsh, add these lines to ${ZDOTDIR:-$HOME}/.zshrc: fpath+=~/.zfunc; autoload -Uz compinit && compinit"
        fi
    fi
    if command -v fish >/dev/null 2>&1 || [[ -d "$config_home/fish" ]]; then
        install_completion fish knitctl.fish "$fish_completion_file"
    fi
fi

# -- the Docker engine -------------------------------------------------------------

engine_script="$src_dir/packaging/docker-engine.sh"
printf -v engine_cmd 'bash %q' "$engine_script"
if [[ $EUID -ne 0 ]] && ! command -v sudo >/dev/null 2>&1; then
    engine_cmd_root="su -c '${engine_cmd//\'/\'\\\'\'}'" # it needs root, and there is no sudo
else
    engine_cmd_root=$engine_cmd                         # it uses sudo itself when not root
fi

docker_ok() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }
docker_denied() {
    local out
    command -v docker >/dev/null 2>&1 || return 1
    out=$(docker info 2>&1) && return 1
    [[ ${out,,} == *"permission denied"* ]]
}
docker_version() { docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'; }
say_group_fix() {
    local how="sudo usermod -aG docker ${USER:-\$USER}"
    command -v sudo >/dev/null 2>&1 || how="as root: usermod -aG docker ${USER:-\$USER}"
    say "you can't use Docker's socket yet: add yourself to the docker group ($how), then log in again (or run: newgrp docker)"
}

ensure_docker() {
    if [[ $docker == no ]]; then
        if ! command -v dockerd >/dev/null 2>&1 && ! command -v docker >/dev/null 2>&1; then
            say "no Docker engine here, and --no-docker: knit's runs need one; to install and start it, run: $engine_cmd_root"
        else
            say "not checking the Docker engine (--no-docker)"
        fi
        return 0
    fi
    if [[ $docker == auto && $dev -eq 1 ]]; then
        say "not installing or starting Docker (--dev; add --docker for that, or run: $engine_cmd_root)"
        return 0
    fi
    if docker_ok; then
        say "Docker engine $(docker_version) is running"
        return 0
    fi
    if docker_denied; then
        say_group_fix
        return 0
    fi
    if [[ -n "${DOCKER_HOST:-}" ]] && command -v docker >/dev/null 2>&1; then
        say "warning: DOCKER_HOST=$DOCKER_HOST does not answer; not installing a local engine. Check it, or unset it and run: $engine_cmd_root"
        return 0
    fi
    if [[ $EUID -ne 0 ]] && ! command -v sudo >/dev/null 2>&1; then
        say "no running Docker engine, and no sudo to install or start one; as root, run: $engine_cmd_root"
        return 0
    fi
    if command -v dockerd >/dev/null 2>&1; then
        say "the Docker engine is installed but not running; starting it with packaging/docker-engine.sh$([[ $EUID -ne 0 ]] && echo ' (sudo)')"
    else
        say "no Docker engine here; installing the distribution's docker.io with packaging/docker-engine.sh$([[ $EUID -ne 0 ]] && echo ' (sudo)')"
    fi
    if ! bash "$engine_script"; then
        say "warning: packaging/docker-engine.sh failed (see above); knit is installed, but its runs need Docker. Try again: $engine_cmd_root"
        return 0
    fi
    if docker_ok; then
        say "Docker engine $(docker_version) is running"
    elif docker_denied; then
        say_group_fix
    fi
}

ensure_docker

# -- the systemd user service --------------------------------------------------------

install_service() {
    local template="$src_dir/knitctl/share/systemd/knitd.service" unit source tmp previous=""
    if [[ $service == no ]]; then
        say "not installing the knitd service (--no-service)"
        return 0
    fi
    if [[ $service == auto && $dev -eq 1 ]]; then
        return 0 # a development virtualenv never takes over the user's service
    fi
    if ! have_user_systemd; then
        say "no systemd user session here; not installing the knitd service (knitctl up starts knitd by itself)"
        return 0
    fi
    [[ -f "$template" ]] || { say "warning: $template is missing; not installing the knitd service"; return 0; }
    # The template's own header comment explains the placeholders: replace it with where this came from.
    unit=$(sed '1,/^[^#]/{/^#/d}' "$template")
    unit="# knitd as a systemd user service, installed by $src_dir/install.sh from
# knitctl/share/systemd/knitd.service; \`./install.sh --uninstall\` disables and removes it.
$unit"
    source=${src_dir//%/%%25}
    source=${source// /%%20}
    unit=${unit//@SOURCE@/"$source"}
    unit=${unit//ExecStart=@KNITD@/"$(unit_exec_start)"}
    mkdir -p "$unit_dir"
    tmp=$(mktemp "$unit_file.XXXXXX")
    printf '%s\n' "$unit" >"$tmp"
    chmod 644 "$tmp"
    if [[ -f "$unit_file" ]] && cmp -s "$tmp" "$unit_file"; then
        rm -f "$tmp"
        say "the knitd service is up to date: $unit_file"
    else
        [[ -f "$unit_file" ]] && previous=$(grep -m1 '^ExecStart=' "$unit_file" || true)
        mv -f "$tmp" "$unit_file"
        systemctl --user daemon-reload >/dev/null 2>&1 || true
        say "installed the knitd service: $unit_file${previous:+ (was $previous)}"
        if systemctl --user is-active --quiet knitd.service; then
            say "knitd.service is running the previous install; restart it: systemctl --user restart knitd.service"
        fi
    fi
    if systemctl --user is-enabled --quiet knitd.service 2>/dev/null; then
        say "knitd.service is enabled"
    elif systemctl --user enable knitd.service >/dev/null 2>&1; then
        say "enabled knitd.service (not started: knitctl up or knitctl quickstart starts it)"
    else
        say "warning: systemctl --user enable knitd.service failed; knitctl up starts knitd without it"
    fi
}

install_service

say "done. Try: $( [[ $link -eq 1 ]] && echo "$bin_dir" || echo "$prefix/bin")/knitctl quickstart"
