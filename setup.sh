#!/usr/bin/env bash
# Set SparkQ up in this folder: create ./.venv and install SparkQ into it (editable).
#
#   ./setup.sh          the app and everything the test suite needs (the `test` extra)
#   ./setup.sh --dev    also the linters and type checker (ruff, mypy: the `dev` extra)
#   ./setup.sh --quiet  say only what it creates or installs (scripts/venv runs it so)
#   PYTHON=python3.12 ./setup.sh   build the venv with another interpreter (3.11 or newer)
#
# Safe to run again: an existing working .venv is reused, and the install is skipped when
# pyproject.toml has not changed and every package it asks for is installed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

extras="test"
quiet=""
for arg in "$@"; do
    case "$arg" in
        --dev) extras="dev" ;;
        --quiet) quiet=1 ;;
        -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
        *) echo "setup.sh: unknown option $arg (try --help)" >&2; exit 2 ;;
    esac
done

# progress: on stdout, or with --quiet only what changes the venv, on stderr
say() { if [ -z "$quiet" ]; then echo "$@"; fi; }
tell() { if [ -z "$quiet" ]; then echo "$@"; else echo "$@" >&2; fi; }

python="${PYTHON:-python3}"
if ! command -v "$python" >/dev/null 2>&1; then
    echo "setup.sh: $python not found; install Python 3.11+ or set PYTHON=/path/to/python3" >&2
    exit 1
fi
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "setup.sh: SparkQ needs Python 3.11 or newer; $python is $("$python" -V 2>&1)." >&2
    echo "          Set PYTHON=/path/to/python3.11 (or newer) and run again." >&2
    exit 1
fi

venv="$here/.venv"
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    say "Using the existing virtual environment $venv"
else
    if [ -e "$venv" ]; then
        tell "Replacing the broken virtual environment $venv"
        rm -rf "$venv"
    fi
    tell "Creating a virtual environment in $venv ($("$python" -V 2>&1))"
    "$python" -m venv "$venv"
fi

# Install unless pyproject.toml is unchanged since the last install and everything it asks for
# with these extras is there: what is installed decides, so `./setup.sh --dev` then `./setup.sh`
# installs nothing, and a venv made for fewer extras is completed.
stamp="$venv/.sparkq-installed"
wanted="$(cksum < pyproject.toml)"
reason=""
if [ ! -f "$stamp" ]; then
    reason="first install"
elif [ "$(cat "$stamp")" != "$wanted" ]; then
    reason="pyproject.toml changed"
elif ! missing="$("$venv/bin/python" scripts/requirements_met.py "$extras" 2>&1)"; then
    reason="missing: $missing"
elif [ ! -x "$venv/bin/sparkq" ]; then
    reason="missing: the sparkq command"
fi
if [ -z "$reason" ]; then
    say "SparkQ is already installed in $venv with the $extras extra (pyproject.toml unchanged)"
else
    tell "Installing SparkQ and its dependencies (pip install -e \".[$extras]\"; $reason) ..."
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[$extras]"
    if ! still="$("$venv/bin/python" scripts/requirements_met.py "$extras" 2>&1)"; then
        echo "setup.sh: after pip install, still missing: $still" >&2
        exit 1
    fi
    printf '%s\n' "$wanted" > "$stamp"
fi

"$venv/bin/sparkq" --version >/dev/null
[ -n "$quiet" ] && exit 0

cat <<MSG

SparkQ is ready in $venv.

Next:
  source .venv/bin/activate     # puts 'sparkq' on your PATH (or call .venv/bin/sparkq)
  sparkq setup                  # optional: choose the project name, script folders, port ...
  sparkq run                    # the server and web UI at http://127.0.0.1:8420/
  ./scripts/test                # the test suite

Workers: see WORKER_PLAYBOOK.md. To remove everything again: ./teardown.sh
MSG
