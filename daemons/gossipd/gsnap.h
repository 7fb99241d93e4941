/* gsnap.h: Serf's member snapshot (serf/snapshot.go): known members and clocks kept on disk for a rejoin. */
#ifndef MUSTER_GOSSIPD_GSNAP_H
#define MUSTER_GOSSIPD_GSNAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Spec: spec/dns-cli-gossip-raft.md §4 (rejoin); the format is serf's
 * snapshot.go, which Consul keeps as <data_dir>/serf/local.snapshot (LAN)
 * and remote.snapshot (WAN). A text file of lines, appended as things
 * happen and compacted when it grows:
 *
 *   alive: <name> <ip:port>      (IPv6 as [ip]:port; the name may hold spaces)
 *   not-alive: <name>
 *   clock: <n>  event-clock: <n>  query-clock: <n>
 *   coordinate: ...              (old serf; ignored, never written)
 *   leave                        (a graceful leave)
 *   # ...                        (a comment)
 *
 * The same file works both ways: muster reads what Consul wrote, and
 * Consul reads what muster writes.
 */

/* members one replay keeps (the largest LAN pools reported are ~10k) */
#define GSNAP_NODES_MAX 65536
/* longer lines are skipped (a name and an address are far shorter) */
#define GSNAP_LINE_MAX 2048
/* serf's snapshotSizeLimit / Config.MinSnapshotSize: no compaction below */
#define GSNAP_COMPACT_MIN (128u * 1024)
/* a file beyond this is not read (a compacted file of GSNAP_NODES_MAX
 * members is ~10 MB) */
#define GSNAP_FILE_MAX (256u * 1024 * 1024)

struct gsnap_node {
	char *name;
	char *addr; /* "ip:port" as written */
};

/* What a previous run left. */
struct gsnap_prev {
	struct gsnap_node *alive; /* in file order of each node's last alive line */
	size_t n_alive;
	uint64_t clock, event_clock, query_clock;
	bool left;        /* the last state was a graceful leave, and it was honoured */
	size_t bad_lines; /* unknown, corrupt, too long, or a torn last line */
};

struct gsnap;

/* Replays a snapshot's text (serf's replay): alive/not-alive update the
 * member set, each clock keeps its last value, "leave" clears members and
 * clocks unless rejoin_after_leave. Lines over GSNAP_LINE_MAX and members
 * beyond GSNAP_NODES_MAX are skipped. Pure; 0 (out allocated: free with
 * gsnap_prev_free). */
int gsnap_replay(const char *text, size_t len, bool rejoin_after_leave, struct gsnap_prev *out);
void gsnap_prev_free(struct gsnap_prev *p);

/* Opens path (creating its directories with mode 0700 and the file with
 * 0600 as needed), replays it into *prev and keeps it open for appending.
 * 0, or -1 with a reason in err (an I/O error: the caller runs without a
 * snapshot). */
int gsnap_open(const char *path, bool rejoin_after_leave, struct gsnap **out,
               struct gsnap_prev *prev, char *err, size_t err_size);

/* Each appends one line with one write(2) (no fsync, as serf) and
 * compacts when the file has grown past max(GSNAP_COMPACT_MIN, twice the
 * last compacted size). 0, or -1 (errno set; the caller logs it). After a
 * failed write the next call first rewrites the file whole, so a torn
 * line does not stay. A name with a newline is refused (-1, EINVAL). */
int gsnap_alive(struct gsnap *s, const char *name, const char *addr);
int gsnap_not_alive(struct gsnap *s, const char *name);
/* Writes the clocks that differ from the last written (or replayed)
 * ones. Serf writes the member clock's time minus one (updateClock), and
 * event and query clocks as events and queries arrive. */
int gsnap_clocks(struct gsnap *s, uint64_t clock, uint64_t event_clock, uint64_t query_clock);
/* A graceful leave: forgets the members (unless rejoin_after_leave),
 * appends "leave" and fsyncs. Later alive/not-alive calls are ignored
 * (serf stops recording member events once leaving). */
int gsnap_leave(struct gsnap *s);

/* The current member set's size (tests, compaction). */
size_t gsnap_num_alive(const struct gsnap *s);
/* The file's size as this writer knows it (tests). */
uint64_t gsnap_size(const struct gsnap *s);
/* Overrides GSNAP_COMPACT_MIN (tests). */
void gsnap_set_compact_min(struct gsnap *s, uint64_t bytes);
/* Rewrites the file as the member set and clocks now (atomically). 0 or -1. */
int gsnap_compact(struct gsnap *s);

/* Closes the file; NULL-safe. */
void gsnap_close(struct gsnap *s);

#endif
