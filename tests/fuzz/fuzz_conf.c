/* fuzz_conf.c: libFuzzer target for conf_load_mem(): any file loads or is refused, no crash. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "conf.h"

#define FUZZ_JSON_CAP (16u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_conf_write(const struct conf *c, struct buf *b)
{
	buf_init(b, FUZZ_JSON_CAP);
	if (conf_write_json(c, b) != 0 || buf_cstr(b) == NULL)
		abort();
}

/* A configuration that loads and validates prints as JSON; that JSON loads
 * and validates again into an equal struct that prints the same text (the
 * <run_dir>/config.json contract between musterd and its children). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf c, again;
	struct conf_diag d;
	struct buf b1, b2;
	int rc;

	memset(&d, 0, sizeof(d));
	conf_init(&c);
	rc = conf_load_mem(&c, "fuzz", (const char *)data, size, &d);
	if (rc == 0)
		rc = conf_validate(&c, false, &d);
	fuzz_conf_write(&c, &b1);
	if (rc == 0) {
		conf_init(&again);
		if (conf_load_mem(&again, "config.json", (const char *)b1.p, b1.len, &d) != 0 ||
		    conf_validate(&again, false, &d) != 0)
			abort();
		fuzz_conf_write(&again, &b2);
		if (b1.len != b2.len || memcmp(b1.p, b2.p, b1.len) != 0 || !conf_equal(&c, &again))
			abort();
		buf_fini(&b2);
		conf_fini(&again);
	}
	buf_fini(&b1);
	conf_diag_fini(&d);
	conf_fini(&c);
	return 0;
}
