# median.awk: the median round of each benchmark cell, from the key=value
# lines bench/run.sh and bench/http.sh record (one line per run). The
# caller sets LEVEL (the key of the load level: clients, conns) and RATE
# (the key ranked: ops_per_s, rps) with -v, and adds its own END.

function kv(line, key,   i, n, f, a) {
	n = split(line, f, " ")
	for (i = 1; i <= n; i++) {
		split(f[i], a, "=")
		if (a[1] == key)
			return a[2]
	}
	return ""
}
{
	k = kv($0, "target") SUBSEP kv($0, "op") SUBSEP kv($0, LEVEL)
	cnt[k]++
	line[k, cnt[k]] = $0
}
# The line of the round with the median RATE ("" when the cell never ran):
# its latencies come from that same round.
function median(k,   i, j, n, t, idx) {
	n = cnt[k]
	if (n == 0)
		return ""
	for (i = 1; i <= n; i++)
		idx[i] = i
	for (i = 1; i <= n; i++)
		for (j = i + 1; j <= n; j++)
			if (kv(line[k, idx[j]], RATE) + 0 < kv(line[k, idx[i]], RATE) + 0) {
				t = idx[i]; idx[i] = idx[j]; idx[j] = t
			}
	return line[k, idx[int((n + 1) / 2)]]
}
function cell(l, key) {
	return l == "" ? "-" : kv(l, key)
}
function ratio(a, b) {
	return (a == "" || b == "" || b + 0 == 0) ? "-" : sprintf("%.2f", a / b)
}
