/* test_sched.c: healthd's check scheduler (stagger, period, jitter, skip-while-running, due order,
 * limits) and Consul's StatusHandler thresholds; seeded runs print their seed (SCHED_SEED=n
 * replays one). */
#include "daemons/healthd/sched.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"

static uint64_t test_seed(int i)
{
	const char *env = getenv("SCHED_SEED");

	return env ? strtoull(env, NULL, 0) : ((uint64_t)time(NULL) << 8) ^ (uint64_t)i;
}

static const char *id_of(char *buf, size_t n, unsigned i)
{
	snprintf(buf, n, "service:web-%u", i);
	return buf;
}

/* ---- first run: a stagger in [0, min(1 s, interval)) ---- */

START_TEST(test_stagger_bounds)
{
	uint64_t seed = test_seed(_i);
	static const uint64_t ivals[] = {1, 2, 10, 500, 999, 1000, 1001, 10000, 3600000};

	for (size_t k = 0; k < sizeof(ivals) / sizeof(ivals[0]); k++) {
		struct sched *s = sched_new(seed + k);
		uint64_t span = ivals[k] < 1000 ? ivals[k] : 1000, lo = UINT64_MAX, hi = 0, sum = 0;
		const uint64_t now = 123456, n = 2000;
		ck_assert_ptr_nonnull(s);
		/* Each check alone, so the deadline is its own first due time. */
		for (unsigned i = 0; i < n; i++) {
			char id[32];
			sched_add(s, id_of(id, sizeof(id), i), ivals[k], now);
			uint64_t d = sched_next_deadline(s);
			sched_remove(s, id);
			if (d < now || d >= now + span)
				ck_abort_msg("seed %" PRIu64 ": interval %" PRIu64 ": first run at +%" PRIu64
				             ", outside [0, %" PRIu64 ")",
				             seed, ivals[k], d - now, span);
			lo = d - now < lo ? d - now : lo;
			hi = d - now > hi ? d - now : hi;
			sum += d - now;
		}
		/* Spread over the span, not bunched (2000 uniform draws). */
		if (span >= 500) {
			ck_assert_msg(lo < span / 20 && hi > span - span / 20,
			              "seed %" PRIu64 ": interval %" PRIu64 ": stagger in [%" PRIu64
			              ", %" PRIu64 "]",
			              seed, ivals[k], lo, hi);
			uint64_t mean = sum / n;
			ck_assert_msg(mean > span * 2 / 5 && mean < span * 3 / 5,
			              "seed %" PRIu64 ": mean stagger %" PRIu64 " of %" PRIu64, seed, mean,
			              span);
		}
		ck_assert_uint_eq(sched_count(s), 0);
		sched_free(s);
	}
}
END_TEST

/* ---- later runs: every interval ± 5 % (at most ± 5 s), mean period the interval ---- */

START_TEST(test_period_jitter)
{
	uint64_t seed = test_seed(_i);
	static const uint64_t ivals[] = {1000, 10000, 30000, 600000};

	for (size_t k = 0; k < sizeof(ivals) / sizeof(ivals[0]); k++) {
		uint64_t ival = ivals[k], j = ival / 20 > 5000 ? 5000 : ival / 20;
		struct sched *s = sched_new(seed + k);
		const char *ids[4];
		uint64_t now = 1000, prev = 0, sum = 0, lo = UINT64_MAX, hi = 0;
		const int runs = 5000;

		sched_add(s, "c", ival, now);
		for (int r = 0; r <= runs; r++) {
			uint64_t d = sched_next_deadline(s);
			ck_assert_uint_ge(d, now);
			/* Nothing before the deadline. */
			ck_assert_uint_eq(sched_due(s, d - 1, ids, 4), 0);
			now = d;
			ck_assert_uint_eq(sched_due(s, now, ids, 4), 1);
			ck_assert_str_eq(ids[0], "c");
			if (r > 0) {
				uint64_t gap = now - prev;
				if (gap < ival - j || gap > ival + j)
					ck_abort_msg("seed %" PRIu64 ": interval %" PRIu64 ": run %d after %" PRIu64
					             " ms",
					             seed, ival, r, gap);
				sum += gap;
				lo = gap < lo ? gap : lo;
				hi = gap > hi ? gap : hi;
			}
			prev = now;
		}
		/* Mean period within 0.5 % of the interval (5000 draws of ±5 %: sd ~0.04 %). */
		uint64_t mean = sum / (uint64_t)runs;
		ck_assert_msg(mean + ival / 200 >= ival && mean <= ival + ival / 200,
		              "seed %" PRIu64 ": interval %" PRIu64 ": mean period %" PRIu64, seed, ival,
		              mean);
		/* The jitter is there and uses its range. */
		ck_assert_msg(lo < ival - j / 2 && hi > ival + j / 2,
		              "seed %" PRIu64 ": interval %" PRIu64 ": periods in [%" PRIu64 ", %" PRIu64
		              "]",
		              seed, ival, lo, hi);
		sched_free(s);
	}
}
END_TEST

/* A late loop: the next run counts from when it was handed out, not from the missed due time. */
START_TEST(test_late_turn)
{
	struct sched *s = sched_new(7);
	const char *ids[2];

	sched_add(s, "c", 10000, 0);
	ck_assert_uint_eq(sched_due(s, 50000, ids, 2), 1);
	uint64_t d = sched_next_deadline(s);
	ck_assert_uint_ge(d, 50000 + 9500);
	ck_assert_uint_le(d, 50000 + 10500);
	/* No burst of catch-up runs. */
	ck_assert_uint_eq(sched_due(s, 50001, ids, 2), 0);
	sched_free(s);
}
END_TEST

START_TEST(test_same_seed_same_schedule)
{
	struct sched *a = sched_new(42), *b = sched_new(42), *c = sched_new(43);
	char id[32];
	bool differ = false;

	for (unsigned i = 0; i < 100; i++) {
		sched_add(a, id_of(id, sizeof(id), i), 5000, 0);
		sched_add(b, id, 5000, 0);
		sched_add(c, id, 5000, 0);
	}
	for (int r = 0; r < 200; r++) {
		const char *ia[8], *ib[8], *ic[8];
		uint64_t da = sched_next_deadline(a), dc = sched_next_deadline(c);
		ck_assert_uint_eq(da, sched_next_deadline(b));
		size_t na = sched_due(a, da, ia, 8), nb = sched_due(b, da, ib, 8);
		ck_assert_uint_eq(na, nb);
		for (size_t i = 0; i < na; i++)
			ck_assert_str_eq(ia[i], ib[i]);
		differ |= da != dc;
		sched_due(c, dc, ic, 8);
	}
	ck_assert_msg(differ, "another seed gave the same schedule");
	sched_free(a);
	sched_free(b);
	sched_free(c);
}
END_TEST

/* ---- removal and replacement ---- */

START_TEST(test_remove)
{
	struct sched *s = sched_new(1);
	const char *ids[8];

	sched_add(s, "a", 1000, 0);
	sched_add(s, "b", 1000, 0);
	sched_add(s, "c", 1000, 0);
	ck_assert_uint_eq(sched_count(s), 3);
	sched_remove(s, "b");
	sched_remove(s, "nope"); /* unknown: no-op */
	ck_assert_uint_eq(sched_count(s), 2);
	ck_assert(!sched_has(s, "b"));
	ck_assert(sched_has(s, "a"));
	size_t n = sched_due(s, 1000, ids, 8);
	ck_assert_uint_eq(n, 2);
	for (size_t i = 0; i < n; i++)
		ck_assert_str_ne(ids[i], "b");
	sched_remove(s, "a");
	sched_remove(s, "c");
	ck_assert_uint_eq(sched_count(s), 0);
	ck_assert_uint_eq(sched_next_deadline(s), UINT64_MAX);
	ck_assert_uint_eq(sched_due(s, UINT64_MAX - 1, ids, 8), 0);
	/* Removed while "running": gone for good; re-added, it starts clean. */
	sched_add(s, "a", 1000, 0);
	sched_running(s, "a", true);
	sched_remove(s, "a");
	sched_running(s, "a", false); /* unknown: no-op */
	sched_add(s, "a", 1000, 5000);
	ck_assert_uint_eq(sched_due(s, 6000, ids, 8), 1);
	sched_free(s);
	sched_free(NULL);
}
END_TEST

START_TEST(test_replace)
{
	struct sched *s = sched_new(3);
	const char *ids[8];

	sched_add(s, "a", 3600000, 0);
	sched_add(s, "b", 3600000, 0);
	ck_assert_uint_eq(sched_due(s, 1000, ids, 8), 2); /* both ran; next in an hour */
	ck_assert_uint_gt(sched_next_deadline(s), 3000000);
	/* Replaced with a short interval: restaggered from the replacement's now. */
	sched_add(s, "a", 200, 5000);
	ck_assert_uint_eq(sched_count(s), 2);
	uint64_t d = sched_next_deadline(s);
	ck_assert_uint_ge(d, 5000);
	ck_assert_uint_lt(d, 5200);
	ck_assert_uint_eq(sched_due(s, d, ids, 8), 1);
	ck_assert_str_eq(ids[0], "a");
	/* Its next run is one short interval on, not an hour. */
	ck_assert_uint_le(sched_next_deadline(s), 5200 + 210);
	sched_free(s);
}
END_TEST

/* ---- skip while running ---- */

START_TEST(test_skip_while_running)
{
	struct sched *s = sched_new(9);
	const char *ids[4];

	sched_add(s, "a", 1000, 0);
	sched_add(s, "b", 1000, 0);
	ck_assert_uint_eq(sched_due(s, 1000, ids, 4), 2);
	sched_running(s, "a", true);
	sched_running(s, "b", true);
	sched_running(s, "b", false);
	/* a's probe still runs at its next due time: skipped, b runs. */
	ck_assert_uint_eq(sched_due(s, 2100, ids, 4), 1);
	ck_assert_str_eq(ids[0], "b");
	ck_assert_uint_eq(sched_skipped(s), 1);
	/* Skipped means rescheduled one interval on, not retried at once. */
	ck_assert_uint_ge(sched_next_deadline(s), 2100 + 950);
	ck_assert_uint_eq(sched_due(s, 2101, ids, 4), 0);
	sched_running(s, "a", false);
	ck_assert_uint_eq(sched_due(s, 3200, ids, 4), 2);
	ck_assert_uint_eq(sched_skipped(s), 1);
	sched_free(s);
}
END_TEST

/* ---- due order and max ---- */

START_TEST(test_due_order)
{
	uint64_t seed = test_seed(_i);
	struct sched *s = sched_new(seed);
	char id[32];
	const unsigned n = 1000;

	for (unsigned i = 0; i < n; i++)
		sched_add(s, id_of(id, sizeof(id), i), 2000 + i, 0);
	/* One at a time: each returned is the earliest left, so deadlines never go down. */
	uint64_t prev = 0;
	unsigned got = 0;
	for (;;) {
		const char *ids[1];
		uint64_t d = sched_next_deadline(s);
		if (d > 1000)
			break;
		ck_assert_msg(d >= prev, "seed %" PRIu64 ": deadline %" PRIu64 " after %" PRIu64, seed,
		              d, prev);
		ck_assert_uint_eq(sched_due(s, 1000, ids, 1), 1);
		prev = d;
		got++;
	}
	ck_assert_uint_eq(got, n);
	/* Batches: in due order within one call, and max is honoured. */
	for (unsigned i = 0; i < n; i++)
		sched_add(s, id_of(id, sizeof(id), i), 2000 + i, 10000);
	const char *ids[64];
	size_t k = sched_due(s, 10400, ids, 64);
	ck_assert_uint_eq(k, 64);
	/* The remaining ones due by 10400 come next; none of the first 64 again. */
	size_t rest = 0;
	for (;;) {
		const char *more[64];
		size_t m = sched_due(s, 10400, more, 64);
		for (size_t i = 0; i < m; i++)
			for (size_t q = 0; q < k; q++)
				ck_assert_str_ne(more[i], ids[q]);
		rest += m;
		if (m < 64)
			break;
	}
	ck_assert_uint_gt(rest, 200);
	ck_assert_uint_gt(sched_next_deadline(s), 10400);
	sched_free(s);
}
END_TEST

/* Ties on the due time go in the order they were scheduled (interval 1: stagger 0). */
START_TEST(test_tie_order)
{
	struct sched *s = sched_new(11);
	const char *ids[8];

	sched_add(s, "z", 1, 100);
	sched_add(s, "a", 1, 100);
	sched_add(s, "m", 1, 100);
	ck_assert_uint_eq(sched_due(s, 100, ids, 8), 3);
	ck_assert_str_eq(ids[0], "z");
	ck_assert_str_eq(ids[1], "a");
	ck_assert_str_eq(ids[2], "m");
	/* interval 0 is taken as 1: never due twice in one call, never stuck. */
	sched_add(s, "zero", 0, 200);
	ck_assert_uint_eq(sched_due(s, 200, ids, 8), 4);
	ck_assert_uint_eq(sched_next_deadline(s), 201);
	sched_free(s);
}
END_TEST

/* ---- many checks: the limit, and random operations against a model ---- */

START_TEST(test_limit)
{
	struct sched *s = sched_new(5);
	char id[32];

	for (unsigned i = 0; i < SCHED_CHECKS_MAX; i++)
		sched_add(s, id_of(id, sizeof(id), i), 10000, 0);
	ck_assert_uint_eq(sched_count(s), SCHED_CHECKS_MAX);
	sched_add(s, "one-too-many", 10000, 0);
	ck_assert_uint_eq(sched_count(s), SCHED_CHECKS_MAX);
	ck_assert(!sched_has(s, "one-too-many"));
	/* Replacing one at the limit still works. */
	sched_add(s, id_of(id, sizeof(id), 7), 20000, 0);
	ck_assert_uint_eq(sched_count(s), SCHED_CHECKS_MAX);
	/* All of them come due within the stagger, each once. */
	static const char *ids[SCHED_CHECKS_MAX];
	size_t n = sched_due(s, 999, ids, SCHED_CHECKS_MAX);
	ck_assert_uint_eq(n, SCHED_CHECKS_MAX);
	ck_assert_uint_ge(sched_next_deadline(s), 999 + 9500);
	sched_remove(s, id_of(id, sizeof(id), 3));
	sched_add(s, "one-too-many", 10000, 0);
	ck_assert(sched_has(s, "one-too-many"));
	sched_free(s);
}
END_TEST

#define MODEL_N 300

struct model {
	bool present[MODEL_N];
	bool running[MODEL_N];
	uint64_t interval[MODEL_N];
	uint64_t last_run[MODEL_N]; /* UINT64_MAX: not run since (re)added */
	uint64_t added_at[MODEL_N];
};

static unsigned id_index(const char *id)
{
	unsigned i = 0;

	ck_assert(sscanf(id, "service:web-%u", &i) == 1);
	ck_assert_uint_lt(i, MODEL_N);
	return i;
}

START_TEST(test_random_vs_model)
{
	uint64_t seed = test_seed(_i), rng = seed ^ 0x5eed;
	struct sched *s = sched_new(seed);
	static struct model m;
	uint64_t now = 0;
	char id[32];

	memset(&m, 0, sizeof(m));
	for (int step = 0; step < 50000; step++) {
		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		unsigned r = (unsigned)(rng >> 33), i = r % MODEL_N, op = (r / MODEL_N) % 16;
		id_of(id, sizeof(id), i);
		if (op < 3) {
			uint64_t ival = 1 + (r >> 12) % 5000;
			sched_add(s, id, ival, now);
			m.present[i] = true;
			m.interval[i] = ival;
			m.last_run[i] = UINT64_MAX;
			m.added_at[i] = now;
		} else if (op < 4) {
			sched_remove(s, id);
			m.present[i] = m.running[i] = false;
		} else if (op < 7) {
			bool run = (r >> 20) & 1;
			sched_running(s, id, run);
			if (m.present[i])
				m.running[i] = run;
		} else {
			/* Advance to the deadline (or a little past it) and take what is due. */
			uint64_t d = sched_next_deadline(s);
			if (d != UINT64_MAX && d > now)
				now = d + (r >> 16) % 3;
			else
				now += 1 + (r >> 16) % 50;
			const char *ids[MODEL_N];
			bool seen[MODEL_N] = {false};
			size_t n = sched_due(s, now, ids, MODEL_N);
			for (size_t k = 0; k < n; k++) {
				unsigned j = id_index(ids[k]);
				if (!m.present[j] || m.running[j] || seen[j])
					ck_abort_msg("seed %" PRIu64 " step %d: %s handed out (present %d "
					             "running %d twice %d)",
					             seed, step, ids[k], m.present[j], m.running[j], seen[j]);
				seen[j] = true;
				/* Never earlier than its schedule allows. */
				uint64_t iv = m.interval[j], jit = iv / 20;
				if (m.last_run[j] != UINT64_MAX && now - m.last_run[j] < iv - jit)
					ck_abort_msg("seed %" PRIu64 " step %d: %s ran %" PRIu64
					             " ms after its last run (interval %" PRIu64 ")",
					             seed, step, ids[k], now - m.last_run[j], iv);
				m.last_run[j] = now;
			}
			/* Everything due by now was handed out or skipped. */
			if (sched_next_deadline(s) <= now)
				ck_abort_msg("seed %" PRIu64 " step %d: deadline %" PRIu64 " left behind at %" PRIu64,
				             seed, step, sched_next_deadline(s), now);
		}
		size_t cnt = 0;
		for (unsigned k = 0; k < MODEL_N; k++)
			cnt += m.present[k];
		if (sched_count(s) != cnt)
			ck_abort_msg("seed %" PRIu64 " step %d: count %zu, model %zu", seed, step,
			             sched_count(s), cnt);
	}
	sched_free(s);
}
END_TEST

/* ---- Consul's StatusHandler ---- */

enum { P = 0, W = 1, C = 2 };

/* Feeds results in turn, checking the status reported after each. */
static void feed(const struct sched_thresh *t, struct sched_counts *c, int start,
                 const int *results, const int *want, size_t n)
{
	int cur = start;

	for (size_t i = 0; i < n; i++) {
		cur = sched_status(t, c, cur, results[i]);
		ck_assert_msg(cur == want[i], "result %zu (%d): status %d, want %d", i, results[i],
		              cur, want[i]);
	}
}

START_TEST(test_status_no_thresholds)
{
	struct sched_thresh t = {0, 0, 0};
	struct sched_counts c;
	static const int res[] = {P, C, W, C, P, P};

	sched_counts_init(&t, &c);
	feed(&t, &c, C, res, res, 6); /* every result reported as is */
}
END_TEST

START_TEST(test_status_success_before_passing)
{
	struct sched_thresh t = {3, 0, 0};
	struct sched_counts c = {0, 0};
	/* Consul's TestCheckMonitor/StatusHandler shape: starts critical, needs 3 successes. */
	static const int res[] = {P, P, P, P, C, P, P, P};
	static const int want[] = {C, C, P, P, C, C, C, P};
	feed(&t, &c, C, res, want, 8);
	/* A warning result counts as a success and is reported as warning once reached. */
	struct sched_counts c2 = {0, 0};
	static const int res2[] = {W, P, W};
	static const int want2[] = {C, C, W};
	feed(&t, &c2, C, res2, want2, 3);
}
END_TEST

START_TEST(test_status_failures_before_critical)
{
	struct sched_thresh t = {0, 0, 3}; /* warning threshold defaults to critical's */
	struct sched_counts c = {0, 0};
	static const int res[] = {C, C, C, C, P, C, C, P, C, C, C};
	static const int want[] = {P, P, C, C, P, P, P, P, P, P, C};
	feed(&t, &c, P, res, want, 11);
}
END_TEST

START_TEST(test_status_warning_then_critical)
{
	struct sched_thresh t = {0, 2, 4};
	struct sched_counts c = {0, 0};
	static const int res[] = {C, C, C, C, C, P, C, C};
	static const int want[] = {P, W, W, C, C, P, P, W};
	feed(&t, &c, P, res, want, 8);
	/* A warning threshold above the critical one: critical wins (checked first). */
	struct sched_thresh t2 = {0, 5, 2};
	struct sched_counts c2 = {0, 0};
	static const int res2[] = {C, C, C, C, C};
	static const int want2[] = {P, C, C, C, C};
	feed(&t2, &c2, P, res2, want2, 5);
}
END_TEST

START_TEST(test_status_both_and_init)
{
	/* Consul's NewStatusHandler starts the counters at the thresholds: the first result is
	 * reported at once, then the thresholds apply to changes. */
	struct sched_thresh t = {2, 0, 2};
	struct sched_counts c;
	sched_counts_init(&t, &c);
	ck_assert_uint_eq(c.successes, 2);
	ck_assert_uint_eq(c.failures, 2);
	static const int res[] = {P, C, C, P, P, C};
	static const int want[] = {P, P, C, C, P, P};
	feed(&t, &c, C, res, want, 6);
	/* From init, a first failure is critical at once. */
	sched_counts_init(&t, &c);
	ck_assert_int_eq(sched_status(&t, &c, P, C), C);
	/* Counters saturate rather than wrap. */
	struct sched_counts big = {UINT64_MAX, 0};
	ck_assert_int_eq(sched_status(&t, &big, C, P), P);
	ck_assert_uint_eq(big.successes, UINT64_MAX);
}
END_TEST

static Suite *sched_suite(void)
{
	Suite *s = suite_create("sched");
	TCase *tc = tcase_create("schedule");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_stagger_bounds, 0, 3);
	tcase_add_loop_test(tc, test_period_jitter, 0, 3);
	tcase_add_test(tc, test_late_turn);
	tcase_add_test(tc, test_same_seed_same_schedule);
	tcase_add_test(tc, test_remove);
	tcase_add_test(tc, test_replace);
	tcase_add_test(tc, test_skip_while_running);
	tcase_add_loop_test(tc, test_due_order, 0, 3);
	tcase_add_test(tc, test_tie_order);
	tcase_add_test(tc, test_limit);
	tcase_add_loop_test(tc, test_random_vs_model, 0, 4);
	suite_add_tcase(s, tc);

	TCase *th = tcase_create("status");
	tcase_add_test(th, test_status_no_thresholds);
	tcase_add_test(th, test_status_success_before_passing);
	tcase_add_test(th, test_status_failures_before_critical);
	tcase_add_test(th, test_status_warning_then_critical);
	tcase_add_test(th, test_status_both_and_init);
	suite_add_tcase(s, th);
	return s;
}

int main(void)
{
	return testutil_run(sched_suite());
}
