#!/usr/bin/env bash
# The hardening figures of issue 21 (BENCHMARKS.md, "Hardening"): each scenario against
# a fresh release gadka started with the flags it needs, every run kept as one JSON line
# in OUT/results.jsonl, then a summary (medians where there are several runs). Usage:
#   loadgen/scripts/hardening.sh [SCENARIO...]
# SCENARIO is one of slow-1024 slow-raised slow-raised-cap slow-per-ip signup-default
# signup-raised flood flood-send flood-open flood-typing (all of them by default).
# Build first:
#   cargo build --release -p gadka -p loadgen
# Environment: GADKA and LOAD (the binaries), RUNS (3; the slow scenarios run once,
# the sign-up bursts SIGNUP_RUNS times, 10, since a burst lasts about a second),
# CONNECTIONS (10000), SLOW_SECS (60), COUNT (1000), FLOOD_SECS (20), OUT (a directory
# to keep the JSON lines and the servers' logs in).
#
# "The file limit at 1,024" starts gadka under `prlimit --nofile=1024:1024`; "raised",
# under `prlimit --nofile=1024:HARD`, HARD being RAISED_HARD or else this shell's hard
# limit (raising a hard limit needs CAP_SYS_RESOURCE, which a container may not
# have): gadka raises its soft limit to the hard one at start and logs it, and the
# log line is printed. The slow connections and the registrations all come from
# 127.0.0.1, so their servers allow 100,000 connections per address (the default is
# 256; slow-per-ip keeps it); the bystanders connect from 127.0.0.2. The signup
# servers allow the bystander's repeated logins; the flood's allow the 203 sign-ups
# of its setup and keep every per-user allowance at its default.
set -euo pipefail
target="${CARGO_TARGET_DIR:-target}/release"
gadka="${GADKA:-$target/gadka}"
load="${LOAD:-$target/gadka-load}"
runs="${RUNS:-3}"
raised="1024:${RAISED_HARD:-$(ulimit -Hn)}"
port=18281
metrics=18291
work=$(mktemp -d)
out="${OUT:-$work/out}"
mkdir -p "$out"
pid=
stop() {
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        pid=
    fi
}
trap 'stop; rm -rf "$work"' EXIT

start() { # label nofile gadka-flags…
    local label=$1 nofile=$2
    shift 2
    rm -rf "$work/data"
    prlimit --nofile="$nofile" -- "$gadka" --data-dir "$work/data" --listen "127.0.0.1:$port" \
        --metrics-listen "127.0.0.1:$metrics" --log warn,gadka::serve=info "$@" \
        >"$out/$label.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do
        curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
        sleep 0.1
    done
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || { echo "gadka did not start" >&2; cat "$out/$label.log" >&2; exit 1; }
    grep -E 'open-file limit|connection cap' "$out/$label.log" | sed 's/\x1b\[[0-9;]*m//g' >&2 || true
}

# Runs gadka-load against the server started last and prints its report as one JSON
# line, with the label, the server's counters of refusals, its CPU seconds and its peak
# resident memory.
measure() { # label gadka-load-args…
    local label=$1
    shift
    local before; before=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    # The load generator shares the machine: its own CPU time is reported too.
    local TIMEFORMAT='%U %S'
    { time "$load" --json --url "http://127.0.0.1:$port" "$@" >"$work/report.json" 2>"$work/load.err"; } 2>"$work/time.txt" \
        || { cat "$work/load.err" >&2; exit 1; }
    cat "$work/load.err" >&2
    local after; after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    local hwm; hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
    curl -s "http://127.0.0.1:$metrics/metrics" | grep -E '^gadka_(connections_refused_total|password_jobs_refused_total)' >"$work/metrics.txt" || true
    python3 - "$label" "$work/report.json" "$work/metrics.txt" "$((after - before))" "$(getconf CLK_TCK)" "$hwm" "$work/time.txt" <<'PY' >>"$out/results.jsonl"
import json, sys
label, path, metrics, ticks, tck, hwm, times = sys.argv[1:]
r = json.load(open(path))
r["label"] = label
r["server_cpu_s"] = int(ticks) / int(tck)
r["client_cpu_s"] = round(sum(float(x) for x in open(times).read().split()), 2)
r["server_peak_rss_kib"] = int(hwm)
r["server_refusals"] = {line.split()[0]: float(line.split()[1]) for line in open(metrics) if line.strip()}
print(json.dumps(r))
PY
}

slow() { # label nofile extra-gadka-flags…
    local label=$1 nofile=$2
    shift 2
    start "$label" "$nofile" "$@"
    measure "$label" slow --connections "${CONNECTIONS:-10000}" --seconds "${SLOW_SECS:-60}" --byte-every-secs 3
    stop
}

signup() { # label extra-gadka-flags…
    local label=$1
    shift
    for _ in $(seq "${SIGNUP_RUNS:-10}"); do
        start "$label" "$raised" --max-connections-per-ip 100000 \
            --login-attempts-per-minute 1000000 --login-attempts-per-minute-per-ip 1000000 "$@"
        measure "$label" signup --count "${COUNT:-1000}"
        stop
    done
}

flood() { # label kinds
    for _ in $(seq "$runs"); do
        start "$1" "$raised" --registrations-per-hour-per-ip 1000000
        measure "$1" flood --seconds "${FLOOD_SECS:-20}" --strangers 200 --kinds "$2"
        stop
    done
}

scenarios=("$@")
[ ${#scenarios[@]} -eq 0 ] && scenarios=(slow-1024 slow-raised slow-raised-cap slow-per-ip signup-default signup-raised flood flood-send flood-open flood-typing)
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)" >&2
for s in "${scenarios[@]}"; do
    case $s in
        slow-1024) slow slow-1024 1024:1024 --max-connections-per-ip 100000 ;;
        slow-raised) slow slow-raised "$raised" --max-connections-per-ip 100000 ;;
        # The connection cap above the attack, so that newcomers find a place.
        slow-raised-cap) slow slow-raised-cap "$raised" --max-connections-per-ip 100000 --max-connections 15000 ;;
        # The default cap of 256 per address: what one address gets.
        slow-per-ip) slow slow-per-ip "$raised" ;;
        signup-default) signup signup-default ;;
        signup-raised) signup signup-raised --registrations-per-hour-per-ip 1000000 ;;
        flood) flood flood send,open,typing ;;
        flood-send | flood-open | flood-typing) flood "$s" "${s#flood-}" ;;
        *) echo "unknown scenario $s" >&2; exit 2 ;;
    esac
    echo "load average after $s: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
done

python3 - "$out/results.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
med = lambda xs: statistics.median(xs) if xs else float("nan")
ms = lambda us: f"{us / 1000:.1f}"
def lat(rs, get):
    s = [get(r) for r in rs]
    return f'p50 {ms(med([x["p50_us"] for x in s]))} / p99 {ms(med([x["p99_us"] for x in s]))} / max {ms(med([x["max_us"] for x in s]))} ms (n {int(med([x["count"] for x in s]))})'
def errors(rs, get):
    merged = {}
    for r in rs:
        for k, v in get(r)["errors"].items():
            merged.setdefault(k, []).append(v)
    return ", ".join(f"{k}: {sorted(v)}" for k, v in merged.items()) or "none"
for label in dict.fromkeys(r["label"] for r in rows):
    rs = [r for r in rows if r["label"] == label]
    print(f"\n{label} ({len(rs)} run{'s' if len(rs) > 1 else ''}, medians):")
    scenario = rs[0]["scenario"]
    if scenario == "slow":
        for r in rs:
            print(f'  attempts {r["attempts"]}, accepted {r["accepted"]}, 503 {r["refused_503"]}, closed {r["closed"]}, reset {r["reset"]}, '
                  f'late {r["closed_late"]}, open at end {r["open_at_end"]} (past timeout {r["open_at_end_past_timeout"]}), '
                  f'connect failed {r["connect_failed"]}, at most {r["open_max"]} open')
            print(f'  time to close {lat([r], lambda r: r["time_to_close"])}; to 503 {lat([r], lambda r: r["time_to_refusal"])}')
        print(f'  probe before: {lat(rs, lambda r: r["probe_before"]["latency"])}, errors {errors(rs, lambda r: r["probe_before"])}')
        print(f'  probe during: {lat(rs, lambda r: r["probe"]["latency"])}, errors {errors(rs, lambda r: r["probe"])}')
        print(f'  probe during, slowest [s into the run, ms]: {[r["probe"]["worst"] for r in rs]}')
        print(f'  new connection before: {lat(rs, lambda r: r["fresh_before"]["latency"])}, errors {errors(rs, lambda r: r["fresh_before"])}')
        print(f'  new connection during: {lat(rs, lambda r: r["fresh"]["latency"])}, errors {errors(rs, lambda r: r["fresh"])}')
    elif scenario == "signup":
        for r in rs:
            print(f'  registrations {r["registrations"]} in {r["registrations_elapsed_s"]:.2f} s')
        print(f'  login before: {lat(rs, lambda r: r["login_before"]["latency"])}, errors {errors(rs, lambda r: r["login_before"])}')
        print(f'  login during: {lat(rs, lambda r: r["login"]["latency"])}, errors {errors(rs, lambda r: r["login"])}')
        pooled = sorted(x for r in rs for x in r["login"].get("samples_us", []))
        if pooled:
            at = lambda q: pooled[min(len(pooled) - 1, int(q * len(pooled)))]
            print(f'  login during, pooled over the runs: p50 {ms(at(0.5))} / p99 {ms(at(0.99))} / max {ms(pooled[-1])} ms (n {len(pooled)}), '
                  f'over 200 ms: {sum(x > 200000 for x in pooled)}')
        print(f'  registrations answered in {med([r["registrations_elapsed_s"] for r in rs]):.2f} s; registration {lat(rs, lambda r: r["registration_latency"])}')
    elif scenario == "flood":
        for kind in ("sends", "opens", "typing"):
            k = [r[kind] for r in rs if r[kind]]
            if not k:
                continue
            print(f'  {kind}: sent {med([x["sent"] for x in k]):.0f}, taken {med([x["taken"] for x in k]):.0f}, '
                  f'refused {[x["refused"] for x in k]}, created {[x.get("created") for x in k]}, closed {[x["closed"] for x in k]}')
        print(f'  ping before: {lat(rs, lambda r: r["ping_before"]["latency"])}')
        print(f'  ping during: {lat(rs, lambda r: r["ping"]["latency"])}, slowest [s, ms]: {[r["ping"]["worst"] for r in rs]}, answered {[r["ping"]["answered"] for r in rs]} of {[r["ping"]["sent"] for r in rs]}')
    print(f'  server CPU {med([r["server_cpu_s"] for r in rs]):.1f} s, load generator CPU {med([r["client_cpu_s"] for r in rs]):.1f} s, server peak RSS {med([r["server_peak_rss_kib"] for r in rs]) / 1024:.0f} MiB, refusals {[r["server_refusals"] for r in rs]}')
PY
