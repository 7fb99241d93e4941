/* test_watch.c: shared watch sets: each waiter woken once, prefixes, removal, a seeded model check.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "daemons/raftd/watch.h"

#define NW 64

static int woken[NW];

static void on_fire(struct watcher *w, void *arg)
{
	int *count = arg;

	ck_assert(w->fired);
	ck_assert_uint_eq(w->n_links, 0);
	woken[(intptr_t)w->arg]++;
	(*count)++;
}

START_TEST(watch_wakes_each_waiter_once)
{
	struct watch *wt = watch_new();
	struct watcher a = {.arg = (void *)0}, b = {.arg = (void *)1};
	const char *ka[] = {"kvs", "k/x", "p/fo"};
	const char *kb[] = {"kvs", "nodes"};
	int n = 0;

	memset(woken, 0, sizeof(woken));
	ck_assert_int_eq(watch_add(wt, &a, ka, 3), 0);
	ck_assert_int_eq(watch_add(wt, &b, kb, 2), 0);
	ck_assert_uint_eq(watch_count(wt), 2);
	watch_fire(wt, "services", on_fire, &n);
	ck_assert_int_eq(n, 0);
	/* "kvs" then "k/x": a is woken by the first, and not again. */
	watch_fire(wt, "kvs", on_fire, &n);
	watch_fire_kv(wt, "x", on_fire, &n);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(woken[0], 1);
	ck_assert_int_eq(woken[1], 1);
	ck_assert_uint_eq(watch_count(wt), 0);
	watch_free(wt);
}
END_TEST

START_TEST(watch_prefixes_of_a_changed_key)
{
	struct watch *wt = watch_new();
	struct watcher w[5];
	const char *keys[5] = {"p/", "p/a", "p/ab", "p/abc/", "p/b"};
	int n = 0;

	memset(woken, 0, sizeof(woken));
	memset(w, 0, sizeof(w));
	for (int i = 0; i < 5; i++) {
		w[i].arg = (void *)(intptr_t)i;
		ck_assert_int_eq(watch_add(wt, &w[i], &keys[i], 1), 0);
	}
	watch_fire_kv(wt, "abc", on_fire, &n);
	/* "", "a", "ab" are prefixes of "abc"; "abc/" and "b" are not. */
	ck_assert_int_eq(n, 3);
	ck_assert_int_eq(woken[0] + woken[1] + woken[2], 3);
	ck_assert_int_eq(woken[3] + woken[4], 0);
	watch_fire_kv(wt, "abc/d", on_fire, &n);
	ck_assert_int_eq(woken[3], 1);
	watch_remove(wt, &w[4]);
	watch_remove(wt, &w[4]); /* twice is a no-op */
	watch_fire_kv(wt, "b", on_fire, &n);
	ck_assert_int_eq(woken[4], 0);
	ck_assert_uint_eq(watch_count(wt), 0);
	watch_free(wt);
}
END_TEST

START_TEST(watch_limits)
{
	struct watch *wt = watch_new();
	struct watcher w = {0};
	const char *keys[WATCH_KEYS_MAX + 1];

	for (int i = 0; i <= WATCH_KEYS_MAX; i++)
		keys[i] = "kvs";
	ck_assert_int_eq(watch_add(wt, &w, keys, 0), -1);
	ck_assert_int_eq(watch_add(wt, &w, keys, WATCH_KEYS_MAX + 1), -1);
	ck_assert_uint_eq(watch_count(wt), 0);
	watch_free(wt);
}
END_TEST

/* Random adds, removals and fires against a model: a waiter is woken iff
 * one of its keys fired while it was linked, and exactly once. */
START_TEST(watch_model)
{
	const char *env = getenv("WATCH_SEED");
	uint64_t seed = env ? strtoull(env, NULL, 10) : 1 + (uint64_t)_i;
	static const char *names[] = {"kvs", "nodes", "k/a", "k/ab", "p/", "p/a", "p/ab", "p/b"};
	struct watch *wt = watch_new();
	struct watcher w[NW];
	bool linked[NW] = {0}, keys[NW][8];
	int n = 0;

	memset(w, 0, sizeof(w));
	memset(woken, 0, sizeof(woken));
	srandom((unsigned)seed);
	for (int step = 0; step < 5000; step++) {
		int i = (int)(random() % NW), op = (int)(random() % 4);

		if (op == 0 && !linked[i]) {
			const char *ks[8];
			size_t nk = 0;

			for (int k = 0; k < 8; k++) {
				keys[i][k] = random() % 3 == 0;
				if (keys[i][k])
					ks[nk++] = names[k];
			}
			if (nk == 0)
				continue;
			w[i].arg = (void *)(intptr_t)i;
			ck_assert_int_eq(watch_add(wt, &w[i], ks, nk), 0);
			linked[i] = true;
		} else if (op == 1 && linked[i]) {
			watch_remove(wt, &w[i]);
			linked[i] = false;
		} else {
			/* fire a KV key or a table */
			bool kv = random() % 2;
			const char *what = kv ? (random() % 2 ? "ab" : "b") : names[random() % 2];
			int expect[NW];

			for (int j = 0; j < NW; j++) {
				bool hit = false;

				expect[j] = woken[j];
				if (!linked[j])
					continue;
				for (int k = 0; k < 8; k++) {
					const char *nm = names[k];

					if (!keys[j][k])
						continue;
					if (!kv && strcmp(nm, what) == 0)
						hit = true;
					if (kv && nm[0] == 'k' && strcmp(nm + 2, what) == 0)
						hit = true;
					if (kv && nm[0] == 'p' &&
					    strncmp(what, nm + 2, strlen(nm + 2)) == 0)
						hit = true;
				}
				expect[j] = woken[j] + (hit ? 1 : 0);
				if (hit)
					linked[j] = false;
			}
			if (kv)
				watch_fire_kv(wt, what, on_fire, &n);
			else
				watch_fire(wt, what, on_fire, &n);
			for (int j = 0; j < NW; j++) {
				if (woken[j] != expect[j] || (w[j].n_links == 0) != !linked[j])
					ck_abort_msg("seed %" PRIu64
					             " step %d: waiter %d woken %d, want %d",
					             seed, step, j, woken[j], expect[j]);
			}
		}
	}
	for (int i = 0; i < NW; i++)
		if (linked[i])
			watch_remove(wt, &w[i]);
	ck_assert_uint_eq(watch_count(wt), 0);
	watch_free(wt);
}
END_TEST

static Suite *watch_suite(void)
{
	Suite *s = suite_create("watch");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, watch_wakes_each_waiter_once);
	tcase_add_test(tc, watch_prefixes_of_a_changed_key);
	tcase_add_test(tc, watch_limits);
	tcase_add_loop_test(tc, watch_model, 0, 20);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(watch_suite());
}
