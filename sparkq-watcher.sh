#!/usr/bin/env bash
# sparkq-watcher.sh STREAM: the SparkQ watcher of one stream (SPEC §7) for shells and scripts
# that expect a file to run. It is `sparkq watch STREAM` (the same process takes its PID), so
# it has the same files, settings and rules:
#
#   <tmp>/sparkq-STREAM.lock       holds the watcher's PID; a second watcher is refused
#   <tmp>/sparkq-STREAM-pipe       the FIFO the worker `cat`s
#   <tmp>/sparkq-STREAM-done       the worker touches it when idle
#   <tmp>/sparkq-STREAM.database   the database these files serve; another project's stream
#                                  of the same name needs its own watcher.tmp_dir
#
# <tmp> and the poll intervals come from sparkq.yml (watcher.tmp_dir, idle_poll_seconds,
# busy_poll_seconds), found as for every sparkq command (--config, $SPARKQ_CONFIG,
# ./sparkq.yml). $SPARKQ_BIN names the sparkq command (default: sparkq on PATH). On start it
# prints the exact wait command for the stream's worker. Stops cleanly on SIGTERM / Ctrl-C.
# Installed with pip, without this file? Run `sparkq watch STREAM`: it is the same.
set -u

case "${1:-}" in
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    ""|-*) echo "Usage: sparkq-watcher.sh STREAM (try --help)" >&2; exit 2 ;;
esac
# these settings of earlier versions would be ignored silently: say where they went instead
for old in SPARKQ_WATCHER_TMP SPARKQ_IDLE_POLL SPARKQ_BUSY_POLL; do
    if [ -n "${!old:-}" ]; then
        echo "Error: $old is no longer read; set watcher.tmp_dir, watcher.idle_poll_seconds and" \
            "watcher.busy_poll_seconds in sparkq.yml (so sparkq stop and teardown.sh find the watcher)" >&2
        exit 2
    fi
done
exec "${SPARKQ_BIN:-sparkq}" watch "$@"
