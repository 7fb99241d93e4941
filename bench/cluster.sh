#!/usr/bin/env bash
# cluster.sh: the cluster benchmark, three durable muster servers against a three-member etcd
# on this machine in one run (bench/README.md, "Cluster: 3 servers against a 3-member etcd").
# KV PUT and GET with wrk against each side's leader and a follower, then leader failover
# after a SIGKILL of the leader, FAILOVERS times per side. Prints one table with the ratios
# muster/etcd, and removes what it started. The driver is bench/cluster.py.
#
#   B=build bench/cluster.sh        (B: the build tree holding bin/ and libexec/)
#   ROUNDS=3 DURATION=4 CONNS=64 THREADS=2   (wrk; the same on both sides)
#   FAILOVERS=10                    (SIGKILLs of the leader per side; 0 skips them)
#   CELLS=put-leader,put-follower,get-leader,get-follower,stale-follower
#   IPS=127.0.0.31,127.0.0.32,127.0.0.33   (the servers' addresses; Consul's default ports
#                                    8300-8302, 8500 and 8600 must be free on each)
#   RESULTS=file                    (the raw results as JSON)   KEEP=1 (keeps the work dir)
#
# It installs nothing: what is missing is named and the run stops.
set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
B=${B:-build}
case $B in /*) ;; *) B=$ROOT/$B ;; esac
MUSTER=$B/bin/muster
LIBEXEC=$B/libexec
PY=${PYTHON:-/usr/bin/python3}
WRK=${WRK:-$(command -v wrk || true)}
ETCD=${ETCD:-$(command -v etcd || true)}
PUT_KV=${PUT_KV:-$ROOT/../shared/acceptance/bench/put-kv.lua}

missing=()
[ -x "$MUSTER" ] || missing+=("$MUSTER (make B=${B#"$ROOT"/} all)")
for d in raftd gossipd healthd dnsd httpd musterd; do
	[ -x "$LIBEXEC/$d" ] || missing+=("$LIBEXEC/$d (make B=${B#"$ROOT"/} all)")
done
[ -n "$WRK" ] && [ -x "$WRK" ] || missing+=("wrk (Debian: apt-get install wrk)")
[ -n "$ETCD" ] && [ -x "$ETCD" ] || missing+=("etcd (Debian: apt-get install etcd-server)")
[ -r "$PUT_KV" ] || missing+=("$PUT_KV (the acceptance wrk script; PUT_KV= names another)")
[ -x "$PY" ] || missing+=("$PY (the driver, bench/cluster.py)")
if [ ${#missing[@]} -gt 0 ]; then
	echo "bench: missing, nothing was run:" >&2
	printf '  %s\n' "${missing[@]}" >&2
	exit 2
fi

T=$(mktemp -d /tmp/clb.XXXXXX)
DRIVER=

# Whatever the driver left running (it stops what it started; this is for a driver that was
# killed itself): every pid it recorded, if it still runs one of our programs.
cleanup() {
	local pid exe
	if [ -n "$DRIVER" ] && kill -0 "$DRIVER" 2>/dev/null; then
		kill -TERM "$DRIVER" 2>/dev/null
		wait "$DRIVER" 2>/dev/null
	fi
	if [ -r "$T/pids" ]; then
		while read -r pid; do
			exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || continue
			case $exe in "$LIBEXEC"/* | "$MUSTER" | "$(readlink -f "$ETCD")") kill -KILL "$pid" 2>/dev/null ;; esac
		done <"$T/pids"
	fi
	if [ -n "${KEEP:-}" ]; then
		echo "bench: kept $T" >&2
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "# clusterbench: $(date -u +%Y-%m-%dT%H:%MZ), muster $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo ' (+ uncommitted)'), $("$ETCD" --version 2>/dev/null | head -1), $("$WRK" -v 2>&1 | head -1 | cut -d' ' -f1-2)"
echo "# machine: $(nproc) cores, $(uname -r), /tmp on $(df -P /tmp | awk 'NR == 2 { print $1 }') ($(findmnt -no FSTYPE -T /tmp 2>/dev/null || echo '?'))"
"$PY" bench/cluster.py --work "$T" --muster "$MUSTER" --libexec "$LIBEXEC" --etcd "$ETCD" \
	--wrk "$WRK" --put-kv "$PUT_KV" --rounds "${ROUNDS:-3}" --duration "${DURATION:-4}" \
	--conns "${CONNS:-64}" --threads "${THREADS:-2}" --failovers "${FAILOVERS:-10}" \
	${CELLS:+--cells "$CELLS"} ${IPS:+--ips "$IPS"} ${RESULTS:+--results "$RESULTS"} &
DRIVER=$!
wait "$DRIVER"
rc=$?
DRIVER=
exit "$rc"
