/* fuzz_grpcresp.c: libFuzzer target for what a gRPC health server answers: header and trailer
 * lines, the length-prefixed HealthCheckResponse, and the verdict text built from them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemons/healthd/probe_grpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Input: header lines ("\n"-separated), a NUL, then the body (no NUL: headers only). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct probe_grpc_resp r;
	const uint8_t *nul = memchr(data, 0, size);
	size_t hlen = nul ? (size_t)(nul - data) : size;
	const uint8_t *body = nul ? nul + 1 : data + size;
	size_t blen = nul ? size - hlen - 1 : 0;
	char out[512];
	size_t len = 0;
	uint64_t serving;
	const char *why = NULL;

	memset(&r, 0, sizeof(r));
	for (size_t i = 0; i < hlen;) {
		const uint8_t *nl = memchr(data + i, '\n', hlen - i);
		size_t l = nl ? (size_t)(nl - (data + i)) + 1 : hlen - i;
		probe_grpc_header(&r, (const char *)data + i, l);
		i += l;
	}
	if (strlen(r.grpc_message) >= sizeof(r.grpc_message) || strlen(r.ctype) >= sizeof(r.ctype))
		abort();
	enum probe_status st = probe_grpc_verdict(&r, body, blen, "127.0.0.1:1/svc", out,
	                                          sizeof(out), &len);
	if (len >= sizeof(out) || strlen(out) != len)
		abort();
	if (st == PROBE_PASSING &&
	    (probe_grpc_body(body, blen, &serving, &why) != 0 || serving != 1 || r.grpc_status != 0))
		abort();
	/* The whole input as a body: either a status or a reason, never both. */
	why = NULL;
	if (probe_grpc_body(data, size, &serving, &why) != 0) {
		if (!why || serving != 0)
			abort();
	}
	/* A request for the input as a service name frames it exactly. */
	uint8_t req[PROBE_GRPC_SERVICE_MAX + 16];
	size_t rl = probe_grpc_request((const char *)data, size, req, sizeof(req));
	if (size <= PROBE_GRPC_SERVICE_MAX) {
		uint32_t m = (uint32_t)req[1] << 24 | (uint32_t)req[2] << 16 | (uint32_t)req[3] << 8 | req[4];
		if (rl < 5 || m != rl - 5 || (size > 0 && memcmp(req + rl - size, data, size) != 0))
			abort();
	} else if (rl != 0) {
		abort();
	}
	return 0;
}
