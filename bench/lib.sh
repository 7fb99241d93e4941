# shellcheck shell=bash
# lib.sh: what bench/run.sh and bench/http.sh share; sourced, not run.

stop_pid() { # pid: TERM, up to 15 s, then KILL
	local pid=$1
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 150); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# n free loopback ports on one line, all bound at once so none is handed
# out twice, then released (a small race, fine here).
free_ports() { # n
	python3 -c '
import socket, sys
ss = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))' "$1"
}

# Readiness from a muster agent's control socket: 0 once its five daemons
# say "ready", 1 when the agent died or seconds passed.
muster_ready() { # muster-binary pid ctl-socket seconds
	local muster=$1 pid=$2 sock=$3 st n
	for _ in $(seq $(($4 * 10))); do
		kill -0 "$pid" 2>/dev/null || return 1
		st=$("$muster" ctl -socket "$sock" status 2>/dev/null) || st=
		n=$(printf '%s\n' "$st" | grep -cE '^(raftd|gossipd|healthd|dnsd|httpd) state=ready')
		[ "$n" -eq 5 ] && return 0
		sleep 0.1
	done
	return 1
}
