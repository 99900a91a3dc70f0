#!/usr/bin/env bash
# Issue 24's figures (BENCHMARKS.md, "Several nodes"): gadka as several nodes on one
# PostgreSQL with NATS between them, beside one node on PostgreSQL, one on SQLite and
# the no-database relay. Usage:
#   loadgen/scripts/cluster.sh [GADKA_BIN] [LOAD_BIN] [RELAY_BIN]
# Build first: cargo build --release -p gadka -p loadgen, and for the relay's column
#   cargo build --release --manifest-path ../shared/bench/relay/Cargo.toml --target-dir /tmp/relay-target
# Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust; PGHOST/PGPORT/PGUSER to
# change), nats-server (/usr/sbin/nats-server, Debian's nats-server package), psql,
# createdb and dropdb, python3 and curl. It makes a database of its own and drops it
# at the end, and starts its own nats-server on a free port.
#
# a. throughput: 16 pairs, closed loop, window 16, $MESSAGES messages per sender (as
#    compare.sh), and the CPU time per message of every gadka process of the setup
#    (utime + stime from /proc, less a set-up-only run's), of nats-server and of the
#    PostgreSQL backends serving the database;
# b. latency, open loop: 1 pair at 200 msgs/s for 10 s, 16 pairs at $OPEN_RATE msgs/s
#    for 5 s, send → sent and send → delivered;
# c. failover: two nodes under a light load, node A killed $KILLS times (gadka-load
#    failover), and every acknowledged message counted in the database.
# Each setup of a. and b. is started afresh for every run, and the setups take turns
# run by run, so the machine's slow spells fall on all of them alike; medians of
# $RUNS runs. Setups: sqlite (one node), pg (one node on PostgreSQL, no NATS),
# pg+nats (one node with NATS), 2 nodes (senders on A, recipients on B), 2 nodes,
# both (pairs A → B and B → A in turn), 3 nodes (senders on A, B, C in turn, each
# pair's recipient on the next node), relay.
# SECTIONS="a b" (or any of a, b, c) runs a subset; KEEP=1 keeps the logs' directory
# (it is kept anyway when the script fails); FAILOVER_JSON=FILE keeps c.'s report;
# CLIENTS and FAILOVER_RATE set c.'s load (4 clients on each node, 100 msgs/s).
# c. runs on the database a. and b. filled when they run first, and a reconnecting
# client's `hello` reads more of a larger database: run SECTIONS=c alone for c. on a
# fresh one, and PREFILL=N (messages, in one conversation of two users of their own,
# written by SQL before any node starts) for c. on a database of that size. A node with NATS takes 15 s to stop on SIGTERM (its writer waits for
# the chat), so each setup's end waits that long.
set -euo pipefail
target="${CARGO_TARGET_DIR:-target}/release"
gadka="${1:-$target/gadka}"
load="${2:-$target/gadka-load}"
relay="${3:-/tmp/relay-target/release/relay}"
runs="${RUNS:-3}"
messages="${MESSAGES:-5000}"
open_rate="${OPEN_RATE:-1000}"
kills="${KILLS:-20}"
sections="${SECTIONS:-a b c}"
nats_server="${NATS_SERVER:-/usr/sbin/nats-server}"
export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"
for bin in "$gadka" "$load" "$nats_server"; do
    [ -x "$bin" ] || { echo "$bin is missing: cargo build --release -p gadka -p loadgen (nats-server: apt-get install nats-server)" >&2; exit 1; }
done
have_relay=1
[ -x "$relay" ] || { echo "no relay at $relay: its column is left out" >&2; have_relay=0; }

work=$(mktemp -d /tmp/gadka-cluster.XXXXXX)
db="gadka_bench_$(date +%s)_$$"
db_url="postgres://$PGUSER@$PGHOST:$PGPORT/$db"
secret=$(head -c 32 /dev/urandom | base64)
echo "logs in $work, database $db" >&2
ok=0
cleanup() {
    for f in "$work"/*.pid; do
        [ -e "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null || true
    done
    sleep 0.3
    dropdb --if-exists "$db" 2>/dev/null || true
    if [ "$ok" = 1 ] && [ "${KEEP:-0}" != 1 ]; then rm -rf "$work"; else echo "logs kept in $work" >&2; fi
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
alive() { [ -e "/proc/$1" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }

nats_port=$(free_port)
"$nats_server" -a 127.0.0.1 -p "$nats_port" >"$work/nats.log" 2>&1 &
echo $! >"$work/nats.pid"
disown
createdb "$db"
GADKA_DATABASE_URL="$db_url" "$gadka" migrate >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log" >&2; exit 1; }
if [ "${PREFILL:-0}" -gt 0 ]; then
    psql -q -d "$db" -v ON_ERROR_STOP=1 <<SQL
INSERT INTO "user" (username, display_name, created_at) VALUES ('prefill-a', 'Prefill A', 0), ('prefill-b', 'Prefill B', 0);
INSERT INTO conversation (user_low, user_high, last_seq, created_at, last_activity_at)
    SELECT min(id), max(id), $PREFILL, 0, 0 FROM "user" WHERE username LIKE 'prefill-%';
INSERT INTO membership (conversation_id, user_id) SELECT c.id, u.id FROM conversation c, "user" u WHERE u.username LIKE 'prefill-%';
INSERT INTO message (conversation_id, seq, sender_id, body, created_at)
    SELECT c.id, s, CASE WHEN s % 2 = 0 THEN c.user_low ELSE c.user_high END, 'prefilled message ' || s, 0
    FROM conversation c, generate_series(1, $PREFILL) s;
ANALYZE;
SQL
    echo "prefilled $PREFILL messages" >&2
fi

# node.sh NAME PORT [gadka flags…]: starts a node in the background, writes NAME.pid and
# returns once /healthz answers; also the failover's restart command.
cat >"$work/node.sh" <<EOF
#!/usr/bin/env bash
set -euo pipefail
name=\$1 port=\$2; shift 2
"$gadka" --data-dir "$work/data-\$name" --listen "127.0.0.1:\$port" --log warn --metrics-listen off \\
    --registrations-per-hour-per-ip 1000000 --sends-per-minute 1000000000 --conversations-per-hour 1000000000 \\
    "\$@" >>"$work/\$name.log" 2>&1 </dev/null &
echo \$! >"$work/\$name.pid"
for _ in \$(seq 300); do curl -sf "http://127.0.0.1:\$port/healthz" >/dev/null && exit 0; sleep 0.05; done
echo "node \$name on \$port did not start" >&2
exit 1
EOF
chmod +x "$work/node.sh"
pg_flags=(--database-url "$db_url" --session-secret "$secret" --migrate-on-start false)
nats_flags=(--nats-url "nats://127.0.0.1:$nats_port")

started=()
start() { # name flags…
    local name=$1 port; shift
    port=$(free_port)
    "$work/node.sh" "$name" "$port" "$@"
    echo "$port" >"$work/$name.port"
    started+=("$name")
}
start_relay() {
    local port; port=$(free_port)
    "$relay" --listen "127.0.0.1:$port" --ws-read-buffer 4096 >"$work/relay.log" 2>&1 &
    echo $! >"$work/relay.pid"
    echo "$port" >"$work/relay.port"
    started+=(relay)
    for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && return; sleep 0.05; done
}
stop_all() {
    local name pid
    for name in "${started[@]}"; do
        pid=$(cat "$work/$name.pid")
        kill -TERM "$pid" 2>/dev/null || true
    done
    for name in "${started[@]}"; do
        pid=$(cat "$work/$name.pid")
        for _ in $(seq 200); do alive "$pid" || break; sleep 0.1; done
        alive "$pid" && kill -9 "$pid" 2>/dev/null
        rm -f "$work/$name.pid"
    done
    started=()
}
url() { echo "http://127.0.0.1:$(cat "$work/$1.port")"; }

# A setup: starts its nodes and sets `at` (gadka-load's --url), `ends` (send's node
# flags) and `procs` (the server processes).
setup() {
    ends=()
    case $1 in
    sqlite) start n1 --durability full ;;
    pg) start n1 "${pg_flags[@]}" ;;
    pg+nats) start n1 "${pg_flags[@]}" "${nats_flags[@]}" ;;
    "2 nodes")
        start n1 "${pg_flags[@]}" "${nats_flags[@]}"
        start n2 "${pg_flags[@]}" "${nats_flags[@]}"
        ends=(--recipient-url "$(url n2)") ;;
    "2 nodes, both")
        start n1 "${pg_flags[@]}" "${nats_flags[@]}"
        start n2 "${pg_flags[@]}" "${nats_flags[@]}"
        ends=(--sender-url "$(url n1),$(url n2)" --recipient-url "$(url n2),$(url n1)") ;;
    "3 nodes")
        start n1 "${pg_flags[@]}" "${nats_flags[@]}"
        start n2 "${pg_flags[@]}" "${nats_flags[@]}"
        start n3 "${pg_flags[@]}" "${nats_flags[@]}"
        ends=(--sender-url "$(url n1),$(url n2),$(url n3)" --recipient-url "$(url n2),$(url n3),$(url n1)") ;;
    relay) start_relay ;;
    esac
    at=$(url "${started[0]}")
    # A moment for the nodes to hear of each other.
    if [ ${#started[@]} -gt 1 ]; then sleep 1; fi
    procs=()
    local name
    for name in "${started[@]}"; do procs+=("$(cat "$work/$name.pid")"); done
}
send() { "$load" --json --url "$at" send "${ends[@]}" "$@"; }
ticks() { # pids…: their utime + stime, in clock ticks
    local files=() p
    for p in "$@"; do files+=("/proc/$p/stat"); done
    [ ${#files[@]} -gt 0 ] || { echo 0; return; }
    cat "${files[@]}" 2>/dev/null | awk '{s += $14 + $15} END {print s + 0}'
}
pg_ticks() { # the backends serving $db (and nothing else on this PostgreSQL)
    local pids
    mapfile -t pids < <(pgrep -u postgres -f "^postgres: .* $db " || true)
    ticks "${pids[@]}"
}
cpu() { echo "$(ticks "${procs[@]}") $(ticks "$(cat "$work/nats.pid")") $(pg_ticks)"; }

record() { # section setup run before after setup-ticks out.json
    python3 - "$@" "$(getconf CLK_TCK)" <<'PY'
import json, sys
section, setup, run, before, after, setup_cpu, path, tck = sys.argv[1:]
r = json.load(open(path))
out = {"section": section, "setup": setup, "run": int(run),
       "msgs_per_s": round(r["messages_per_s"]), "delivered": r["delivered"],
       "unexpected": r["unexpected_frames"],
       "sent_p50_us": r["send_to_sent"]["p50_us"], "sent_p99_us": r["send_to_sent"]["p99_us"],
       "p50_us": r["send_to_delivered"]["p50_us"], "p99_us": r["send_to_delivered"]["p99_us"],
       "p999_us": r["send_to_delivered"]["p999_us"]}
if before != "-":
    b, a, s = (list(map(int, x.split())) for x in (before, after, setup_cpu))
    per = lambda i: round(max(a[i] - b[i] - s[i], 0) / int(tck) * 1e6 / max(r["delivered"], 1), 1)
    out.update(gadka_cpu_us=per(0), nats_cpu_us=per(1), pg_cpu_us=per(2))
print(json.dumps(out))
PY
}
diff3() { python3 -c 'import sys; a, b = (list(map(int, x.split())) for x in sys.argv[1:]); print(*(y - x for x, y in zip(a, b)))' "$1" "$2"; }

setups=(sqlite pg pg+nats "2 nodes" "2 nodes, both" "3 nodes")
[ "$have_relay" = 1 ] && setups=(relay "${setups[@]}")
latency_setups=" relay sqlite pg pg+nats 2 nodes "
{
    echo "{\"date\": \"$(date -u '+%Y-%m-%d %H:%M UTC')\", \"loadavg\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"checkout\": \"$(git rev-parse --short HEAD 2>/dev/null || echo ?)\", \"gadka built\": \"$(date -u -r "$gadka" '+%Y-%m-%d %H:%M UTC')\", \"postgres\": \"$(psql -d "$db" -Atc "select current_setting('server_version') || ', fsync ' || current_setting('fsync') || ', synchronous_commit ' || current_setting('synchronous_commit')")\"}"
    if [[ " $sections " == *" a "* || " $sections " == *" b "* ]]; then
        for run in $(seq "$runs"); do
            for s in "${setups[@]}"; do
                setup "$s"
                if [[ " $sections " == *" a "* ]]; then
                    c0=$(cpu); send --pairs 16 --messages 1 --window 1 >/dev/null; c1=$(cpu)
                    base=$(diff3 "$c0" "$c1")
                    before=$(cpu)
                    send --pairs 16 --messages "$messages" --window 16 >"$work/out.json"
                    after=$(cpu)
                    record "16x16 closed" "$s" "$run" "$before" "$after" "$base" "$work/out.json"
                fi
                if [[ " $sections " == *" b "* && "$latency_setups" == *" $s "* ]]; then
                    send --pairs 1 --rate 200 --duration 10 >"$work/out.json"
                    record "1x1 open 200/s" "$s" "$run" - - - "$work/out.json"
                    send --pairs 16 --rate "$open_rate" --duration 5 >"$work/out.json"
                    record "16x16 open $open_rate/s" "$s" "$run" - - - "$work/out.json"
                fi
                stop_all
            done
        done | tee "$work/results.jsonl"
        python3 - "$work/results.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
m = lambda rs, k: statistics.median(r[k] for r in rs)
for section in dict.fromkeys(r["section"] for r in rows):
    print(f"\n{section}, medians of runs:")
    closed = "closed" in section
    head = f'{"setup":14} {"msgs/s":>8} {"sent p50/p99 µs":>16} {"deliv. p50/p99 µs":>18} {"p99.9":>7}'
    if closed:
        head += f' {"gadka µs/msg":>12} {"nats":>6} {"pg":>6}'
    print(head)
    for setup in dict.fromkeys(r["setup"] for r in rows if r["section"] == section):
        rs = [r for r in rows if r["section"] == section and r["setup"] == setup]
        line = (f'{setup:14} {m(rs, "msgs_per_s"):8.0f} {m(rs, "sent_p50_us"):7.0f}/{m(rs, "sent_p99_us"):<8.0f}'
                f' {m(rs, "p50_us"):8.0f}/{m(rs, "p99_us"):<9.0f} {m(rs, "p999_us"):7.0f}')
        if closed:
            line += f' {m(rs, "gadka_cpu_us"):12.1f} {m(rs, "nats_cpu_us"):6.1f} {m(rs, "pg_cpu_us"):6.1f}'
        print(line + f'   (msgs/s per run: {", ".join(str(r["msgs_per_s"]) for r in rs)})')
    if closed:
        one = [r for r in rows if r["section"] == section and r["setup"] == "pg"]
        for setup in ("pg+nats", "2 nodes", "2 nodes, both", "3 nodes"):
            rs = [r for r in rows if r["section"] == section and r["setup"] == setup]
            if one and rs:
                print(f'{setup}: gadka CPU per message over one node without NATS: '
                      f'{m(rs, "gadka_cpu_us") - m(one, "gadka_cpu_us"):+.1f} µs '
                      f'(with nats-server: {m(rs, "gadka_cpu_us") + m(rs, "nats_cpu_us") - m(one, "gadka_cpu_us"):+.1f} µs)')
PY
    fi

    if [[ " $sections " == *" c "* ]]; then
        start A "${pg_flags[@]}" "${nats_flags[@]}"
        start B "${pg_flags[@]}" "${nats_flags[@]}"
        sleep 1
        restart="$work/node.sh A $(cat "$work/A.port") ${pg_flags[*]} ${nats_flags[*]}"
        "$load" --json --url "$(url A)" failover --other-url "$(url B)" --pid-file "$work/A.pid" \
            --restart "$restart" --kills "$kills" --clients "${CLIENTS:-4}" --rate "${FAILOVER_RATE:-100}" \
            --acked-out "$work/acked.tsv" >"$work/failover.json"
        # The started list holds A and B; A's pid file holds its last incarnation.
        stop_all
        python3 - "$work/failover.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f'\nfailover, {r["kills"]} kills of node A, {r["clients_per_node"]} clients on each node, {r["rate"]:.0f} msgs/s:')
print(f'kill -9 → first sent through B: p50 {r["failover_ms"]["p50"]} ms, max {r["failover_ms"]["max"]} ms; {r["failed_rounds"]} rounds failed')
print(f'kill -9 → every client of A served by B: p50 {r["all_clients_ms"]["p50"]} ms, max {r["all_clients_ms"]["max"]} ms')
print("per kill, ms:", ", ".join(str(x) for x in r["failover_ms"]["values"]))
print(f'sent {r["sent"]}, acknowledged {r["acked"]}, sent again {r["resent"]}, acknowledged twice {r["duplicate_acks"]}, unacknowledged at the end {r["unacked_at_end"]}')
print("sockets ended on their own:", r["sockets_ended"], " errors:", r["errors"])
s = r["send_to_sent"]
print(f'send → sent over the whole run: p50 {s["p50_us"]} µs, p99 {s["p99_us"]} µs, max {s["max_us"]} µs')
PY
        psql -q -d "$db" -v ON_ERROR_STOP=1 -At -F ' ' >"$work/check.txt" <<SQL
CREATE TEMP TABLE acked (sender_id bigint, txn_id text);
\copy acked FROM '$work/acked.tsv'
SELECT 'acknowledged', count(*) FROM acked;
SELECT 'acknowledged, not in the database', count(*) FROM acked a
    WHERE NOT EXISTS (SELECT 1 FROM message m WHERE m.sender_id = a.sender_id AND m.txn_id = a.txn_id);
SELECT 'acknowledged, in the database more than once', count(*) FROM (
    SELECT m.sender_id, m.txn_id FROM message m JOIN acked a USING (sender_id, txn_id)
    GROUP BY 1, 2 HAVING count(*) > 1) d;
SELECT 'in the database, never acknowledged', count(*) FROM message m
    WHERE m.sender_id IN (SELECT DISTINCT sender_id FROM acked)
    AND NOT EXISTS (SELECT 1 FROM acked a WHERE a.sender_id = m.sender_id AND a.txn_id = m.txn_id);
SELECT 'their conversations with a gap or a repeat in seq', count(*) FROM (
    SELECT conversation_id FROM message
    WHERE conversation_id IN (SELECT DISTINCT conversation_id FROM message WHERE sender_id IN (SELECT sender_id FROM acked))
    GROUP BY 1 HAVING count(*) <> max(seq) - min(seq) + 1 OR count(DISTINCT seq) <> count(*)) g;
SQL
        echo "database check:"
        sed 's/ \([0-9]*\)$/: \1/' "$work/check.txt"
        if [ -n "${FAILOVER_JSON:-}" ]; then cp "$work/failover.json" "$FAILOVER_JSON"; fi
    fi
}
ok=1
