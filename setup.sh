#!/usr/bin/env bash
# Set SparkQ up in this folder: create ./.venv and install SparkQ into it (editable).
#
#   ./setup.sh          the app and what the test suite needs (pytest, hypothesis, pexpect)
#   ./setup.sh --dev    also the linters and type checker (ruff, mypy)
#   PYTHON=python3.12 ./setup.sh   build the venv with another interpreter (3.11 or newer)
#
# Safe to run again: an existing working .venv is reused, and the install is skipped when
# pyproject.toml has not changed since the last successful run.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

extras="test"
for arg in "$@"; do
    case "$arg" in
        --dev) extras="dev" ;;
        -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "setup.sh: unknown option $arg (try --help)" >&2; exit 2 ;;
    esac
done

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
    echo "Using the existing virtual environment $venv"
else
    if [ -e "$venv" ]; then
        echo "Replacing the broken virtual environment $venv"
        rm -rf "$venv"
    fi
    echo "Creating a virtual environment in $venv ($("$python" -V 2>&1))"
    "$python" -m venv "$venv"
fi

stamp="$venv/.sparkq-installed"
wanted="$extras $(cksum < pyproject.toml)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ] && [ -x "$venv/bin/sparkq" ]; then
    echo "SparkQ is already installed in $venv (pyproject.toml unchanged)"
else
    echo "Installing SparkQ and its dependencies (pip install -e \".[$extras]\") ..."
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[$extras]"
    printf '%s\n' "$wanted" > "$stamp"
fi

"$venv/bin/sparkq" --version >/dev/null

cat <<MSG

SparkQ is ready in $venv.

Next:
  source .venv/bin/activate     # puts 'sparkq' on your PATH (or call .venv/bin/sparkq)
  sparkq setup                  # optional: choose the project name, script folders, port ...
  sparkq run                    # the server and web UI at http://127.0.0.1:8420/
  .venv/bin/pytest              # the test suite

Workers: see WORKER_PLAYBOOK.md. To remove everything again: ./teardown.sh
MSG
