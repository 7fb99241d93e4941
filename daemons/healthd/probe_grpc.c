/* probe_grpc.c: the gRPC health protocol's wire forms and grpc-go's error texts (probe_grpc.h). */
#include "probe_grpc.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- a bounded read cursor with a sticky error (CONVENTIONS habit 4) ---- */

struct gcur {
	const uint8_t *p;
	size_t n;
	const char *err;
};

static uint64_t gcur_varint(struct gcur *c)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < 10; i++) {
		if (c->err)
			return 0;
		if (c->n == 0) {
			c->err = "unexpected EOF";
			return 0;
		}
		uint8_t b = *c->p++;
		c->n--;
		if (i == 9 && b > 1) {
			c->err = "varint overflow";
			return 0;
		}
		v |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80))
			return v;
	}
	c->err = "varint overflow";
	return 0;
}

static void gcur_skip(struct gcur *c, uint64_t k)
{
	if (c->err)
		return;
	if (k > c->n) {
		c->err = "unexpected EOF";
		return;
	}
	c->p += k;
	c->n -= (size_t)k;
}

/* ---- request ---- */

size_t probe_grpc_request(const char *service, size_t slen, uint8_t *out, size_t cap)
{
	uint8_t msg[PROBE_GRPC_SERVICE_MAX + 8];
	size_t m = 0;

	if (slen > PROBE_GRPC_SERVICE_MAX)
		return 0;
	if (slen > 0) { /* proto3: an empty string is not sent */
		msg[m++] = 0x0a; /* field 1, wire type 2 */
		size_t v = slen;
		do {
			msg[m++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
			v >>= 7;
		} while (v);
		memcpy(msg + m, service, slen);
		m += slen;
	}
	if (cap < 5 + m)
		return 0;
	out[0] = 0; /* not compressed */
	out[1] = (uint8_t)(m >> 24);
	out[2] = (uint8_t)(m >> 16);
	out[3] = (uint8_t)(m >> 8);
	out[4] = (uint8_t)m;
	memcpy(out + 5, msg, m);
	return 5 + m;
}

/* ---- answer headers and trailers ---- */

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* grpc-message is percent-encoded (PROTOCOL-HTTP2.md); a bad escape stays as it is. */
static void pct_decode(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 1 < cap; i++) {
		int hi, lo;
		if (s[i] == '%' && i + 2 < n + 0 && (hi = hexval((unsigned char)s[i + 1])) >= 0 &&
		    (lo = hexval((unsigned char)s[i + 2])) >= 0) {
			out[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
}

static bool name_is(const char *line, size_t nlen, const char *name)
{
	return strlen(name) == nlen && strncasecmp(line, name, nlen) == 0;
}

void probe_grpc_header(struct probe_grpc_resp *r, const char *line, size_t len)
{
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n'))
		len--;
	if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
		/* "HTTP/2 200" or "HTTP/1.1 200 OK": the code after the first space. */
		const char *sp = memchr(line, ' ', len);
		int code = 0;
		if (sp) {
			size_t i = (size_t)(sp - line) + 1;
			for (int d = 0; d < 3 && i < len && line[i] >= '0' && line[i] <= '9'; d++, i++)
				code = code * 10 + (line[i] - '0');
		}
		r->http_status = code;
		return;
	}
	const char *colon = memchr(line, ':', len);
	if (!colon || colon == line)
		return;
	size_t nlen = (size_t)(colon - line);
	const char *v = colon + 1;
	size_t vlen = len - nlen - 1;
	while (vlen > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	if (name_is(line, nlen, "content-type")) {
		r->ctype_seen = true;
		/* application/grpc, application/grpc+proto, application/grpc;charset=... */
		r->ctype_grpc = vlen >= 16 && strncasecmp(v, "application/grpc", 16) == 0 &&
		                (vlen == 16 || v[16] == '+' || v[16] == ';');
		size_t k = vlen < sizeof(r->ctype) - 1 ? vlen : sizeof(r->ctype) - 1;
		memcpy(r->ctype, v, k);
		r->ctype[k] = '\0';
	} else if (name_is(line, nlen, "grpc-status")) {
		uint32_t code = 0;
		bool ok = vlen > 0 && vlen <= 9;
		for (size_t i = 0; ok && i < vlen; i++) {
			if (v[i] < '0' || v[i] > '9')
				ok = false;
			else
				code = code * 10 + (uint32_t)(v[i] - '0');
		}
		r->grpc_status_set = true;
		r->grpc_status = ok ? code : 2; /* grpc-go: a malformed status is Unknown */
	} else if (name_is(line, nlen, "grpc-message")) {
		pct_decode(v, vlen, r->grpc_message, sizeof(r->grpc_message));
	}
}

/* ---- the answer's message ---- */

int probe_grpc_body(const uint8_t *b, size_t n, uint64_t *serving, const char **why)
{
	struct gcur c = {b, n, NULL};

	*serving = 0;
	if (n < 5) {
		*why = n == 0 ? "no message" : "truncated message header";
		return -1;
	}
	if (b[0] != 0) {
		*why = b[0] == 1 ? "compressed message, none was asked for" : "bad compressed-flag";
		return -1;
	}
	uint32_t mlen = (uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 8 | b[4];
	if (mlen > n - 5) {
		*why = "truncated message";
		return -1;
	}
	if (mlen < n - 5) {
		*why = "more than one message";
		return -1;
	}
	c.p = b + 5;
	c.n = mlen;
	while (c.n > 0 && !c.err) {
		uint64_t key = gcur_varint(&c);
		uint64_t field = key >> 3;
		if (c.err)
			break;
		if (field == 0 || field > 536870911u) {
			c.err = "bad field number";
			break;
		}
		switch (key & 7) {
		case 0: {
			uint64_t v = gcur_varint(&c);
			if (field == 1)
				*serving = v; /* proto3: the last one wins */
			break;
		}
		case 1:
			gcur_skip(&c, 8);
			break;
		case 2:
			gcur_skip(&c, gcur_varint(&c));
			break;
		case 5:
			gcur_skip(&c, 4);
			break;
		default:
			c.err = "bad wire type";
		}
		if (field == 1 && (key & 7) != 0 && !c.err)
			c.err = "status is not a varint";
	}
	if (c.err) {
		*why = c.err;
		*serving = 0;
		return -1;
	}
	return 0;
}

/* ---- texts ---- */

const char *probe_http_status_text(int code)
{
	static const struct {
		int code;
		const char *text;
	} t[] = {
	    {100, "Continue"}, {101, "Switching Protocols"}, {200, "OK"}, {201, "Created"},
	    {202, "Accepted"}, {203, "Non-Authoritative Information"}, {204, "No Content"},
	    {205, "Reset Content"}, {206, "Partial Content"}, {300, "Multiple Choices"},
	    {301, "Moved Permanently"}, {302, "Found"}, {303, "See Other"}, {304, "Not Modified"},
	    {307, "Temporary Redirect"}, {308, "Permanent Redirect"}, {400, "Bad Request"},
	    {401, "Unauthorized"}, {402, "Payment Required"}, {403, "Forbidden"},
	    {404, "Not Found"}, {405, "Method Not Allowed"}, {406, "Not Acceptable"},
	    {408, "Request Timeout"}, {409, "Conflict"}, {410, "Gone"}, {411, "Length Required"},
	    {412, "Precondition Failed"}, {413, "Request Entity Too Large"},
	    {414, "Request URI Too Long"}, {415, "Unsupported Media Type"},
	    {418, "I'm a teapot"}, {421, "Misdirected Request"}, {422, "Unprocessable Entity"},
	    {425, "Too Early"}, {426, "Upgrade Required"}, {428, "Precondition Required"},
	    {429, "Too Many Requests"}, {431, "Request Header Fields Too Large"},
	    {451, "Unavailable For Legal Reasons"}, {500, "Internal Server Error"},
	    {501, "Not Implemented"}, {502, "Bad Gateway"}, {503, "Service Unavailable"},
	    {504, "Gateway Timeout"}, {505, "HTTP Version Not Supported"},
	    {507, "Insufficient Storage"}, {511, "Network Authentication Required"},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (t[i].code == code)
			return t[i].text;
	return "";
}

const char *probe_grpc_code_name(uint32_t code, char buf[24])
{
	static const char *const names[] = {
	    "OK",        "Canceled",          "Unknown",          "InvalidArgument",
	    "DeadlineExceeded", "NotFound",   "AlreadyExists",    "PermissionDenied",
	    "ResourceExhausted", "FailedPrecondition", "Aborted", "OutOfRange",
	    "Unimplemented", "Internal",      "Unavailable",      "DataLoss",
	    "Unauthenticated",
	};

	if (code < sizeof(names) / sizeof(names[0]))
		return names[code];
	snprintf(buf, 24, "Code(%u)", code);
	return buf;
}

/* grpc-go's status for a non-200 answer (internal/transport/http_util.go HTTPStatusConvTab). */
static uint32_t http_to_grpc(int status)
{
	switch (status) {
	case 400:
		return 13; /* Internal */
	case 401:
		return 16; /* Unauthenticated */
	case 403:
		return 7; /* PermissionDenied */
	case 404:
		return 12; /* Unimplemented */
	case 429:
	case 502:
	case 503:
	case 504:
		return 14; /* Unavailable */
	default:
		return 2; /* Unknown */
	}
}

static size_t put(char *out, size_t cap, const char *fmt, const char *a, const char *b)
{
	int k = snprintf(out, cap, fmt, a, b);

	if (k < 0) {
		out[0] = '\0';
		return 0;
	}
	return (size_t)k < cap ? (size_t)k : cap - 1;
}

enum probe_status probe_grpc_verdict(const struct probe_grpc_resp *r, const uint8_t *body, size_t n,
                                     const char *target, char *out, size_t cap, size_t *len)
{
	char cb[24], desc[PROBE_GRPC_MSG_MAX + 128];

	if (r->http_status != 200) {
		snprintf(desc, sizeof(desc),
		         "unexpected HTTP status code received from server: %d (%s)", r->http_status,
		         probe_http_status_text(r->http_status));
		*len = put(out, cap, "rpc error: code = %s desc = %s",
		           probe_grpc_code_name(http_to_grpc(r->http_status), cb), desc);
		return PROBE_CRITICAL;
	}
	if (r->ctype_seen && !r->ctype_grpc) {
		snprintf(desc, sizeof(desc), "transport: received unexpected content-type \"%s\"",
		         r->ctype);
		*len = put(out, cap, "rpc error: code = %s desc = %s", "Unknown", desc);
		return PROBE_CRITICAL;
	}
	if (!r->grpc_status_set) {
		*len = put(out, cap, "rpc error: code = %s desc = %s", "Internal",
		           "server closed the stream without sending trailers");
		return PROBE_CRITICAL;
	}
	if (r->grpc_status != 0) {
		*len = put(out, cap, "rpc error: code = %s desc = %s",
		           probe_grpc_code_name(r->grpc_status, cb), r->grpc_message);
		return PROBE_CRITICAL;
	}
	uint64_t serving;
	const char *why;
	if (probe_grpc_body(body, n, &serving, &why) != 0) {
		snprintf(desc, sizeof(desc), "grpc: failed to unmarshal the received message: %s", why);
		*len = put(out, cap, "rpc error: code = %s desc = %s", "Internal", desc);
		return PROBE_CRITICAL;
	}
	if (serving == 1) {
		*len = put(out, cap, "gRPC check %s: success%s", target, "");
		return PROBE_PASSING;
	}
	static const char *const st[] = {"UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"};
	char num[24];
	const char *name = st[0];
	if (serving < 4) {
		name = st[serving];
	} else {
		snprintf(num, sizeof(num), "%llu", (unsigned long long)serving);
		name = num;
	}
	*len = put(out, cap, "gRPC %s serving status: %s", target, name);
	return PROBE_CRITICAL;
}
