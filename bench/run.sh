#!/usr/bin/env bash
# run.sh: the KV benchmark, muster and etcd side by side on this machine in one run
# (bench/README.md). Starts a durable one-server muster agent and a one-member etcd,
# both with their data under /tmp, runs put and get at 1, 16 and 64 requests in flight
# on each, prints one table with the ratio muster/etcd, and removes what it started.
#
#   B=build bench/run.sh            (B: the build tree holding bin/, libexec/, bench/)
#   ROUNDS=3 DURATION_MS=3000 KEYS=1000 VALUE_SIZE=128 CLIENTS="1 16 64" ETCD_API=grpc
#
# It installs nothing: what is missing is named and the run stops.
set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
. bench/lib.sh
B=${B:-build}
case $B in /*) ;; *) B=$ROOT/$B ;; esac
MUSTER=$B/bin/muster
LIBEXEC=$B/libexec
KVBENCH=${KVBENCH:-$B/bench/kvbench}
ETCD=${ETCD:-$(command -v etcd || true)}
ROUNDS=${ROUNDS:-3}
KEYS=${KEYS:-1000}
VALUE_SIZE=${VALUE_SIZE:-128}
DURATION_MS=${DURATION_MS:-3000}
CLIENTS=${CLIENTS:-"1 16 64"}
ETCD_API=${ETCD_API:-grpc}
AS=${AS:-httpd/kvbench}
WAIT_MS=${WAIT_MS:-30000}


missing=()
[ -x "$MUSTER" ] || missing+=("$MUSTER (make B=${B#"$ROOT"/} all)")
for d in raftd gossipd healthd dnsd httpd musterd; do
	[ -x "$LIBEXEC/$d" ] || missing+=("$LIBEXEC/$d (make B=${B#"$ROOT"/} all)")
done
[ -x "$KVBENCH" ] || missing+=("$KVBENCH (see bench/README.md for its build command)")
[ -n "$ETCD" ] && [ -x "$ETCD" ] || missing+=("etcd (Debian: apt-get install etcd-server)")
command -v python3 >/dev/null || missing+=("python3 (picks free ports)")
if [ ${#missing[@]} -gt 0 ]; then
	echo "bench: missing, nothing was run:" >&2
	printf '  %s\n' "${missing[@]}" >&2
	exit 2
fi

T=$(mktemp -d /tmp/kvb.XXXXXX)
AGENT_PID=
ETCD_PID=

cleanup() {
	stop_pid "$AGENT_PID"
	stop_pid "$ETCD_PID"
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Free loopback ports (bench/lib.sh).
read -r P_HTTP P_DNS P_SERF P_SERVER P_ETCD P_ETCD_PEER < <(free_ports 6)

echo "# kvbench: $(date -u +%Y-%m-%dT%H:%MZ), muster $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $("$ETCD" --version | head -1)"
echo "# machine: $(nproc) cores, $(uname -r), /tmp on $(df -P /tmp | awk 'NR == 2 { print $1 }') ($(findmnt -no FSTYPE -T /tmp 2>/dev/null || echo '?'))"
echo "# keys=$KEYS value_size=$VALUE_SIZE rounds=$ROUNDS duration_ms=$DURATION_MS etcd_api=$ETCD_API"

# --- muster: one durable server, bootstrapped, its data dir in $T.
mkdir -p "$T/m"
env -u NOTIFY_SOCKET MUSTER_RUN_DIR="$T/m/r" MUSTER_LIBEXEC_DIR="$LIBEXEC" \
	"$MUSTER" agent -server -bootstrap -data-dir "$T/m/data" -bind 127.0.0.1 -node bench \
	-http-port "$P_HTTP" -dns-port "$P_DNS" -serf-lan-port "$P_SERF" -serf-wan-port -1 \
	-server-port "$P_SERVER" >"$T/m/agent.log" 2>&1 &
AGENT_PID=$!

# --- etcd: one member, its data dir in $T (the same filesystem).
"$ETCD" --name bench --data-dir "$T/etcd" --logger zap --log-level warn \
	--listen-client-urls "http://127.0.0.1:$P_ETCD" \
	--advertise-client-urls "http://127.0.0.1:$P_ETCD" \
	--listen-peer-urls "http://127.0.0.1:$P_ETCD_PEER" \
	--initial-advertise-peer-urls "http://127.0.0.1:$P_ETCD_PEER" \
	--initial-cluster "bench=http://127.0.0.1:$P_ETCD_PEER" >"$T/etcd.log" 2>&1 &
ETCD_PID=$!
ETCD_URL=http://127.0.0.1:$P_ETCD

# Readiness from the control socket: every daemon says "ready".
ready=
muster_ready "$MUSTER" "$AGENT_PID" "$T/m/r/ctl.sock" 30 && ready=1
MUSTER_OK=
if [ -z "$ready" ]; then
	echo "bench: the muster agent did not get ready; its log:" >&2
	tail -20 "$T/m/agent.log" >&2
# A leader, and a write path: one KV_PUT retried until it is acknowledged.
elif "$KVBENCH" -run-dir "$T/m/r" -as "$AS" -op wait -timeout-ms "$WAIT_MS" -prefix kvbench/; then
	MUSTER_OK=1
else
	echo "bench: muster does not acknowledge writes: its side is left empty" >&2
fi
ETCD_OK=
if "$KVBENCH" -target etcd -etcd "$ETCD_URL" -op wait -timeout-ms "$WAIT_MS"; then
	ETCD_OK=1
else
	echo "bench: etcd does not acknowledge writes; its log:" >&2
	tail -20 "$T/etcd.log" >&2
fi
[ -n "$MUSTER_OK" ] || [ -n "$ETCD_OK" ] || exit 1

common=(-keys "$KEYS" -value-size "$VALUE_SIZE" -prefix kvbench/)
kvb() { # system kvbench-args...
	local sys=$1
	shift
	if [ "$sys" = muster ]; then
		"$KVBENCH" -target muster -run-dir "$T/m/r" -as "$AS" "${common[@]}" "$@"
	else
		"$KVBENCH" -target etcd -etcd "$ETCD_URL" -api "$ETCD_API" "${common[@]}" "$@"
	fi
}
enabled() { # system
	if [ "$1" = muster ]; then [ -n "$MUSTER_OK" ]; else [ -n "$ETCD_OK" ]; fi
}
# Runs last DURATION_MS each (bounded by a count too); the round and the
# level seed the key choice, the same for both systems.
run_one() { # system op clients round
	local out
	enabled "$1" || return 0
	out=$(kvb "$1" -op "$2" -clients "$3" -ops 10000000 -duration-ms "$DURATION_MS" \
		-seed "$4$3") || true
	[ -n "$out" ] && echo "round=$4 $out" | tee -a "$T/results" >&2
}

# Every key written once before anything is measured, so every get hits;
# this also warms both servers up.
for sys in muster etcd; do
	enabled "$sys" || continue
	kvb "$sys" -op put -clients 16 -ops "$KEYS" >/dev/null ||
		echo "bench: $sys: the prefill failed" >&2
done

for op in put get; do
	for c in $CLIENTS; do
		for r in $(seq "$ROUNDS"); do
			# Alternate who goes first, so a drift in the machine's load
			# does not always land on the same system.
			if [ $((r % 2)) -eq 1 ]; then
				run_one muster "$op" "$c" "$r"
				run_one etcd "$op" "$c" "$r"
			else
				run_one etcd "$op" "$c" "$r"
				run_one muster "$op" "$c" "$r"
			fi
		done
	done
done
touch "$T/results"
cp "$T/results" "${RESULTS:-/dev/null}" 2>/dev/null || true

# One table: per cell the round with the median ops/s (its latencies and fsync
# counts come from that same round); ratios are muster/etcd.
echo
awk -v clients="$CLIENTS" -v LEVEL=clients -v RATE=ops_per_s -f bench/median.awk -f /dev/stdin "$T/results" <<'AWK'
function fsw(l,   s) {
	s = cell(l, "syncs_per_write")
	return s == "n/a" ? "-" : s
}
END {
	nc = split(clients, cs, " ")
	print "| op | clients | muster ops/s | p50 µs | p99 µs | p99.9 µs | fsyncs/write | etcd ops/s | p50 µs | p99 µs | p99.9 µs | fsyncs/write | ops/s ratio | p50 ratio | p99 ratio |"
	print "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	split("put get", ops, " ")
	for (o = 1; o <= 2; o++)
		for (c = 1; c <= nc; c++) {
			m = median("muster" SUBSEP ops[o] SUBSEP cs[c])
			e = median("etcd" SUBSEP ops[o] SUBSEP cs[c])
			err = (m != "" && kv(m, "errors") + 0 > 0) || (e != "" && kv(e, "errors") + 0 > 0)
			printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |%s\n",
			    ops[o], cs[c],
			    cell(m, "ops_per_s"), cell(m, "p50_us"), cell(m, "p99_us"), cell(m, "p999_us"),
			    ops[o] == "put" ? fsw(m) : "-",
			    cell(e, "ops_per_s"), cell(e, "p50_us"), cell(e, "p99_us"), cell(e, "p999_us"),
			    ops[o] == "put" ? fsw(e) : "-",
			    ratio(kv(m, "ops_per_s"), kv(e, "ops_per_s")),
			    ratio(kv(m, "p50_us"), kv(e, "p50_us")),
			    ratio(kv(m, "p99_us"), kv(e, "p99_us")),
			    err ? " errors" : ""
		}
}
AWK

if grep -q ' errors=[1-9]' "$T/results"; then
	echo
	echo "bench: some requests failed (the errors= fields above; first error on stderr)" >&2
fi
[ -n "$MUSTER_OK" ] && [ -n "$ETCD_OK" ]
