/* hstore.h: healthd's persisted services and checks: one file per entry under <dir>/services and
 * <dir>/checks. */
#ifndef MUSTER_HEALTHD_HSTORE_H
#define MUSTER_HEALTHD_HSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "msg.h"

/*
 * Consul's layout (agent/agent.go persistService, persistCheck): a file
 * per service under <data_dir>/services and per check under
 * <data_dir>/checks, named by a hash of the ID, replaced atomically and
 * durably (fsutil_write_atomic), so a registration survives kill -9 of
 * healthd and a restart of the agent. A file holds one msgpack array
 *	[HSTORE_VERSION, kind, record (bin: the msg.def record), token,
 *	 ttl_expires_unix_ms]
 * ttl_expires_unix_ms is a TTL check's deadline when its state was saved
 * (Consul's persistedCheckState.Expires; 0 otherwise): a restart within
 * it keeps the status, a later one finds the check lapsed.
 * A file that does not decode is logged and skipped, never fatal.
 */

#define HSTORE_VERSION   1
#define HSTORE_FILE_MAX  (4u << 20)
#define HSTORE_FILES_MAX 200000 /* files read from one directory */

enum hstore_kind { HSTORE_SERVICE = 0, HSTORE_CHECK = 1 };

struct hstore_entry {
	enum hstore_kind kind;
	struct msg_agent_service svc;
	struct msg_agent_check chk;
	char *token;
	uint64_t ttl_expires_unix_ms;
};

int hstore_encode_service(const struct msg_agent_service *s, const char *token, struct buf *out);
int hstore_encode_check(const struct msg_agent_check *c, const char *token,
                        uint64_t ttl_expires_unix_ms, struct buf *out);
/* 0, or -1 (malformed, another version); *out is freed with hstore_entry_free. */
int hstore_decode(const void *p, size_t len, struct hstore_entry *out);
void hstore_entry_free(struct hstore_entry *e);

/* The file name of an ID: 16 hex digits of its 64-bit FNV-1a hash. */
void hstore_name(const char *id, char out[17]);

struct hstore {
	char *dir;
	char *sub[2]; /* <dir>/services, <dir>/checks */
};

/* Creates the directories (0700). 0, or -1 with a reason. */
int hstore_open(struct hstore *h, const char *dir, char *err, size_t err_size);
void hstore_close(struct hstore *h);
/* 0, or -1 with errno and *what (fsutil_write_atomic). */
int hstore_put(struct hstore *h, enum hstore_kind kind, const char *id, const struct buf *data,
               const char **what);
/* Removes the file of id; a missing file is success. */
int hstore_del(struct hstore *h, enum hstore_kind kind, const char *id);
/* Calls cb for every file of kind that decodes (the entry is the callback's
 * to keep: it frees it); returns the number of files skipped as bad. */
typedef void (*hstore_load_cb)(void *arg, struct hstore_entry *e);
size_t hstore_load(struct hstore *h, enum hstore_kind kind, hstore_load_cb cb, void *arg);

#endif
