#!/usr/bin/env bash
# Remove SparkQ from this folder: stop the server and this database's watchers, then delete
# the queue database (with its -wal/-shm/-writer files), sparkq.lock and sparkq.port, the files of this
# database's watchers in <tmp> (sparkq-S.lock, -pipe, -done, .database) and the virtual
# environment ./.venv. sparkq.yml, your code and other projects' watchers stay.
#
#   ./teardown.sh        asks first when run on a terminal
#   ./teardown.sh -y     no question (scripts, CI)
#
# The database path and <tmp> (watcher.tmp_dir) come from ./sparkq.yml (or $SPARKQ_CONFIG)
# when there is one, else the defaults sparkq.db and /tmp. A stream's watcher files are this
# database's when <tmp>/sparkq-S.database names it (its file; for a PostgreSQL database, its URL
# without the password). A PostgreSQL database itself is never touched. The server and each watcher are stopped
# only while they hold the lock on their lockfile (sparkq.lock, <tmp>/sparkq-S.lock):
# SIGTERM, up to 5 seconds to exit, then SIGKILL.
set -euo pipefail
shopt -s nullglob

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

assume_yes=0
for arg in "$@"; do
    case "$arg" in
        -y|--yes) assume_yes=1 ;;
        -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
        *) echo "teardown.sh: unknown option $arg (try --help)" >&2; exit 2 ;;
    esac
done

# -- where things are ---------------------------------------------------------------------------
config="${SPARKQ_CONFIG:-$here/sparkq.yml}"
python=""
for candidate in "$here/.venv/bin/python" "${PYTHON:-python3}"; do
    if command -v "$candidate" >/dev/null 2>&1; then python="$candidate"; break; fi
done

db="$here/sparkq.db"
tmp="/tmp"
pg_id=""
if [ -f "$config" ] && [ -n "$python" ]; then
    # prints two lines: the database path and the watcher tmp dir; falls back to a plain
    # pattern match when PyYAML is missing or the file is not valid YAML
    if paths="$("$python" - "$config" "$here/src" <<'PY'
import os
import re
import sys
from pathlib import Path

path = Path(sys.argv[1])
text = path.read_text(encoding="utf-8", errors="replace")
db, tmp, url, schema = None, None, None, None
try:
    import yaml

    data = yaml.safe_load(text)
    if isinstance(data, dict):
        database = data.get("database") if isinstance(data.get("database"), dict) else {}
        watcher = data.get("watcher") if isinstance(data.get("watcher"), dict) else {}
        db, tmp = database.get("path"), watcher.get("tmp_dir")
        url, schema = database.get("url"), database.get("schema")
except Exception:
    def find(section, key):
        flow = re.search(rf"^{section}:\s*\{{([^}}]*)\}}", text, re.M)
        if flow:
            m = re.search(rf"(?:^|,)\s*{key}:\s*([^,]+)", flow.group(1))
            return m.group(1).strip().strip("'\"") if m else None
        block = re.search(rf"^{section}:\s*\n((?:[ \t]+.*\n?)*)", text, re.M)
        if block:
            m = re.search(rf"^\s+{key}:\s*(.+?)\s*$", block.group(1), re.M)
            return m.group(1).strip().strip("'\"") if m else None
        return None

    db, tmp = find("database", "path"), find("watcher", "tmp_dir")
    url, schema = find("database", "url"), find("database", "schema")
print(path.parent / str(db or "sparkq.db"))
# a relative watcher.tmp_dir is relative to the config's folder, as for `sparkq watch`
print(path.parent / Path(str(tmp or "/tmp")).expanduser())
# a PostgreSQL database (SPARKQ_DATABASE_URL wins, as for sparkq): its watchers record it by its identity,
# the URL without its password (sparkq_adapters.database_id, read from this checkout's src/)
url = os.environ.get("SPARKQ_DATABASE_URL") or url
identity = ""
if isinstance(url, str) and url.strip():
    sys.path.insert(0, sys.argv[2])
    try:
        from sparkq_adapters.database_id import postgres_id

        identity = postgres_id(url.strip(), str(schema or "sparkq"))
    except Exception:
        pass
print(identity)
PY
)"; then
        db="$(printf '%s\n' "$paths" | sed -n 1p)"
        tmp="$(printf '%s\n' "$paths" | sed -n 2p)"
        pg_id="$(printf '%s\n' "$paths" | sed -n 3p)"
    else
        echo "Warning: could not read $config; using sparkq.db and /tmp" >&2
    fi
fi
tmp="${tmp%/}"
[ -n "$tmp" ] || tmp="/"
# the server's lockfile is beside the database's real file (a symlinked database file included)
db_target="$(readlink -f -- "$db" 2>/dev/null || true)"
lock="$(dirname "${db_target:-$db}")/sparkq.lock"
port_file="$(dirname "$lock")/sparkq.port"

# this database's watchers: <tmp>/sparkq-S.database names the database stream S's files serve
# (the same file: same device and inode; or, once it is gone, the same resolved path).
# <tmp> may be shared with other projects (the default /tmp is), whose files are left alone.
db_real="$db"
if db_dir="$(cd "$(dirname "$db")" 2>/dev/null && pwd -P)"; then db_real="${db_dir%/}/$(basename "$db")"; fi
streams=()
others=()
for record in "$tmp"/sparkq-*.database; do
    stream="${record#"$tmp"/sparkq-}"
    stream="${stream%.database}"
    recorded=""
    if [ -f "$record" ] && [ ! -L "$record" ]; then
        IFS= read -r recorded < "$record" || true
    fi
    if [ -n "$recorded" ] && { [ "$recorded" -ef "$db" ] || [ "$recorded" = "$db_real" ] ||
        { [ -n "$pg_id" ] && [ "$recorded" = "$pg_id" ]; }; }; then
        streams+=("$stream")
    else
        others+=("$stream")
    fi
done
watcher_files=()
watcher_locks=()
for stream in ${streams[@]+"${streams[@]}"}; do
    watcher_locks+=("$tmp/sparkq-$stream.lock")
    watcher_files+=("$tmp/sparkq-$stream.lock" "$tmp/sparkq-$stream-pipe" "$tmp/sparkq-$stream-done"
        "$tmp/sparkq-$stream.database")
done

if [ "$assume_yes" = 0 ] && [ -t 0 ]; then
    echo "This stops SparkQ and deletes:"
    echo "  $db (and its -wal/-shm/-writer files), $lock, $port_file"
    if [ "${#streams[@]}" -gt 0 ]; then
        echo "  the watcher files in $tmp of stream(s): ${streams[*]}"
    fi
    echo "  $here/.venv"
    printf 'Continue? [y/N] '
    read -r answer || answer=""
    case "$answer" in y|Y|yes|YES) ;; *) echo "Nothing changed."; exit 1 ;; esac
fi

# -- stop what runs -----------------------------------------------------------------------------
pid_in() {
    # the PID a lockfile names: {"pid": N, ...} or a bare number
    local pid
    pid="$(sed -n 's/.*"pid"[[:space:]]*:[[:space:]]*\([0-9][0-9]*\).*/\1/p' "$1" 2>/dev/null | head -n 1)"
    [ -n "$pid" ] || pid="$(grep -o '[0-9][0-9]*' "$1" 2>/dev/null | head -n 1 || true)"
    printf '%s' "$pid"
}

alive() {
    kill -0 "$1" 2>/dev/null || return 1
    case "$(ps -o stat= -p "$1" 2>/dev/null || true)" in
        Z*) return 1 ;;  # exited, waiting for its parent to notice
    esac
    return 0
}

lock_holder() {
    # the PID of the process that holds the lockfile's flock and is named in it (the running
    # server), nothing when nobody holds it: a dead server's lock is gone, whatever PID the file
    # still names, so a reused PID is never signalled
    [ -f "$1" ] || return 0
    if [ -n "$python" ]; then
        "$python" - "$1" <<'PY' 2>/dev/null || true
import sys

try:
    from sparkq_adapters.process import lock_holder  # also checks /proc/locks
except ImportError:
    import fcntl
    import os

    def lock_holder(path):
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            words = os.read(fd, 64).split()
            return int(words[0]) if len(words) == 1 and words[0].isdigit() else None
        finally:
            os.close(fd)
        return None

pid = lock_holder(sys.argv[1])
if pid is not None:
    print(pid)
PY
    elif command -v flock >/dev/null 2>&1 && ! flock -n -s "$1" true 2>/dev/null; then
        pid_in "$1"
    fi
}

pids=()
server_pid="$(lock_holder "$lock")"
if [ -n "$server_pid" ] && [ "$server_pid" != "$$" ]; then
    echo "Stopping the server, PID $server_pid ($lock)"
    kill -TERM "$server_pid" 2>/dev/null || true
    pids+=("$server_pid")
elif [ -f "$lock" ]; then
    echo "No process holds $lock (the server is not running); nothing to stop for it"
fi
# this database's watchers, each only while it holds the flock on its lockfile (as the server)
for lockfile in ${watcher_locks[@]+"${watcher_locks[@]}"}; do
    [ -f "$lockfile" ] || continue
    pid="$(lock_holder "$lockfile")"
    if [ -z "$pid" ] || [ "$pid" = "$$" ]; then
        echo "No process holds $lockfile (that watcher is not running); nothing to stop for it"
        continue
    fi
    echo "Stopping the watcher, PID $pid ($lockfile)"
    kill -TERM "$pid" 2>/dev/null || true
    pids+=("$pid")
done

still_holds() {
    # after a process exits its PID may be anyone's: SIGKILL only one that still holds its lock
    local file
    for file in "$lock" ${watcher_locks[@]+"${watcher_locks[@]}"}; do
        [ "$(lock_holder "$file")" = "$1" ] && return 0
    done
    return 1
}

if [ "${#pids[@]}" -gt 0 ]; then
    for _ in $(seq 50); do
        left=()
        for pid in "${pids[@]}"; do alive "$pid" && left+=("$pid"); done
        [ "${#left[@]}" -eq 0 ] && break
        sleep 0.1
    done
    for pid in "${pids[@]}"; do
        if alive "$pid" && still_holds "$pid"; then
            echo "PID $pid did not exit within 5 s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
fi

# -- delete -------------------------------------------------------------------------------------
removed=()
# the watchers' files are plain files and FIFOs; a folder with such a name is not SparkQ's
for path in "$db" "$db-wal" "$db-shm" "$db-journal" "$db-writer" "$lock" "$port_file" ${watcher_files[@]+"${watcher_files[@]}"}; do
    if [ -L "$path" ] || { [ -e "$path" ] && [ ! -d "$path" ]; }; then
        rm -f -- "$path"
        removed+=("$path")
    fi
done
if [ -d "$here/.venv" ]; then
    rm -rf -- "$here/.venv"
    removed+=("$here/.venv")
fi

if [ "${#removed[@]}" -gt 0 ]; then
    echo "Deleted:"
    printf '  %s\n' "${removed[@]}"
else
    echo "Nothing to delete."
fi
if [ "${#others[@]}" -gt 0 ]; then
    echo "Left alone in $tmp (another database's watchers): ${others[*]}"
fi
echo
echo "SparkQ is torn down. The folder $here can now be deleted."
