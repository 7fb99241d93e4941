#!/usr/bin/env bash
# http.sh: the HTTP benchmark, muster's httpd against etcd's v3 JSON gateway on this machine in
# one run (bench/README.md). Starts a `muster agent -dev`, a durable one-server muster agent and
# a one-member etcd, drives each with wrk (PUT of k0..k999 and GET of k1, at 16 and 64
# connections), prints one table with the ratios muster/etcd, and removes what it started.
#
#   B=build bench/http.sh           (B: the build tree holding bin/ and libexec/)
#   ROUNDS=3 DURATION=5 CONNS="16 64" THREADS=2 KEYS=1000 RESULTS=file
#   SYSTEMS="dev server etcd"       (a subset runs only those; the others' cells stay "-")
#   KEEP=1                          (keeps the work dir: wrk outputs, agent and etcd logs)
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
WRK=${WRK:-$(command -v wrk || true)}
ETCD=${ETCD:-$(command -v etcd || true)}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
CONNS=${CONNS:-"16 64"}
THREADS=${THREADS:-2}
KEYS=${KEYS:-1000}
WAIT_S=${WAIT_S:-30}
# The systems to run, in the order of the table; "dev" and "server" are muster.
read -r -a SYSTEMS <<<"${SYSTEMS:-dev server etcd}"
for s in "${SYSTEMS[@]}"; do
	case $s in dev | server) WANT_MUSTER=1 ;; etcd) WANT_ETCD=1 ;; *)
		echo "bench: SYSTEMS: unknown system $s (dev, server, etcd)" >&2
		exit 2
		;;
	esac
done

missing=()
if [ -n "${WANT_MUSTER:-}" ]; then
	[ -x "$MUSTER" ] || missing+=("$MUSTER (make B=${B#"$ROOT"/} all)")
	for d in raftd gossipd healthd dnsd httpd musterd; do
		[ -x "$LIBEXEC/$d" ] || missing+=("$LIBEXEC/$d (make B=${B#"$ROOT"/} all)")
	done
fi
[ -n "$WRK" ] && [ -x "$WRK" ] || missing+=("wrk (Debian: apt-get install wrk)")
if [ -n "${WANT_ETCD:-}" ]; then
	[ -n "$ETCD" ] && [ -x "$ETCD" ] || missing+=("etcd (Debian: apt-get install etcd-server)")
fi
command -v curl >/dev/null || missing+=("curl (readiness and the prefill)")
command -v python3 >/dev/null || missing+=("python3 (picks free ports)")
if [ ${#missing[@]} -gt 0 ]; then
	echo "bench: missing, nothing was run:" >&2
	printf '  %s\n' "${missing[@]}" >&2
	exit 2
fi

T=$(mktemp -d /tmp/httpb.XXXXXX)
declare -A PID URL OK

cleanup() {
	local s
	for s in "${SYSTEMS[@]}"; do
		stop_pid "${PID[$s]:-}"
	done
	if [ -n "${KEEP:-}" ]; then
		echo "bench: kept $T" >&2
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Free loopback ports (bench/lib.sh): 4 per muster agent, 2 for etcd.
read -r -a PORTS < <(free_ports 10)

echo "# httpbench: $(date -u +%Y-%m-%dT%H:%MZ), muster $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo ' (+ uncommitted)'), $("$ETCD" --version 2>/dev/null | head -1), $("$WRK" -v 2>&1 | head -1 | cut -d' ' -f1-2)"
echo "# machine: $(nproc) cores, $(uname -r), /tmp on $(df -P /tmp | awk 'NR == 2 { print $1 }') ($(findmnt -no FSTYPE -T /tmp 2>/dev/null || echo '?'))"
echo "# wrk -t$THREADS -c{${CONNS// /,}} -d${DURATION}s --latency; rounds=$ROUNDS keys=$KEYS"

# --- muster: `-dev` (in memory, no fsync) and a durable bootstrapped server
# with its data in $T; neither joins the other.
start_agent() { # name first-port-index agent-args...
	local name=$1 i=$2
	shift 2
	[[ " ${SYSTEMS[*]} " == *" $name "* ]] || return 0
	mkdir -p "$T/$name"
	env -u NOTIFY_SOCKET MUSTER_RUN_DIR="$T/$name/r" MUSTER_LIBEXEC_DIR="$LIBEXEC" \
		"$MUSTER" agent "$@" -bind 127.0.0.1 -node "bench-$name" \
		-http-port "${PORTS[i]}" -dns-port "${PORTS[i + 1]}" -serf-lan-port "${PORTS[i + 2]}" \
		-serf-wan-port -1 -server-port "${PORTS[i + 3]}" >"$T/$name/agent.log" 2>&1 &
	PID[$name]=$!
	URL[$name]=http://127.0.0.1:${PORTS[i]}
}
start_agent dev 0 -dev
start_agent server 4 -server -bootstrap -data-dir "$T/server/data"

# --- etcd: one member, its data dir in $T (the same filesystem as the server's).
if [ -n "${WANT_ETCD:-}" ]; then
	"$ETCD" --name bench --data-dir "$T/etcd" --logger zap --log-level warn \
		--listen-client-urls "http://127.0.0.1:${PORTS[8]}" \
		--advertise-client-urls "http://127.0.0.1:${PORTS[8]}" \
		--listen-peer-urls "http://127.0.0.1:${PORTS[9]}" \
		--initial-advertise-peer-urls "http://127.0.0.1:${PORTS[9]}" \
		--initial-cluster "bench=http://127.0.0.1:${PORTS[9]}" >"$T/etcd.log" 2>&1 &
	PID[etcd]=$!
fi
URL[etcd]=http://127.0.0.1:${PORTS[8]}

# One write of k1, as each system's API takes it; true if it was acknowledged.
# LAST keeps what came back, for the messages.
LAST=
put_k1() { # system
	if [ "$1" = etcd ]; then
		# "azE=" is base64("k1"), "dg==" base64("v").
		req "$1" '"header"' -X POST -H 'Content-Type: application/json' \
			-d '{"key":"azE=","value":"dg=="}' "${URL[etcd]}/v3/kv/put"
	else
		req "$1" true -X PUT -d v "${URL[$1]}/v1/kv/k1"
	fi
}

# One read of k1, the request the GET cells repeat; true if it found the key
# (etcd answers a missing key with 200 and no "kvs", so this is checked once here).
get_k1() { # system
	if [ "$1" = etcd ]; then
		req "$1" '"kvs"' -X POST -H 'Content-Type: application/json' \
			-d '{"key":"azE="}' "${URL[etcd]}/v3/kv/range"
	else
		req "$1" '"Key":"k1"' "${URL[$1]}/v1/kv/k1"
	fi
}

req() { # system expected-substring curl-args...: one request, 200 and the substring
	local want=$2 out rc
	shift 2
	out=$(curl -s -m 5 -w ' (HTTP %{http_code}, %{time_total} s)' "$@")
	rc=$?
	LAST="${out:0:200} (curl exit $rc)"
	[ "$rc" -eq 0 ] && [[ $out == *' (HTTP 200, '* ]] && [[ $out == *"$want"* ]]
}

# Readiness: for muster, from the control socket (every daemon says "ready");
# then, for all three, a leader and a write path: k1 written until acknowledged.
wait_system() { # system
	local s=$1 i
	if [ "$s" != etcd ]; then
		if ! muster_ready "$MUSTER" "${PID[$s]}" "$T/$s/r/ctl.sock" "$WAIT_S"; then
			echo "bench: muster $s did not get ready; its log:" >&2
			tail -20 "$T/$s/agent.log" >&2
			return 1
		fi
	fi
	for i in $(seq $((WAIT_S * 10))); do
		put_k1 "$s" && return 0
		kill -0 "${PID[$s]}" 2>/dev/null || break
		sleep 0.1
	done
	echo "bench: $s does not acknowledge PUT k1 at ${URL[$s]}: its side is left empty." >&2
	echo "  last answer: $LAST; its log:" >&2
	if [ "$s" = etcd ]; then tail -20 "$T/etcd.log" >&2; else tail -20 "$T/$s/agent.log" >&2; fi
	return 1
}

# Every key k0..k$((KEYS - 1)) written once, over one kept-alive curl
# connection (a config file with one transfer per key): a warm-up, and every
# get hits. Succeeds when all KEYS writes answered 200.
prefill() { # system
	local s=$1 n
	python3 - "$s" "${URL[$s]}" "$KEYS" >"$T/prefill-$s.curl" <<'EOF'
import base64, sys
sys_, url, keys = sys.argv[1], sys.argv[2], int(sys.argv[3])
b64 = lambda s: base64.b64encode(s.encode()).decode()
for i in range(keys):
    if i:
        print("next")
    if sys_ == "etcd":
        print('url = "%s/v3/kv/put"' % url)
        print('header = "Content-Type: application/json"')
        print('data = "{\\"key\\":\\"%s\\",\\"value\\":\\"%s\\"}"' % (b64("k%d" % i), b64("value-%d" % i)))
    else:
        print('url = "%s/v1/kv/k%d"' % (url, i))
        print('request = "PUT"')
        print('data = "value-%d"' % i)
    print('write-out = "\\n%{http_code}\\n"')
EOF
	n=$(curl -s -K "$T/prefill-$s.curl" | grep -c '^200$')
	[ "$n" -eq "$KEYS" ] || {
		echo "bench: $s: the prefill got $n of $KEYS writes acknowledged" >&2
		return 1
	}
}

for s in "${SYSTEMS[@]}"; do
	OK[$s]=
	wait_system "$s" && prefill "$s" && OK[$s]=1
done
[ -n "${OK[*]}" ] || exit 1

# One wrk run; its output is kept and reduced to a key=value line:
# requests per second, p50/p99 from wrk's latency distribution (in µs), and
# errors = non-2xx answers + socket errors (a GET that misses is a 404 on
# muster, so it counts too). A run with no answer at all counts as one
# error, and its wrk output is shown.
run_one() { # system op conns round
	local s=$1 op=$2 c=$3 r=$4 script='' url=${URL[$1]} out line
	[ -n "${OK[$s]}" ] || return 0
	case $s/$op in
	etcd/put) script=bench/put-etcd-v3.lua ;;
	etcd/get) script=bench/get-etcd-v3.lua url=$url/v3/kv/range ;;
	*/put) script=bench/put-kv.lua ;;
	*/get) url=$url/v1/kv/k1 ;;
	esac
	out=$T/wrk-$s-$op-$c-$r.txt
	"$WRK" -t"$THREADS" -c"$c" -d"$DURATION"s --latency ${script:+-s "$script"} "$url" >"$out" 2>&1
	line=$(awk '
	function us(v,   n, u) {
		n = v + 0
		u = v
		sub(/^[0-9.]+/, "", u)
		if (u == "us") return n
		if (u == "ms") return n * 1000
		if (u == "s") return n * 1000000
		if (u == "m") return n * 60000000
		return -1
	}
	/^Requests\/sec:/ { rps = $2 }
	/^ +50% / { p50 = us($2) }
	/^ +99% / { p99 = us($2) }
	/ requests in / { n = $1 }
	/^ +Non-2xx or 3xx responses:/ { err += $NF }
	/^ +Socket errors:/ { gsub(/,/, ""); err += $4 + $6 + $8 + $10 }
	END {
		if (rps == "")
			exit 1
		if (n == 0)
			err++
		printf "rps=%.0f p50_us=%.0f p99_us=%.0f requests=%d errors=%d", rps, p50, p99, n, err
	}' "$out") || {
		echo "bench: $s $op c=$c round $r: no result from wrk:" >&2
		tail -5 "$out" >&2
		return 0
	}
	echo "round=$r target=$s op=$op conns=$c $line" | tee -a "$T/results" >&2
	[[ $line != *" errors=0" ]] && sed 's/^/  wrk: /' "$out" >&2
	return 0
}

for op in put get; do
	# The GET reads k1: written once more right before, on every system,
	# and read back once.
	if [ "$op" = get ]; then
		for s in "${SYSTEMS[@]}"; do
			[ -z "${OK[$s]}" ] || { put_k1 "$s" && get_k1 "$s"; } ||
				echo "bench: $s: PUT k1 then GET k1 before the gets failed: $LAST" >&2
		done
	fi
	for c in $CONNS; do
		for r in $(seq "$ROUNDS"); do
			# Rotate who goes first, so a drift in the machine's load does
			# not always land on the same system.
			for i in "${!SYSTEMS[@]}"; do
				run_one "${SYSTEMS[(r - 1 + i) % ${#SYSTEMS[@]}]}" "$op" "$c" "$r"
			done
		done
	done
done
touch "$T/results"
cp "$T/results" "${RESULTS:-/dev/null}" 2>/dev/null || true

# One table: per cell the round with the median req/s (its latencies come
# from that same round); ratios are muster/etcd, for -dev and for the server.
echo
awk -v conns="$CONNS" -v LEVEL=conns -v RATE=rps -f bench/median.awk -f /dev/stdin "$T/results" <<'AWK'
END {
	nc = split(conns, cs, " ")
	print "| op | conns | dev req/s | p50 µs | p99 µs | server req/s | p50 µs | p99 µs | etcd req/s | p50 µs | p99 µs | dev/etcd req/s | dev/etcd p99 | server/etcd req/s | server/etcd p99 |"
	print "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	split("put get", ops, " ")
	for (o = 1; o <= 2; o++)
		for (c = 1; c <= nc; c++) {
			d = median("dev" SUBSEP ops[o] SUBSEP cs[c])
			s = median("server" SUBSEP ops[o] SUBSEP cs[c])
			e = median("etcd" SUBSEP ops[o] SUBSEP cs[c])
			err = kv(d, "errors") + kv(s, "errors") + kv(e, "errors") > 0
			printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |%s\n",
			    ops[o], cs[c],
			    cell(d, "rps"), cell(d, "p50_us"), cell(d, "p99_us"),
			    cell(s, "rps"), cell(s, "p50_us"), cell(s, "p99_us"),
			    cell(e, "rps"), cell(e, "p50_us"), cell(e, "p99_us"),
			    ratio(kv(d, "rps"), kv(e, "rps")), ratio(kv(d, "p99_us"), kv(e, "p99_us")),
			    ratio(kv(s, "rps"), kv(e, "rps")), ratio(kv(s, "p99_us"), kv(e, "p99_us")),
			    err ? " errors" : ""
		}
}
AWK

if grep -q ' errors=[1-9]' "$T/results"; then
	echo
	echo "bench: some requests failed (the errors= fields above)" >&2
fi
for s in "${SYSTEMS[@]}"; do
	[ -n "${OK[$s]}" ] || exit 1
done
