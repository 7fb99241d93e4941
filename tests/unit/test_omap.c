/* test_omap.c: the ordered map, and a seeded comparison with a sorted array. */
#include "omap.h"
#include "prng.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "testutil.h"

static int frees;

static void count_free(void *v)
{
	frees++;
	free(v);
}

START_TEST(test_basic)
{
	struct omap *m = omap_new(count_free);
	void *old;

	frees = 0;
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(omap_count(m), 0);
	ck_assert_ptr_null(omap_first(m));
	ck_assert_ptr_null(omap_get(m, "a"));
	ck_assert_int_eq(omap_put(m, "b", strdup("B"), NULL), 1);
	ck_assert_int_eq(omap_put(m, "a", strdup("A"), NULL), 1);
	ck_assert_int_eq(omap_put(m, "c", strdup("C"), NULL), 1);
	ck_assert_uint_eq(omap_count(m), 3);
	ck_assert_str_eq(omap_get(m, "a"), "A");
	/* Replace destroying the old value. */
	ck_assert_int_eq(omap_put(m, "a", strdup("A2"), NULL), 0);
	ck_assert_int_eq(frees, 1);
	ck_assert_str_eq(omap_get(m, "a"), "A2");
	/* Replace handing the old value back. */
	ck_assert_int_eq(omap_put(m, "b", strdup("B2"), &old), 0);
	ck_assert_str_eq(old, "B");
	free(old);
	ck_assert_int_eq(frees, 1);
	ck_assert_uint_eq(omap_count(m), 3);
	/* Delete handing back and destroying. */
	ck_assert(omap_del(m, "b", &old));
	ck_assert_str_eq(old, "B2");
	free(old);
	ck_assert(!omap_del(m, "b", NULL));
	ck_assert(omap_del(m, "c", NULL));
	ck_assert_int_eq(frees, 2);
	ck_assert_uint_eq(omap_count(m), 1);
	ck_assert_int_eq(omap_verify(m), 0);
	omap_free(m);
	ck_assert_int_eq(frees, 3);
	omap_free(NULL);
}
END_TEST

START_TEST(test_order_and_seek)
{
	struct omap *m = omap_new(NULL);
	const char *keys[] = {"web/b/d", "web/", "", "web/a", "web", "web/b/c", "wea", "\xff", "w"};
	const char *sorted[] = {"",      "w",       "wea",     "web", "web/",
	                        "web/a", "web/b/c", "web/b/d", "\xff"};
	struct omap_node *n;
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		ck_assert_int_eq(omap_put(m, keys[i], (void *)keys[i], NULL), 1);
	for (i = 0, n = omap_first(m); n != NULL; n = omap_next(n), i++) {
		ck_assert_str_eq(omap_key(n), sorted[i]);
		ck_assert_uint_eq(omap_klen(n), strlen(sorted[i]));
	}
	ck_assert_uint_eq(i, 9);
	ck_assert_str_eq(omap_key(omap_last(m)), "\xff");
	/* Seek: exact, between, past the end. */
	ck_assert_str_eq(omap_key(omap_seek(m, "web/")), "web/");
	ck_assert_str_eq(omap_key(omap_seek(m, "web/b")), "web/b/c");
	ck_assert_str_eq(omap_key(omap_seek(m, "x")), "\xff");
	ck_assert_ptr_null(omap_seek(m, "\xff\x01"));
	ck_assert_str_eq(omap_key(omap_seek(m, "")), "");
	/* A prefix scan. */
	i = 0;
	for (n = omap_seek(m, "web/");
	     n != NULL && omap_has_prefix(omap_key(n), omap_klen(n), "web/", 4); n = omap_next(n))
		i++;
	ck_assert_uint_eq(i, 4);
	/* Deleting the current node after fetching the next one. */
	for (n = omap_seek(m, "web/");
	     n != NULL && omap_has_prefix(omap_key(n), omap_klen(n), "web/", 4);) {
		struct omap_node *next = omap_next(n);
		char k[32];

		snprintf(k, sizeof(k), "%s", omap_key(n));
		ck_assert(omap_del(m, k, NULL));
		ck_assert_int_eq(omap_verify(m), 0);
		n = next;
	}
	ck_assert_uint_eq(omap_count(m), 5);
	ck_assert_str_eq(omap_key(omap_seek(m, "web/")), "\xff");
	omap_clear(m);
	ck_assert_uint_eq(omap_count(m), 0);
	ck_assert_int_eq(omap_put(m, "z", NULL, NULL), 1);
	ck_assert_ptr_nonnull(omap_find(m, "z"));
	ck_assert_ptr_null(omap_get(m, "z"));
	omap_free(m);
}
END_TEST

START_TEST(test_sequential_height)
{
	/* Sorted inserts are the worst case for an unbalanced tree; the AVL
	 * bound keeps the height under 1.44 log2(n+2). */
	struct omap *m = omap_new(NULL);
	char k[16];
	int i;

	for (i = 0; i < 100000; i++) {
		snprintf(k, sizeof(k), "%08d", i);
		ck_assert_int_eq(omap_put(m, k, NULL, NULL), 1);
	}
	ck_assert_int_eq(omap_verify(m), 0);
	for (i = 0; i < 100000; i += 2) {
		snprintf(k, sizeof(k), "%08d", i);
		ck_assert(omap_del(m, k, NULL));
	}
	ck_assert_int_eq(omap_verify(m), 0);
	ck_assert_uint_eq(omap_count(m), 50000);
	ck_assert_str_eq(omap_key(omap_first(m)), "00000001");
	omap_free(m);
}
END_TEST

/* ---- randomized comparison against a sorted array ---- */

static uint64_t rng_state;

static uint64_t rng(void)
{
	return prng_next(&rng_state);
}

struct ent {
	char key[8];
	int val;
};

#define MODEL_MAX 512

struct model {
	struct ent e[MODEL_MAX];
	size_t n;
};

static size_t model_lower(const struct model *md, const char *key)
{
	size_t lo = 0, hi = md->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (strcmp(md->e[mid].key, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void random_key(char *k)
{
	/* Short keys over a small alphabet: many collisions and shared prefixes. */
	size_t len = (size_t)(rng() % 5), i;

	for (i = 0; i < len; i++)
		k[i] = "ab/\xe9"[rng() % 4];
	k[len] = '\0';
}

START_TEST(test_random_vs_array)
{
	const char *env = getenv("OMAP_SEED");
	uint64_t seed = env != NULL ? strtoull(env, NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)_i;
	struct model md = {.n = 0};
	struct omap *m = omap_new(free);
	int step;

	rng_state = seed;
	for (step = 0; step < 20000; step++) {
		char k[8];
		unsigned op = (unsigned)(rng() % 10);
		size_t pos;
		bool found;

		random_key(k);
		pos = model_lower(&md, k);
		found = pos < md.n && strcmp(md.e[pos].key, k) == 0;
		if (op < 5) {
			int *v = malloc(sizeof(*v)), r;

			*v = step;
			r = omap_put(m, k, v, NULL);
			if (r != (found ? 0 : 1))
				ck_abort_msg("seed %" PRIu64 " step %d: put %s returned %d", seed,
				             step, k, r);
			if (!found) {
				ck_assert_uint_lt(md.n, MODEL_MAX);
				memmove(&md.e[pos + 1], &md.e[pos], (md.n - pos) * sizeof(md.e[0]));
				md.n++;
				snprintf(md.e[pos].key, sizeof(md.e[pos].key), "%s", k);
			}
			md.e[pos].val = step;
		} else if (op < 8) {
			bool r = omap_del(m, k, NULL);

			if (r != found)
				ck_abort_msg("seed %" PRIu64 " step %d: del %s", seed, step, k);
			if (found) {
				memmove(&md.e[pos], &md.e[pos + 1],
				        (md.n - pos - 1) * sizeof(md.e[0]));
				md.n--;
			}
		} else if (op < 9) {
			struct omap_node *n = omap_seek(m, k);

			if ((n == NULL) != (pos == md.n) ||
			    (n != NULL && strcmp(omap_key(n), md.e[pos].key) != 0))
				ck_abort_msg("seed %" PRIu64 " step %d: seek %s", seed, step, k);
		} else {
			int *v = omap_get(m, k);

			if ((v != NULL) != found || (found && *v != md.e[pos].val))
				ck_abort_msg("seed %" PRIu64 " step %d: get %s", seed, step, k);
		}
		if (step % 97 == 0 || step == 19999) {
			struct omap_node *n;
			size_t i = 0;

			if (omap_verify(m) != 0)
				ck_abort_msg("seed %" PRIu64 " step %d: invariants broken", seed,
				             step);
			if (omap_count(m) != md.n)
				ck_abort_msg("seed %" PRIu64 " step %d: count", seed, step);
			for (n = omap_first(m); n != NULL; n = omap_next(n), i++)
				if (strcmp(omap_key(n), md.e[i].key) != 0 ||
				    *(int *)omap_val(n) != md.e[i].val)
					ck_abort_msg("seed %" PRIu64 " step %d: order at %zu", seed,
					             step, i);
		}
	}
	omap_free(m);
}
END_TEST

static Suite *omap_suite(void)
{
	Suite *s = suite_create("omap");
	TCase *tc = tcase_create("omap");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_basic);
	tcase_add_test(tc, test_order_and_seek);
	tcase_add_test(tc, test_sequential_height);
	tcase_add_loop_test(tc, test_random_vs_array, 0, 8);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(omap_suite());
}
