#!/usr/bin/env bash
# sparkq-watcher.sh STREAM: the SparkQ watcher of one stream (SPEC §7) for shells, without Python
# in the loop; `sparkq watch STREAM` does the same. It wakes the stream's idle worker through a FIFO.
#
#   <tmp>/sparkq-STREAM.lock   holds this watcher's PID; a second watcher is refused
#                              (a lockfile left by a dead process is replaced); removed on exit
#   <tmp>/sparkq-STREAM-pipe   the FIFO the worker `cat`s (created if missing; kept on exit)
#   <tmp>/sparkq-STREAM-done   the worker touches it when idle
#
# When the done-flag exists and `sparkq peek --stream STREAM` finds a task, the flag is removed
# and `wake` is written into the FIFO by a background writer, so the loop never blocks on a
# FIFO nobody reads yet. Settings (environment):
#
#   SPARKQ_WATCHER_TMP  the folder of those files (default /tmp; same as watcher.tmp_dir)
#   SPARKQ_IDLE_POLL    seconds between looks while the worker is idle (default 60)
#   SPARKQ_BUSY_POLL    seconds between looks while it is busy (default 120)
#   SPARKQ_BIN          the sparkq command (default: sparkq on PATH); SPARKQ_CONFIG as usual
#
# A worker that becomes idle is looked at within a second. Stops cleanly on SIGTERM / Ctrl-C.
set -u

case "${1:-}" in
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    ""|-*) echo "Usage: sparkq-watcher.sh STREAM (try --help)" >&2; exit 2 ;;
esac
stream="$1"
tmp="${SPARKQ_WATCHER_TMP:-/tmp}"
idle="${SPARKQ_IDLE_POLL:-60}"
busy="${SPARKQ_BUSY_POLL:-120}"
sparkq="${SPARKQ_BIN:-sparkq}"
for value in "$idle" "$busy"; do
    case "$value" in
        ''|*[!0-9]*|0) echo "Error: SPARKQ_IDLE_POLL and SPARKQ_BUSY_POLL must be whole seconds (1 or more)" >&2; exit 2 ;;
    esac
done
[ -d "$tmp" ] || { echo "Error: The watcher folder $tmp does not exist" >&2; exit 1; }

lock="$tmp/sparkq-$stream.lock"
pipe="$tmp/sparkq-$stream-pipe"
flag="$tmp/sparkq-$stream-done"

# the stream must exist and be active: peek says so (`Error: Stream ... not found`)
"$sparkq" peek --stream "$stream" >/dev/null || exit 1

alive() {
    kill -0 "$1" 2>/dev/null || return 1
    case "$(ps -o stat= -p "$1" 2>/dev/null || true)" in Z*) return 1 ;; esac
}

take_lock() {
    local holder
    for _ in 1 2 3; do
        if (set -o noclobber; printf '%s\n' "$$" > "$lock") 2>/dev/null; then
            return 0
        fi
        holder="$(head -n 1 "$lock" 2>/dev/null | tr -cd '0-9')"
        if [ -n "$holder" ] && alive "$holder"; then
            case "$(ps -o args= -p "$holder" 2>/dev/null || true)" in
                *sparkq*)
                    echo "Error: Watcher for stream $stream already running (PID $holder)" >&2
                    exit 1 ;;
            esac
        fi
        rm -f -- "$lock"  # left by a dead process (or a reused PID)
    done
    echo "Error: Could not take the lockfile $lock" >&2
    exit 1
}

writer=""
cleanup() {
    if [ -n "$writer" ]; then kill "$writer" 2>/dev/null || true; fi
    if [ "$(head -n 1 "$lock" 2>/dev/null)" = "$$" ]; then rm -f -- "$lock"; fi
}
take_lock
trap cleanup EXIT
trap 'exit 0' TERM INT

ensure_fifo() {
    if [ ! -p "$pipe" ]; then
        rm -f -- "$pipe"
        mkfifo -m 600 "$pipe"
    fi
}

wake() {
    # a writer still waiting for its reader will deliver this wake too
    if [ -n "$writer" ] && alive "$writer"; then return; fi
    (printf 'wake\n' > "$pipe") 2>/dev/null &
    writer=$!
}

ensure_fifo
echo "Watching stream $stream (PID $$): FIFO $pipe, done-flag $flag. Stop with Ctrl-C."
while :; do
    ensure_fifo
    if [ -f "$flag" ] && [ -n "$("$sparkq" peek --stream "$stream" 2>/dev/null)" ]; then
        rm -f -- "$flag"
        wake
    fi
    if [ -f "$flag" ]; then interval="$idle"; was_idle=1; else interval="$busy"; was_idle=0; fi
    # sleep in steps of a second: signals are handled at once, and a worker that turns idle
    # while it was busy is looked at without waiting for the busy interval
    for _ in $(seq "$interval"); do
        sleep 1 &
        wait $! || true
        if [ "$was_idle" = 0 ] && [ -f "$flag" ]; then break; fi
    done
done
