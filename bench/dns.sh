#!/usr/bin/env bash
# dns.sh: the DNS benchmark, muster's dnsd against NSD on this machine in one run
# (bench/README.md, "DNS: dnsd against NSD"). Starts a `muster agent -dev` whose catalog gets
# 10 nodes, a service `web` of 5 instances and a service `big` of 1,000, and an NSD serving
# the same answers from a static zone (bench/dnsbench.py writes both from one description). Then
# dnsperf, the two sides alternating, ROUNDS times per query set: QPS, p99, the server's CPU
# per answer. Prints one table with the ratios dnsd/nsd, and removes what it started.
#
#   B=build bench/dns.sh            (B: the build tree holding bin/ and libexec/)
#   ROUNDS=3 DURATION=3             (seconds per dnsperf run at full speed)
#   LAT_DURATION=2 LOAD=0.5         (the latency runs: seconds, and their fixed rate as a
#                                    share of the slower side's answers/s in round 1)
#   CLIENTS=4 OUTSTANDING=100       (dnsperf -c and -q: sockets, queries in flight)
#   SETS="mix mix-edns big big-edns big-tcp"   (see the README for what each is)
#   SERVER_CPU=1 CLIENT_CPU=0       (the servers and dnsperf are pinned apart; "" pins nothing)
#   BIG=1000 NODES=10 RESULTS=file KEEP=1 (keeps the work dir: dnsperf outputs, logs)
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
PY=${PYTHON:-/usr/bin/python3}
DNSPERF=${DNSPERF:-$(command -v dnsperf || true)}
NSD=${NSD:-$(command -v nsd || PATH=$PATH:/usr/sbin command -v nsd || true)}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-3}
LAT_DURATION=${LAT_DURATION:-2}
LOAD=${LOAD:-0.5}
CLIENTS=${CLIENTS:-4}
OUTSTANDING=${OUTSTANDING:-100}
SETS=${SETS:-"mix mix-edns big big-edns big-tcp"}
SERVER_CPU=${SERVER_CPU-1}
CLIENT_CPU=${CLIENT_CPU-0}
WAIT_S=${WAIT_S:-30}
export BIG=${BIG:-1000} NODES=${NODES:-10}

missing=()
[ -x "$MUSTER" ] || missing+=("$MUSTER (make B=${B#"$ROOT"/} all)")
for d in raftd gossipd healthd dnsd httpd musterd; do
	[ -x "$LIBEXEC/$d" ] || missing+=("$LIBEXEC/$d (make B=${B#"$ROOT"/} all)")
done
[ -n "$DNSPERF" ] && [ -x "$DNSPERF" ] || missing+=("dnsperf (Debian: apt-get install dnsperf)")
[ -n "$NSD" ] && [ -x "$NSD" ] || missing+=("nsd (Debian: apt-get install nsd)")
command -v dig >/dev/null || missing+=("dig (Debian: apt-get install bind9-dnsutils; NSD's readiness)")
command -v getconf >/dev/null || missing+=("getconf (libc-bin)")
[ -x "$PY" ] || missing+=("$PY")
"$PY" -c 'import dns.message, dns.zone' 2>/dev/null || missing+=("python3-dnspython ($PY)")
"$PY" -c 'import zmq, msgpack' 2>/dev/null || missing+=("python3-zmq, python3-msgpack ($PY: dnsd's STATS)")
if [ -n "$SERVER_CPU$CLIENT_CPU" ]; then
	command -v taskset >/dev/null || missing+=("taskset (util-linux), or SERVER_CPU= CLIENT_CPU=")
fi
for s in $SETS; do
	case $s in mix | mix-edns | mix-tcp | big | big-edns | big-tcp) ;; *) missing+=("SETS: unknown set $s") ;; esac
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "bench: missing, nothing was run:" >&2
	printf '  %s\n' "${missing[@]}" >&2
	exit 2
fi

T=$(mktemp -d /tmp/dnsb.XXXXXX)
AGENT_PID='' NSD_PID=''
cleanup() {
	stop_pid "$NSD_PID"
	stop_pid "$AGENT_PID"
	if [ -n "${KEEP:-}" ]; then
		echo "bench: kept $T" >&2
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pin() { # cpu command...: the command, on that CPU when one is given
	local c=$1
	shift
	if [ -n "$c" ]; then taskset -c "$c" "$@"; else "$@"; fi
}

# Free loopback ports (bench/lib.sh): 4 for the agent, 1 for NSD.
read -r P_HTTP P_DNS P_SERF P_SERVER P_NSD < <(free_ports 5)

echo "# dnsbench: $(date -u +%Y-%m-%dT%H:%MZ), muster $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo ' (+ uncommitted)'), $("$NSD" -v 2>&1 | head -1), dnsperf $("$DNSPERF" -h 2>&1 | awk '/^Version/ { print $2; exit }')"
echo "# machine: $(nproc) cores, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"
echo "# dnsperf -T1 -c$CLIENTS -q$OUTSTANDING, -l$DURATION at full speed, -l$LAT_DURATION -Q at ${LOAD}x the slower side; rounds=$ROUNDS; servers on CPU ${SERVER_CPU:-any}, dnsperf on CPU ${CLIENT_CPU:-any}; big=$BIG instances"

# --- muster: `-dev` (the catalog in memory: the DNS path is what is measured).
mkdir -p "$T/m" "$T/nsd"
env -u NOTIFY_SOCKET MUSTER_RUN_DIR="$T/m/r" MUSTER_LIBEXEC_DIR="$LIBEXEC" \
	"$MUSTER" agent -dev -bind 127.0.0.1 -node bench \
	-http-port "$P_HTTP" -dns-port "$P_DNS" -serf-lan-port "$P_SERF" \
	-serf-wan-port -1 -server-port "$P_SERVER" >"$T/m/agent.log" 2>&1 &
AGENT_PID=$!
if ! muster_ready "$MUSTER" "$AGENT_PID" "$T/m/r/ctl.sock" "$WAIT_S"; then
	echo "bench: the muster agent did not get ready; its log:" >&2
	tail -20 "$T/m/agent.log" >&2
	exit 1
fi
DNSD_PID=$("$MUSTER" ctl -socket "$T/m/r/ctl.sock" status | awk '$1 == "dnsd" { for (i = 2; i <= NF; i++) if ($i ~ /^pid=/) print substr($i, 5) }')
[ -n "$DNSD_PID" ] || {
	echo "bench: no pid for dnsd in muster ctl status" >&2
	exit 1
}
# Every thread of dnsd on the server CPU.
[ -z "$SERVER_CPU" ] || taskset -a -p -c "$SERVER_CPU" "$DNSD_PID" >/dev/null || exit 1
# The first write waits for the leader (-dev elects itself at once); then the catalog.
"$PY" bench/dnsbench.py register "http://127.0.0.1:$P_HTTP" || exit 1
"$PY" bench/dnsbench.py wait "$P_DNS" "$WAIT_S" || exit 1

# --- NSD: the same answers from a static zone, in the foreground, its files in $T/nsd.
NSD_PORT=$P_NSD "$PY" bench/dnsbench.py zone "$T/nsd" bench 127.0.0.1 || exit 1
"$PY" bench/dnsbench.py queries "$T" || exit 1
# Not through pin(): $! must be NSD itself (taskset execs it), so that stop_pid
# stops NSD (it stops its own children) and ticks() finds its server process.
if [ -n "$SERVER_CPU" ]; then
	taskset -c "$SERVER_CPU" "$NSD" -d -c "$T/nsd/nsd.conf" >"$T/nsd/stdout.log" 2>&1 &
else
	"$NSD" -d -c "$T/nsd/nsd.conf" >"$T/nsd/stdout.log" 2>&1 &
fi
NSD_PID=$!
for _ in $(seq $((WAIT_S * 10))); do
	kill -0 "$NSD_PID" 2>/dev/null || break
	dig +short +time=1 +tries=1 -p "$P_NSD" @127.0.0.1 consul. SOA 2>/dev/null | grep -q hostmaster && break
	sleep 0.1
done
if ! dig +short +time=1 +tries=1 -p "$P_NSD" @127.0.0.1 consul. SOA 2>/dev/null | grep -q hostmaster; then
	echo "bench: NSD does not answer SOA consul. on port $P_NSD; its log:" >&2
	tail -20 "$T/nsd/nsd.log" "$T/nsd/stdout.log" >&2
	exit 1
fi

# What each side returns (fails when a record is not the zone's).
echo
AGENT_NODE=bench "$PY" bench/dnsbench.py answers "$P_DNS" "$P_NSD" | tee "$T/answers.md" || exit 1

# CPU ticks (utime + stime) of a process and all its descendants: NSD's
# first process becomes xfrd, its child the main process, whose child serves.
ticks() { # pid
	local p t=0 f
	for p in $1 $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		if [ "$p" != "$1" ]; then
			t=$((t + $(ticks "$p")))
			continue
		fi
		f=$(cut -d')' -f2- /proc/"$p"/stat 2>/dev/null) || continue
		# fields after "comm)": state is 1, utime 12, stime 13
		t=$((t + $(echo "$f" | awk '{ print $12 + $13 }')))
	done
	echo "$t"
}
HZ=$(getconf CLK_TCK)

# One dnsperf run against one side, reduced to a key=value line in $T/results.
#   sat: as fast as the server answers (-q in flight): answered queries/s, lost,
#        the server's CPU share and its CPU µs per answer;
#   lat: at a fixed rate (-Q), the same for both sides, with -v (one line per
#        answer, which costs dnsperf a fifth of its speed, so not in sat):
#        p50, p99, p99.9 in µs from those lines.
run_one() { # mode side set round [rate]
	local mode=$1 side=$2 set=$3 r=$4 rate=${5:-} port pid file args=() out c0 c1 line p='' d
	case $side in muster) port=$P_DNS pid=$DNSD_PID ;; nsd) port=$P_NSD pid=$NSD_PID ;; esac
	case $set in
	mix) file=$T/mix.txt ;;
	mix-edns) file=$T/mix.txt args=(-e) ;;
	mix-tcp) file=$T/mix.txt args=(-m tcp) ;;
	big) file=$T/big.txt ;;
	big-edns) file=$T/big.txt args=(-e) ;;
	big-tcp) file=$T/big-a.txt args=(-m tcp) ;;
	esac
	if [ "$mode" = lat ]; then
		args+=(-v -Q "$rate")
		d=$LAT_DURATION
	else
		d=$DURATION
	fi
	out=$T/dnsperf-$mode-$side-$set-$r.txt
	c0=$(ticks "$pid")
	pin "$CLIENT_CPU" "$DNSPERF" -s 127.0.0.1 -p "$port" -d "$file" -T 1 -c "$CLIENTS" \
		-q "$OUTSTANDING" -l "$d" "${args[@]}" >"$out" 2>&1
	c1=$(ticks "$pid")
	if [ "$mode" = lat ]; then
		p=$("$PY" bench/dnsbench.py pct "$out") || {
			echo "bench: $side $set round $r: no answers; dnsperf said:" >&2
			grep -v '^>' "$out" | tail -20 >&2
			return 0
		}
		# Only dnsperf's summary stays: the per-answer lines are many MB.
		[ -n "${KEEP:-}" ] || sed -i '/^> /d' "$out"
	fi
	line=$(awk -v c="$((c1 - c0))" -v hz="$HZ" -v d="$d" '
	/Queries per second:/ { qps = $4 }
	/Queries lost:/ { lost = $3 }
	/Queries completed:/ { done = $3 }
	/Average packet size:/ { gsub(/,/, ""); resp = $NF }
	END {
		if (qps == "") exit 1
		cpu = c / hz
		printf "qps=%.0f lost=%d resp_bytes=%d cpu=%.2f cpu_us=%.1f", qps, lost, resp, cpu / d,
		    (done > 0 ? 1e6 * cpu / done : 0)
	}' "$out") || {
		echo "bench: $side $set round $r: no statistics from dnsperf:" >&2
		grep -v '^>' "$out" | tail -20 >&2
		return 0
	}
	echo "round=$r target=$side op=$mode:$set clients=$CLIENTS${rate:+ rate=$rate} $line${p:+ $p}" | tee -a "$T/results" >&2
}

qps_of() { # side set round: the sat run's answers/s, "" if it has none
	awk -v t="$1" -v o="sat:$2" -v r="$3" '$0 ~ " target=" t " op=" o " " && $1 == "round=" r {
		for (i = 1; i <= NF; i++) if ($i ~ /^qps=/) print substr($i, 5) }' "$T/results" 2>/dev/null
}

echo
S0=$("$PY" bench/dnsbench.py stats "$T/m/r")
n=0
for set in $SETS; do
	rate=
	for r in $(seq "$ROUNDS"); do
		# Alternate who goes first, so a drift in the machine's load does
		# not always land on the same side.
		if [ $(((n + r) % 2)) -eq 1 ]; then sides="muster nsd"; else sides="nsd muster"; fi
		for side in $sides; do
			run_one sat "$side" "$set" "$r"
		done
		# The fixed rate: LOAD of the slower side's answers/s in round 1.
		if [ -z "$rate" ]; then
			a=$(qps_of muster "$set" 1) b=$(qps_of nsd "$set" 1)
			[ -n "$a" ] && [ -n "$b" ] && rate=$(awk -v a="$a" -v b="$b" -v l="$LOAD" \
				'BEGIN { m = a < b ? a : b; printf "%d", m * l < 1 ? 1 : m * l }')
		fi
		if [ -n "$rate" ]; then
			for side in $sides; do
				run_one lat "$side" "$set" "$r" "$rate"
			done
		fi
	done
	n=$((n + 1))
done
S1=$("$PY" bench/dnsbench.py stats "$T/m/r")
echo "bench: dnsd cache before the runs: $S0" >&2
echo "bench: dnsd cache after the runs:  $S1" >&2
echo "bench: load average $(cut -d' ' -f1-3 /proc/loadavg) at the end" >&2
touch "$T/results"
cp "$T/results" "${RESULTS:-/dev/null}" 2>/dev/null || true

# One table: per query set the sat round with the median answers/s (its CPU
# comes from that same round) and the lat round with the median p99 (its
# p50 from that round); ratios are dnsd/nsd.
echo
awk -v sets="$SETS" -v LEVEL=clients -v lvl="$CLIENTS" -f bench/median.awk -f /dev/stdin "$T/results" <<'AWK'
END {
	ns = split(sets, ss, " ")
	print "| query set | dnsd q/s | nsd q/s | q/s dnsd/nsd | dnsd CPU | nsd CPU | dnsd CPU µs/q | nsd CPU µs/q | CPU/q dnsd/nsd | fixed rate q/s | dnsd p50 µs | dnsd p99 µs | nsd p50 µs | nsd p99 µs | p99 dnsd/nsd |"
	print "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	for (i = 1; i <= ns; i++) {
		RATE = "qps"
		m = median("muster" SUBSEP "sat:" ss[i] SUBSEP lvl)
		s = median("nsd" SUBSEP "sat:" ss[i] SUBSEP lvl)
		RATE = "p99_us"
		ml = median("muster" SUBSEP "lat:" ss[i] SUBSEP lvl)
		sl = median("nsd" SUBSEP "lat:" ss[i] SUBSEP lvl)
		lost = kv(m, "lost") + kv(s, "lost") + kv(ml, "lost") + kv(sl, "lost") > 0
		printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |%s\n", ss[i],
		    cell(m, "qps"), cell(s, "qps"), ratio(kv(m, "qps"), kv(s, "qps")),
		    cell(m, "cpu"), cell(s, "cpu"), cell(m, "cpu_us"), cell(s, "cpu_us"),
		    ratio(kv(m, "cpu_us"), kv(s, "cpu_us")), cell(ml, "rate"),
		    cell(ml, "p50_us"), cell(ml, "p99_us"), cell(sl, "p50_us"), cell(sl, "p99_us"),
		    ratio(kv(ml, "p99_us"), kv(sl, "p99_us")), lost ? " lost" : ""
	}
}
AWK
if grep -q ' lost=[1-9]' "$T/results"; then
	echo
	echo "bench: some queries went unanswered (the lost= fields above)" >&2
fi
