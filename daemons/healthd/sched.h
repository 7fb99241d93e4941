/* sched.h: when each interval check runs (pure: no clock, no I/O, seeded), and Consul's status
 * thresholds. */
#ifndef MUSTER_SCHED_H
#define MUSTER_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Usage (healthd's loop; model: the pure cores of CONVENTIONS habit 2):
 *
 *	s = sched_new(seed);
 *	sched_add(s, id, interval_ms, now);          per interval check (again to replace)
 *	arm one ev timer for sched_next_deadline(s);
 *	on the timer: n = sched_due(s, now, ids, max);
 *	    for each: start its probe, sched_running(s, id, true);
 *	    when the probe ends (or is cancelled): sched_running(s, id, false);
 *	re-arm for sched_next_deadline(s).
 *
 * Timing (Consul: agent/checks/check.go, every runner's run(): the first check after
 * lib.RandomStagger(Interval), then time.After(Interval) after each one):
 *   - first run: now + a uniform stagger in [0, min(SCHED_STAGGER_MAX_MS, interval)). Consul
 *     staggers over the whole interval; muster caps it at 1 s (issue 6) so a new check reports
 *     soon after registration however long its interval.
 *   - later runs: the time the run was handed out + interval + a uniform jitter in [-J, +J],
 *     J = min(interval / SCHED_JITTER_DIV, SCHED_JITTER_MAX_MS) (±5 %, at most ±5 s). Consul
 *     has no explicit jitter (its goroutines drift apart by the probes' own durations); muster
 *     runs every probe from one loop, so a small symmetric jitter keeps checks registered
 *     together from staying in lock-step, and leaves the mean period at the interval.
 *   - a check whose probe is still running when it falls due is skipped for that run and
 *     rescheduled one interval on (Consul never runs two probes of one check at once).
 *
 * Check IDs are copied; the pointers sched_due() returns stay valid until that check is
 * removed or the scheduler freed. At most SCHED_CHECKS_MAX checks: a further new ID is
 * ignored (sched_has() says so; healthd limits checks well below this anyway).
 */

#define SCHED_CHECKS_MAX    65536
#define SCHED_STAGGER_MAX_MS 1000
#define SCHED_JITTER_DIV    20
#define SCHED_JITTER_MAX_MS 5000

struct sched;

/* NULL when out of memory. */
struct sched *sched_new(uint64_t seed);
void sched_free(struct sched *s); /* accepts NULL */

/* Adds or replaces a check (a replacement is restaggered with the new interval; its running
 * mark stays, so the old probe must still end with sched_running(…, false)). interval_ms 0 is
 * taken as 1. */
void sched_add(struct sched *s, const char *check_id, uint64_t interval_ms, uint64_t now_ms);
void sched_remove(struct sched *s, const char *check_id);
bool sched_has(const struct sched *s, const char *check_id);

/* Checks due by now, up to max, in due order (ties: the order they were scheduled); each is
 * rescheduled for its next run. A check whose previous probe is still running
 * (sched_running(…, true)) is skipped this round. */
size_t sched_due(struct sched *s, uint64_t now_ms, const char **ids, size_t max);
void sched_running(struct sched *s, const char *check_id, bool running);
uint64_t sched_next_deadline(const struct sched *s); /* UINT64_MAX: none */
size_t sched_count(const struct sched *s);
/* Runs skipped because the previous probe was still running (for STATS). */
uint64_t sched_skipped(const struct sched *s);

/*
 * Consul's StatusHandler (agent/checks/check.go): a passing or warning result counts as a
 * success (resets failures), a critical one as a failure (resets successes). A success is
 * reported once successes >= success_before_passing, else the current status stays; a failure
 * is reported critical once failures >= failures_before_critical, else warning once failures >=
 * failures_before_warning, else the current status stays. failures_before_warning 0 means "the
 * same as failures_before_critical" (agent.go addCheck). Thresholds of 0 report at once.
 */
struct sched_thresh {
	uint64_t success_before_passing, failures_before_warning, failures_before_critical;
};
struct sched_counts {
	uint64_t successes, failures;
};

/* The counters of a new (or re-registered) check: Consul's NewStatusHandler starts them at the
 * thresholds, so the first result is reported at once whatever the thresholds. A zeroed
 * struct sched_counts instead makes the first results wait for the thresholds. */
void sched_counts_init(const struct sched_thresh *t, struct sched_counts *c);

/* The status to report after a probe result (0 passing, 1 warning, 2 critical), given the
 * current status (same numbers) and the counters (updated). */
int sched_status(const struct sched_thresh *t, struct sched_counts *c, int current, int result);

#endif
