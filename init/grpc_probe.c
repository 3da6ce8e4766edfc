/* The gRPC health check (grpc.health.v1.Health/Check, grpc's
 * doc/health-checking.md), as Kubernetes' gRPC probe makes it: HTTP/2 over
 * cleartext with prior knowledge (h2.c), one unary call whose request is
 * HealthCheckRequest{service}, healthy only for grpc-status 0 with
 * HealthCheckResponse{status: SERVING}.  grpc_request and grpc_result are
 * pure (the unit tests and the fuzz target use them on recorded bytes);
 * grpc_probe adds the socket, in the probe child, bounded in bytes and
 * time. */
#include "init.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define GRPC_MAX_READ (1 << 20) /* what a health answer may take, at most */

static const char *const grpc_codes[] = {
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
	"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
	"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
	"UNAUTHENTICATED",
};
/* HealthCheckResponse.ServingStatus */
static const char *const grpc_serving[] = { "UNKNOWN", "SERVING", "NOT_SERVING",
	                                    "SERVICE_UNKNOWN" };

static int grpc_number(const char *v, size_t vl)
{
	int n = 0;
	if (!vl || vl > 6)
		return 999999;
	for (size_t i = 0; i < vl; i++) {
		if (v[i] < '0' || v[i] > '9')
			return 999999;
		n = n * 10 + (v[i] - '0');
	}
	return n;
}

static int grpc_hex(char ch)
{
	return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 :
	       ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* Printable, bounded copy; grpc-message is percent-encoded (PROTOCOL-HTTP2.md). */
static void grpc_copy(char *dst, size_t room, const char *v, size_t vl, int pct)
{
	size_t o = 0;
	for (size_t i = 0; i < vl && o < room - 1; i++) {
		unsigned ch = (unsigned char)v[i];
		if (pct && ch == '%' && i + 2 < vl && grpc_hex(v[i + 1]) >= 0 && grpc_hex(v[i + 2]) >= 0)
			ch = (unsigned)(grpc_hex(v[i + 1]) << 4 | grpc_hex(v[i + 2])), i += 2;
		dst[o++] = ch >= 32 && ch < 127 ? (char)ch : '?';
	}
	dst[o] = 0;
}

static void grpc_header(void *ctx, const char *n, size_t nl, const char *v, size_t vl)
{
	struct grpc_call *g = ctx;
#define IS(s) (nl == sizeof s - 1 && !memcmp(n, s, nl))
	if (IS(":status"))
		g->http_status = grpc_number(v, vl);
	else if (IS("grpc-status"))
		g->grpc_status = grpc_number(v, vl);
	else if (IS("content-type"))
		grpc_copy(g->ctype, sizeof g->ctype, v, vl, 0);
	else if (IS("grpc-message"))
		grpc_copy(g->message, sizeof g->message, v, vl, 1);
#undef IS
}

void grpc_call_init(struct grpc_call *g)
{
	h2_init(&g->h2, grpc_header, g);
	g->http_status = g->grpc_status = -1;
	g->ctype[0] = g->message[0] = 0;
}

size_t grpc_request(uint8_t *buf, size_t room, const char *authority, const char *service)
{
	uint8_t h[700], d[5 + 3 + GRPC_SERVICE_MAX];
	size_t n = 0, m = 5, sl = strlen(service), k;
	if (strlen(authority) > 300 || sl > GRPC_SERVICE_MAX)
		return 0;
	h[n++] = 0x80 | 3; /* :method POST, static index 3 */
	h[n++] = 0x80 | 6; /* :scheme http */
	/* literals named by static index: :path 4, :authority 1,
	 * content-type 31, user-agent 58; te has none (8.2.2: only "trailers") */
	n += hpack_put(h + n, sizeof h - n, 4, NULL, "/grpc.health.v1.Health/Check");
	n += hpack_put(h + n, sizeof h - n, 1, NULL, authority);
	n += hpack_put(h + n, sizeof h - n, 31, NULL, "application/grpc");
	n += hpack_put(h + n, sizeof h - n, 0, "te", "trailers");
	if (!(k = hpack_put(h + n, sizeof h - n, 58, NULL, "minbase-init/" MINBASE_VERSION)))
		return 0;
	n += k;
	/* HealthCheckRequest{string service = 1}: key 0x0a, varint length,
	 * bytes (proto3 leaves out an empty string); behind the 5-byte gRPC
	 * message prefix: not compressed, big-endian length. */
	if (sl) {
		d[m++] = 0x0a;
		if (sl >= 128)
			d[m++] = (uint8_t)(sl | 0x80), sl >>= 7;
		d[m++] = (uint8_t)sl;
		memcpy(d + m, service, strlen(service));
		m += strlen(service);
	}
	d[0] = 0, d[1] = d[2] = 0, d[3] = (uint8_t)((m - 5) >> 8), d[4] = (uint8_t)(m - 5);
	return h2_start(buf, room, h, n, d, m);
}

static int pb_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; shift < 64 && *p < end; shift += 7) {
		uint8_t b = *(*p)++;
		*v |= (uint64_t)(b & 127) << shift;
		if (!(b & 128))
			return 0;
	}
	return -1;
}

/* HealthCheckResponse{ServingStatus status = 1}: the status, 0 (UNKNOWN,
 * proto3's default) when absent; unknown fields skipped; -1 if malformed. */
static int64_t pb_status(const uint8_t *p, const uint8_t *end)
{
	uint64_t status = 0, key, v;
	while (p < end) {
		if (pb_varint(&p, end, &key) < 0)
			return -1;
		switch (key & 7) {
		case 0:
			if (pb_varint(&p, end, &v) < 0)
				return -1;
			if (key >> 3 == 1)
				status = v;
			break;
		case 1: case 5:
			v = (key & 7) == 1 ? 8 : 4;
			goto skip;
		case 2:
			if (pb_varint(&p, end, &v) < 0)
				return -1;
		skip:
			if (v > (uint64_t)(end - p))
				return -1;
			p += v;
			break;
		default:
			return -1;
		}
	}
	return status > 1000 ? 1000 : (int64_t)status;
}

int grpc_result(const struct grpc_call *g, char *detail, size_t dl)
{
	const uint8_t *b = g->h2.body;
	size_t bl = g->h2.bodylen;
	int gs = g->grpc_status;
	if (g->http_status != 200) {
		if (g->http_status < 0)
			snprintf(detail, dl, "no :status in the response");
		else
			snprintf(detail, dl, "HTTP status %d, not 200: not a gRPC service", g->http_status);
		return 1;
	}
	/* application/grpc, or application/grpc+proto and the like */
	if (strncmp(g->ctype, "application/grpc", 16) || (g->ctype[16] && g->ctype[16] != '+' &&
	                                                  g->ctype[16] != ';')) {
		snprintf(detail, dl, "not a gRPC response: content-type `%s`", g->ctype);
		return 1;
	}
	if (gs < 0) {
		snprintf(detail, dl, "no grpc-status in the response");
		return 1;
	}
	if (gs) {
		snprintf(detail, dl, "grpc-status %d (%s)%s%s%s", gs, gs <= 16 ? grpc_codes[gs] : "?",
		         *g->message ? ": " : "", g->message,
		         gs == 12 ? " (the server has no grpc.health.v1.Health service)" : "");
		return 1;
	}
	if (bl < 5) {
		snprintf(detail, dl, "grpc-status 0 but no response message");
		return 1;
	}
	uint32_t ml = (uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 8 | b[4];
	if (b[0] || ml > bl - 5) {
		snprintf(detail, dl, "%s response message", b[0] ? "a compressed (not asked for)" :
		         g->h2.body_total > bl ? "an oversized" : "a truncated");
		return 1;
	}
	int64_t st = pb_status(b + 5, b + 5 + ml);
	if (st < 0) {
		snprintf(detail, dl, "a malformed HealthCheckResponse");
		return 1;
	}
	if (st <= 3)
		snprintf(detail, dl, "%s", grpc_serving[st]);
	else
		snprintf(detail, dl, "unknown serving status %d", (int)st);
	return st == 1 ? 0 : 1;
}

static int grpc_send(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		/* MSG_NOSIGNAL: `minbase-init probe` does not block SIGPIPE */
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w, n -= (size_t)w;
	}
	return 0;
}

int grpc_probe(const struct health_cfg *c, char *detail, size_t dl)
{
	const char *svc = c->grpc_service ? c->grpc_service : "";
	char host[256], err[INIT_ERRLEN], what[300], why[INIT_ERRLEN] = "";
	uint8_t buf[16384];
	int port, rc = 1, fd = -1;
	snprintf(what, sizeof what, "grpc %.200s%s%.60s%s", c->target, *svc ? " service `" : "",
	         svc, *svc ? "`" : "");
	/* Fresh pages, not the heap: after the fork, heap pages the init
	 * touched are copy-on-write, and 50 KB of them were half the probe's
	 * CPU; untouched fresh pages cost nothing. */
	struct grpc_call *g = mmap(NULL, sizeof *g, PROT_READ | PROT_WRITE,
	                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g == MAP_FAILED)
		g = NULL;
	if (health_parse_hostport(c->target, host, sizeof host, &port, err) < 0 || !g) {
		snprintf(detail, dl, "%.390s", g ? err : "out of memory");
		goto out;
	}
	grpc_call_init(g);
	size_t rl = grpc_request(buf, sizeof buf, c->target, svc);
	if ((fd = health_connect(host, port, detail, dl)) < 0)
		goto out;
	if (!rl || grpc_send(fd, buf, rl) < 0) {
		snprintf(why, sizeof why, "cannot send the request: %s", strerror(errno));
		goto fail;
	}
	/* Give up a little before the init's own kill at the timeout, to say
	 * what the server left unanswered. */
	int64_t deadline = init_now_ms() + c->timeout_ms - c->timeout_ms / 10;
	size_t total = 0;
	int st = 0;
	while (!st) {
		int64_t left = deadline - init_now_ms();
		struct pollfd pf = { fd, POLLIN, 0 };
		int pr = left > 0 ? poll(&pf, 1, left > 1000000 ? 1000000 : (int)left) : 0;
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0) {
			snprintf(why, sizeof why, "no answer in %lldms, waiting for %s",
			         (long long)(c->timeout_ms - c->timeout_ms / 10), h2_waiting(&g->h2));
			goto fail;
		}
		ssize_t r = read(fd, buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(why, sizeof why, "cannot read the response: %s", strerror(errno));
			goto fail;
		}
		if ((total += (size_t)r) > GRPC_MAX_READ) {
			snprintf(why, sizeof why, "more than %d bytes without the end of the response",
			         GRPC_MAX_READ);
			goto fail;
		}
		st = r ? h2_feed(&g->h2, buf, (size_t)r) : h2_eof(&g->h2);
		/* A failed send shows up as the server's close on the next read. */
		if (g->h2.outlen)
			(void)grpc_send(fd, g->h2.out, g->h2.outlen);
		g->h2.outlen = 0;
	}
	if (st < 0)
		snprintf(why, sizeof why, "%s", g->h2.err);
	else
		rc = grpc_result(g, why, sizeof why);
fail:
	snprintf(detail, dl, "%s: %s", what, why);
out:
	if (fd >= 0)
		close(fd);
	if (g)
		munmap(g, sizeof *g);
	return rc;
}
