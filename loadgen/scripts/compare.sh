#!/usr/bin/env bash
# Runs the figures of BENCHMARKS.md: every scenario 3 times against gadka (with
# `durability: full` and `normal`) and against the no-database relay, in one run,
# and prints the medians; then an edit's and a reaction's latency, alone and under
# load (gadka only; skipped with BEFORE=1 or CHANGES=0, for a gadka without them). Usage:
#   loadgen/scripts/compare.sh [GADKA_BIN] [RELAY_BIN] [LOAD_BIN]
# Build first: cargo build --release --workspace, and the relay with
#   cargo build --release --manifest-path ../shared/bench/relay/Cargo.toml --target-dir /tmp/relay-target
set -euo pipefail
target="${CARGO_TARGET_DIR:-target}/release"
gadka="${1:-$target/gadka}"
relay="${2:-/tmp/relay-target/release/relay}"
load="${3:-$target/gadka-load}"
runs="${RUNS:-3}"
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT

start_gadka() { # name port durability
    # A gadka from before the durability setting (always full) runs with BEFORE=1.
    local durability=(--durability "$3")
    [ "${BEFORE:-0}" = 1 ] && durability=()
    "$gadka" --data-dir "$work/$1" --listen "127.0.0.1:$2" --log warn --registrations-per-hour-per-ip 1000000 --sends-per-minute 1000000000 --conversations-per-hour 1000000000 "${durability[@]}" >"$work/$1.log" 2>&1 &
    pids+=($!)
    echo $! >"$work/$1.pid"
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$2/healthz" >/dev/null && return; sleep 0.1; done
    echo "gadka on $2 did not start" >&2; exit 1
}
start_gadka full 18181 full
servers=(relay:18183 full:18181)
if [ "${BEFORE:-0}" != 1 ]; then
    start_gadka normal 18182 normal
    servers+=(normal:18182)
fi
"$relay" --listen 127.0.0.1:18183 --ws-read-buffer 4096 >/dev/null 2>&1 &
pids+=($!)
echo $! >"$work/relay.pid"
sleep 0.5

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# The server's CPU for the set-up alone (registering users costs an argon2 hash
# each), measured with one message per sender, is taken off each run's CPU.
setup_ticks() { # port pairs pid
    local before; before=$(cpu_ticks "$3")
    "$load" --json --url "http://127.0.0.1:$1" send --pairs "$2" --messages 1 --window 1 >/dev/null
    echo $(($(cpu_ticks "$3") - before))
}

# scenario label, pairs, then gadka-load send arguments. The servers take turns run by
# run, so that the machine's slow spells fall on all of them alike.
scenario() {
    local label=$1 pairs=$2; shift 2
    local -A setup
    for target in "${servers[@]}"; do
        local name=${target%%:*} port=${target##*:}
        setup[$name]=$(setup_ticks "$port" "$pairs" "$(cat "$work/$name.pid")")
    done
    for run in $(seq "$runs"); do
        for target in "${servers[@]}"; do
            local name=${target%%:*} port=${target##*:}
            local pid; pid=$(cat "$work/$name.pid")
            local before; before=$(cpu_ticks "$pid")
            "$load" --json --url "http://127.0.0.1:$port" send --pairs "$pairs" "$@" >"$work/out.json"
            local after; after=$(cpu_ticks "$pid")
            python3 - "$label" "$name" "$run" "$before" "$((after - setup[$name]))" "$(getconf CLK_TCK)" "$work/out.json" <<'PY'
import json, sys
label, name, run, before, after, tck, path = sys.argv[1:]
r = json.load(open(path))
cpu_us = max(int(after) - int(before), 0) / int(tck) * 1e6
d = r["send_to_delivered"]
print(json.dumps({"scenario": label, "server": name, "run": int(run),
    "msgs_per_s": round(r["messages_per_s"]), "delivered": r["delivered"],
    "p50_us": d["p50_us"], "p99_us": d["p99_us"], "p999_us": d["p999_us"],
    "server_cpu_us_per_msg": round(cpu_us / max(r["delivered"], 1), 1)}))
PY
        done
    done
}

{
    scenario "16x16 closed" 16 --messages "${MESSAGES:-5000}" --window 16
    scenario "1x1 unloaded" 1 --messages 2000 --window 1
    scenario "open 10k/s" 16 --rate 10000 --duration 5
} | tee "$work/results.jsonl"

# An edit's and a reaction's latency (gadka with durability: full; the relay has
# neither): alone, then beside 16 pairs sending at 10,000 messages/s.
changes() { # label
    "$load" --json --url "http://127.0.0.1:18181" changes --count "${CHANGES:-300}" >"$work/changes.json"
    python3 - "$1" "$work/changes.json" <<'PY'
import json, sys
label, path = sys.argv[1:]
r = json.load(open(path))
print(json.dumps({"changes": label, **{k: {"p50_us": v["p50_us"], "p99_us": v["p99_us"]}
    for k, v in r.items() if isinstance(v, dict)}}))
PY
}
if [ "${BEFORE:-0}" != 1 ] && [ "${CHANGES:-300}" != 0 ]; then
    for run in $(seq "$runs"); do
        changes "alone"
        "$load" --json --url "http://127.0.0.1:18181" send --pairs 16 --rate 10000 --duration "${UNDER_SECS:-20}" >/dev/null &
        under=$!
        sleep 2
        changes "under 16x16 at 10k/s"
        wait "$under"
    done | tee "$work/changes.jsonl"
    python3 - "$work/changes.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("\nedits and reactions (gadka, full), medians of runs, µs:")
print(f'{"":24} {"edit answered":>15} {"edit delivered":>15} {"reaction answered":>18} {"reaction delivered":>19}')
for label in dict.fromkeys(r["changes"] for r in rows):
    rs = [r for r in rows if r["changes"] == label]
    cell = lambda k: "{:.0f} / {:.0f}".format(statistics.median(r[k]["p50_us"] for r in rs), statistics.median(r[k]["p99_us"] for r in rs))
    print(f'{label:24} {cell("edit_answered"):>15} {cell("edit_delivered"):>15} {cell("reaction_answered"):>18} {cell("reaction_delivered"):>19}')
print("(each cell: p50 / p99)")
PY
fi

python3 - "$work/results.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
keys = sorted({(r["scenario"], r["server"]) for r in rows}, key=lambda k: (k[0], k[1]))
print("\nmedians of runs:")
print(f'{"scenario":16} {"server":7} {"msgs/s":>9} {"p50 µs":>8} {"p99 µs":>8} {"p99.9 µs":>9} {"cpu µs/msg":>10}')
for s, n in keys:
    rs = [r for r in rows if r["scenario"] == s and r["server"] == n]
    m = lambda k: statistics.median(r[k] for r in rs)
    print(f'{s:16} {n:7} {m("msgs_per_s"):9.0f} {m("p50_us"):8.0f} {m("p99_us"):8.0f} {m("p999_us"):9.0f} {m("server_cpu_us_per_msg"):10.1f}')

# Each run's throughput over the relay's in the same round, then the median: steadier
# than a ratio of medians when the machine's speed drifts.
relay = {(r["scenario"], r["run"]): r["msgs_per_s"] for r in rows if r["server"] == "relay"}
print("\nthroughput over the relay's, run by run (median):")
for s, n in keys:
    if n == "relay" or not s.endswith("closed"):
        continue
    ratios = [r["msgs_per_s"] / relay[(s, r["run"])] for r in rows
              if r["scenario"] == s and r["server"] == n and relay.get((s, r["run"]))]
    if ratios:
        shown = ", ".join(f"{x:.2f}" for x in ratios)
        print(f'{s:16} {n:7} {statistics.median(ratios):.2f}x  ({shown})')
PY
