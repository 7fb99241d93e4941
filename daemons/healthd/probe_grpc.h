/* probe_grpc.h: the gRPC health protocol's wire forms (request frame, answer headers, trailers and
 * frame), pure so the parsing of what a server sends is fuzzed (tests/fuzz/fuzz_grpcresp.c). */
#ifndef MUSTER_PROBE_GRPC_H
#define MUSTER_PROBE_GRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "probe.h"

/*
 * gRPC over HTTP/2 (grpc/doc/PROTOCOL-HTTP2.md): a request is POST /grpc.health.v1.Health/Check
 * with content-type application/grpc and te: trailers, its body one Length-Prefixed-Message
 * (a compressed-flag byte, a 4-byte big-endian length, the protobuf message). The answer is
 * :status 200, content-type application/grpc[+proto|;...], one such message, then trailers
 * grpc-status (and grpc-message, percent-encoded); an error may come as headers only.
 * grpc/health/v1/health.proto: HealthCheckRequest { string service = 1; }
 * HealthCheckResponse { ServingStatus status = 1; } UNKNOWN 0, SERVING 1, NOT_SERVING 2,
 * SERVICE_UNKNOWN 3.
 */

#define PROBE_GRPC_PATH       "/grpc.health.v1.Health/Check"
#define PROBE_GRPC_MSG_MAX    256  /* bytes of grpc-message kept (decoded) */
#define PROBE_GRPC_CTYPE_MAX  64   /* bytes of an unexpected content-type kept */
#define PROBE_GRPC_SERVICE_MAX 4096

struct probe_grpc_resp {
	int http_status; /* 0 until a status line */
	bool ctype_seen, ctype_grpc;
	char ctype[PROBE_GRPC_CTYPE_MAX];
	bool grpc_status_set;
	uint32_t grpc_status;
	char grpc_message[PROBE_GRPC_MSG_MAX];
};

/* The request body for service (slen bytes): its length, or 0 when cap is too small or the
 * service longer than PROBE_GRPC_SERVICE_MAX. */
size_t probe_grpc_request(const char *service, size_t slen, uint8_t *out, size_t cap);
/* One header or trailer line as libcurl hands it ("HTTP/2 200\r\n", "grpc-status: 0\r\n"). */
void probe_grpc_header(struct probe_grpc_resp *r, const char *line, size_t len);
/* The answer's body: 0 and *serving (0 when the field is absent), or -1 and *why. */
int probe_grpc_body(const uint8_t *b, size_t n, uint64_t *serving, const char **why);
/* The check's status and Consul's (grpc-go's) text for this answer into out (cap > 0, always
 * NUL-terminated, cut to fit); *len the text's length. */
enum probe_status probe_grpc_verdict(const struct probe_grpc_resp *r, const uint8_t *body, size_t n,
                                     const char *target, char *out, size_t cap, size_t *len);
/* Go's http.StatusText(code) ("Not Found"), "" when unknown. */
const char *probe_http_status_text(int code);
/* grpc-go's name of a status code ("NotFound"), "Code(<n>)" past the table. */
const char *probe_grpc_code_name(uint32_t code, char buf[24]);

#endif
