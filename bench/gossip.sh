#!/usr/bin/env bash
# gossip.sh: the gossip benchmark, muster's gossipd against HashiCorp serf on this machine in
# one run (bench/README.md). For N = 10, 30 and 60 members on loopback, each system in turn
# (N `muster agent`s in client mode, then N `serf agent`s, the order alternating with N), with
# the same memberlist timings: join convergence time, failure detection time after a SIGKILL,
# bytes/s, packets/s and CPU per node. Prints one table with the ratios gossipd/serf, and
# removes what it started. The driver is bench/gossip.py.
#
#   B=build bench/gossip.sh         (B: the build tree holding bin/ and libexec/)
#   SIZES=10,30,60 SYSTEMS=muster,serf PROFILE=lan|local
#   WINDOW=seconds                  (the traffic window; default memberlist's push/pull
#                                    interval for that N and profile)
#   WARMUP=seconds                  (from convergence to the window; default the same)
#   RESULTS=file                    (the raw results as JSON)   KEEP=1 (keeps the work dirs)
#
# Counting bytes needs root (an AF_PACKET socket on lo). It installs nothing: what is
# missing is named and the run stops.
set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
B=${B:-build}
case $B in /*) ;; *) B=$ROOT/$B ;; esac
MUSTER=$B/bin/muster
LIBEXEC=$B/libexec
PY=${PYTHON:-/usr/bin/python3}
SERF=${SERF:-$(command -v serf || true)}
SIZES=${SIZES:-10,30,60}
SYSTEMS=${SYSTEMS:-muster,serf}
PROFILE=${PROFILE:-lan}

missing=()
if [[ ,$SYSTEMS, == *,muster,* ]]; then
	[ -x "$MUSTER" ] || missing+=("$MUSTER (make B=${B#"$ROOT"/} all)")
	for d in raftd gossipd healthd dnsd httpd musterd; do
		[ -x "$LIBEXEC/$d" ] || missing+=("$LIBEXEC/$d (make B=${B#"$ROOT"/} all)")
	done
fi
if [[ ,$SYSTEMS, == *,serf,* ]]; then
	[ -n "$SERF" ] && [ -x "$SERF" ] || missing+=("serf (Debian: apt-get install serf)")
fi
"$PY" -c 'import msgpack' 2>/dev/null || missing+=("python3-msgpack ($PY)")
[ "$(id -u)" = 0 ] || missing+=("root (bytes are counted on an AF_PACKET socket on lo)")
if [ ${#missing[@]} -gt 0 ]; then
	echo "bench: missing, nothing was run:" >&2
	printf '  %s\n' "${missing[@]}" >&2
	exit 2
fi

echo "# gossipbench: $(date -u +%Y-%m-%dT%H:%MZ), muster $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo ' (+ uncommitted)'), serf $("$SERF" version 2>/dev/null | head -1 | cut -d' ' -f2) (Debian $(dpkg-query -W -f='${Version}' serf 2>/dev/null || echo '?'))"
echo "# machine: $(nproc) cores, $(uname -r), $(free -g | awk '/^Mem:/ { print $2 }') GiB"
echo "# sizes=$SIZES systems=$SYSTEMS profile=$PROFILE window=${WINDOW:-push/pull interval} warmup=${WARMUP:-push/pull interval}"
exec "$PY" bench/gossip.py run --muster "$MUSTER" --libexec "$LIBEXEC" --serf "$SERF" \
	--sizes "$SIZES" --systems "$SYSTEMS" --profile "$PROFILE" \
	${WINDOW:+--window "$WINDOW"} ${WARMUP:+--warmup "$WARMUP"} ${RESULTS:+--results "$RESULTS"} ${KEEP:+--keep}
