#!/usr/bin/env bash
# Attachments' figures (BENCHMARKS.md, "Attachments"): a file of MB megabytes uploaded
# RUNS times to a fresh release gadka, beside `dd` writing as many bytes to the same
# disk and syncing them (gadka acknowledges an upload only once it is synced), and the
# server's resident memory meanwhile. Build first:
#   cargo build --release -p gadka -p loadgen
# Environment: GADKA and LOAD (the binaries), MB (200), RUNS (3), DIR (where the data
# dir goes: a directory on the disk to measure; a temporary one by default).
set -euo pipefail
target="${CARGO_TARGET_DIR:-target}/release"
gadka="${GADKA:-$target/gadka}"
load="${LOAD:-$target/gadka-load}"
mb="${MB:-200}"
runs="${RUNS:-3}"
work=$(mktemp -d -p "${DIR:-${TMPDIR:-/tmp}}")
port=18381
pid=
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

"$gadka" --data-dir "$work/data" --listen "127.0.0.1:$port" --metrics-listen off --log warn \
    --max-upload-bytes $((mb * 1000000)) --storage-quota-bytes $((mb * 1000000 * (runs + 1))) &
pid=$!
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
    sleep 0.1
done

echo "== dd: $mb MB written to the same disk and synced, $runs times"
for _ in $(seq "$runs"); do
    dd if=/dev/zero of="$work/dd.bin" bs=1000000 count="$mb" conv=fdatasync 2>&1 |
        tail -n 1
    rm -f "$work/dd.bin"
done
echo "== gadka: POST /api/media of $mb MB, $runs times"
"$load" --url "http://127.0.0.1:$port" upload --megabytes "$mb" --runs "$runs" --pid "$pid"
