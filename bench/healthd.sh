#!/usr/bin/env bash
# healthd.sh: the health-check benchmark (bench/README.md, "Health checks"): one `muster agent
# -dev` with 1,000 services of 1 TCP and 1 HTTP check each at a 1 s interval, registered through
# the HTTP API, the targets served by one small local process; healthd's CPU share and RSS over a
# window once every check passes. HashiCorp Consul is not packaged in Debian, so there is no
# peer in the run: the numbers are absolute (the README says what they compare with). The
# driver is bench/healthd.py.
#
#   B=build bench/healthd.sh        (B: the build tree holding bin/ and libexec/)
#   SERVICES=1000 INTERVAL=1s WARMUP=10 WINDOW=30
#   KINDS=tcp,http                  (or tcp, or http: one kind of check per service)
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
SERVICES=${SERVICES:-1000}
INTERVAL=${INTERVAL:-1s}
WARMUP=${WARMUP:-10}
WINDOW=${WINDOW:-30}
KINDS=${KINDS:-tcp,http}

missing=()
[ -x "$MUSTER" ] || missing+=("$MUSTER (make B=${B#"$ROOT"/} all)")
for d in raftd gossipd healthd dnsd httpd musterd; do
	[ -x "$LIBEXEC/$d" ] || missing+=("$LIBEXEC/$d (make B=${B#"$ROOT"/} all)")
done
[ -x "$PY" ] || missing+=("$PY")
if [ ${#missing[@]} -gt 0 ]; then
	echo "bench: missing, nothing was run:" >&2
	printf '  %s\n' "${missing[@]}" >&2
	exit 2
fi

echo "# healthdbench: $(date -u +%Y-%m-%dT%H:%MZ), muster $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo ' (+ uncommitted)')"
echo "# machine: $(nproc) cores, $(uname -r), $(free -g | awk '/^Mem:/ { print $2 }') GiB"
echo "# services=$SERVICES kinds=$KINDS interval=$INTERVAL warmup=${WARMUP}s window=${WINDOW}s"
exec "$PY" bench/healthd.py run --muster "$MUSTER" --libexec "$LIBEXEC" \
	--services "$SERVICES" --interval "$INTERVAL" --kinds "$KINDS" --warmup "$WARMUP" --window "$WINDOW" \
	${RESULTS:+--results "$RESULTS"} ${KEEP:+--keep}
