/* swim_sim.c: the seeded SWIM simulator (tests/unit/swimsim.h) from the command line, any N. */
#include "tests/unit/swimsim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * swim_sim [--nodes N] [--seed S | --seeds K [--first S]] [--loss P] [--delay MIN,MAX]
 *          [--crashes C] [--leaves L] [--slow K] [--slow-delay MS] [--partition MS]
 *          [--spread MS] [-v|-vv|-vvv]
 * Runs the phases of swimsim.h for each seed and prints one line per seed (convergence,
 * detection times against the bound, leave and heal times). A failed seed prints its error and
 * the command that replays it; the exit status is 1 when any seed failed.
 */

static void usage(void)
{
	fprintf(stderr, "usage: swim_sim [--nodes N] [--seed S | --seeds K [--first S]] "
	                "[--loss P] [--delay MIN,MAX] [--crashes C] [--leaves L] [--slow K] "
	                "[--slow-delay MS] [--partition MS] [--spread MS] [-v|-vv|-vvv]\n");
	exit(2);
}

static const char *arg_next(int argc, char **argv, int *i)
{
	if (*i + 1 >= argc)
		usage();
	return argv[++*i];
}

int main(int argc, char **argv)
{
	uint32_t nodes = 10;
	uint64_t seed = 1, seeds = 1;
	struct swimsim_params over;
	int verbose = 0;
	bool set_loss = false, set_delay = false, set_crashes = false, set_leaves = false;
	bool set_slow = false, set_slow_delay = false, set_partition = false, set_spread = false;
	memset(&over, 0, sizeof(over));

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--nodes") == 0) {
			nodes = (uint32_t)strtoul(arg_next(argc, argv, &i), NULL, 10);
		} else if (strcmp(a, "--seed") == 0) {
			seed = strtoull(arg_next(argc, argv, &i), NULL, 10);
			seeds = 1;
		} else if (strcmp(a, "--seeds") == 0) {
			seeds = strtoull(arg_next(argc, argv, &i), NULL, 10);
		} else if (strcmp(a, "--first") == 0) {
			seed = strtoull(arg_next(argc, argv, &i), NULL, 10);
		} else if (strcmp(a, "--loss") == 0) {
			over.loss = strtod(arg_next(argc, argv, &i), NULL);
			set_loss = true;
		} else if (strcmp(a, "--delay") == 0) {
			if (sscanf(arg_next(argc, argv, &i), "%u,%u", &over.delay_min_ms,
			           &over.delay_max_ms) != 2)
				usage();
			set_delay = true;
		} else if (strcmp(a, "--crashes") == 0) {
			over.crashes = (uint32_t)strtoul(arg_next(argc, argv, &i), NULL, 10);
			set_crashes = true;
		} else if (strcmp(a, "--leaves") == 0) {
			over.leaves = (uint32_t)strtoul(arg_next(argc, argv, &i), NULL, 10);
			set_leaves = true;
		} else if (strcmp(a, "--slow") == 0) {
			over.slow = (uint32_t)strtoul(arg_next(argc, argv, &i), NULL, 10);
			set_slow = true;
		} else if (strcmp(a, "--slow-delay") == 0) {
			over.slow_delay_ms = (uint32_t)strtoul(arg_next(argc, argv, &i), NULL, 10);
			set_slow_delay = true;
		} else if (strcmp(a, "--partition") == 0) {
			over.partition_ms = (uint32_t)strtoul(arg_next(argc, argv, &i), NULL, 10);
			set_partition = true;
		} else if (strcmp(a, "--spread") == 0) {
			over.join_spread_ms = (uint32_t)strtoul(arg_next(argc, argv, &i), NULL, 10);
			set_spread = true;
		} else if (strcmp(a, "-v") == 0) {
			verbose = 1;
		} else if (strcmp(a, "-vv") == 0) {
			verbose = 2;
		} else if (strcmp(a, "-vvv") == 0) {
			verbose = 3;
		} else {
			usage();
		}
	}

	uint64_t failed = 0;
	for (uint64_t k = 0; k < seeds; k++) {
		struct swimsim_params p;
		struct swimsim_result r;
		swimsim_params_default(&p, nodes, seed + k);
		if (set_loss)
			p.loss = over.loss;
		if (set_delay) {
			p.delay_min_ms = over.delay_min_ms;
			p.delay_max_ms = over.delay_max_ms;
		}
		if (set_crashes)
			p.crashes = over.crashes;
		if (set_leaves)
			p.leaves = over.leaves;
		if (set_slow)
			p.slow = over.slow;
		if (set_slow_delay)
			p.slow_delay_ms = over.slow_delay_ms;
		if (set_partition)
			p.partition_ms = over.partition_ms;
		if (set_spread)
			p.join_spread_ms = over.join_spread_ms;
		p.verbose = verbose;
		if (swimsim_run(&p, &r) != 0) {
			failed++;
			printf("swim_sim: seed %" PRIu64
			       " FAILED: %s\n  replay: swim_sim --nodes %" PRIu32 " --seed %" PRIu64
			       " (with the same options)\n",
			       p.seed, r.error, p.nodes, p.seed);
		}
		swimsim_print(stdout, &p, &r);
		fflush(stdout);
	}
	printf("swim_sim: %" PRIu64 " of %" PRIu64 " seeds passed\n", seeds - failed, seeds);
	return failed ? 1 : 0;
}
