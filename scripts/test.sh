#!/usr/bin/env bash
# test.sh: runs every test of the build in $B (unit suites, fuzz corpus
# replays, the Raft simulator, integration tests) and prints one closing
# line "test: N passed, N failed". Run from the repository root by `make test`.
set -u
cd "$(dirname "$0")/.."
B=${B:-build}
SIM_SEEDS=${SIM_SEEDS:-2000}
passed=0
failed=0
failures=()

run() { # name, command...
	local name=$1
	shift
	echo "== $name"
	if "$@"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		failures+=("$name")
	fi
}

# Check suites: one binary per module, each prints its own summary.
for t in "$B"/tests/test_*; do
	[ -x "$t" ] || continue
	run "unit $(basename "$t")" "$t"
done

# Every fuzz target's corpus, replayed as an ordinary test.
for r in "$B"/fuzz/replay_*; do
	[ -x "$r" ] || continue
	name=${r##*/replay_}
	run "fuzz corpus $name" "$r" "tests/fuzz/corpus/$name"
done

if [ -x "$B/tests/raft_sim" ]; then
	run "raft sim ($SIM_SEEDS seeds)" "$B/tests/raft_sim" --seeds "$SIM_SEEDS"
fi

# Integration: real agents on loopback, driven by real clients.
if [ -d tests/integration ] && ls tests/integration/test_*.py >/dev/null 2>&1; then
	run "integration" env MUSTER_BUILD="$PWD/$B" /usr/bin/python3 -m pytest -q \
		-p no:cacheprovider tests/integration
fi

echo
if [ ${#failures[@]} -gt 0 ]; then
	printf 'failed: %s\n' "${failures[@]}"
fi
echo "test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
