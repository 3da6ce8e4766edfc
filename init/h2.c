/* HTTP/2 (RFC 9113) for the gRPC health probe: the client's side of one
 * connection with one stream (1), over cleartext with prior knowledge (3.3).
 * h2_start writes everything the client sends up front (preface, SETTINGS,
 * HEADERS, DATA); h2_feed takes the server's bytes as they arrive, in any
 * split, and queues what the client must answer (SETTINGS ACK, PING ACK,
 * WINDOW_UPDATE) in c->out for the caller to send.  No I/O here: the unit
 * tests and the fuzz target feed recorded bytes.  Anything a conforming
 * server would not send ends the probe with the reason in c->err. */
#include "init.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum { F_DATA, F_HEADERS, F_PRIORITY, F_RST, F_SETTINGS, F_PUSH, F_PING, F_GOAWAY, F_WINDOW,
       F_CONT };
enum { FL_END_STREAM = 0x1, FL_ACK = 0x1, FL_END_HEADERS = 0x4, FL_PADDED = 0x8,
       FL_PRIORITY = 0x20 };
#define H2_WINDOW 65535 /* 6.9.2: the initial windows, which we keep */

static const char *const h2_codes[] = {
	"NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT",
	"STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR",
	"CONNECT_ERROR", "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED",
};

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int h2_fail(struct h2_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int h2_fail(struct h2_conn *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof c->err, fmt, ap);
	va_end(ap);
	c->state = -1;
	return -1;
}

static size_t h2_put(uint8_t *b, int type, int flags, uint32_t sid, const void *p, size_t len)
{
	const uint8_t h[9] = { (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len,
	                       (uint8_t)type, (uint8_t)flags, (uint8_t)(sid >> 24),
	                       (uint8_t)(sid >> 16), (uint8_t)(sid >> 8), (uint8_t)sid };
	memcpy(b, h, 9);
	if (len)
		memcpy(b + 9, p, len);
	return 9 + len;
}

/* Queue a frame to send; KEEP bytes stay free for the WINDOW_UPDATEs that
 * h2_feed adds last.  Returns -1 when there is no room. */
static int h2_queue(struct h2_conn *c, int type, int flags, uint32_t sid, const void *p, size_t len,
                    size_t keep)
{
	if (c->outlen + 9 + len + keep > sizeof c->out)
		return -1;
	c->outlen += h2_put(c->out + c->outlen, type, flags, sid, p, len);
	return 0;
}

void h2_init(struct h2_conn *c, hpack_emit emit, void *ctx)
{
	/* Only the head: the buffers need no zeroing, and each page not
	 * touched is one fault fewer in the probe child (see grpc_probe). */
	memset(c, 0, offsetof(struct h2_conn, out));
	c->err[0] = 0;
	hpack_init(&c->hp);
	c->emit = emit;
	c->ctx = ctx;
	c->window = c->swindow = H2_WINDOW;
}

size_t h2_start(uint8_t *b, size_t room, const uint8_t *hdrs, size_t hl, const uint8_t *data,
                size_t dl)
{
	/* 3.4: the preface, then our SETTINGS: push off (a client that never
	 * accepts pushes says so, 8.4), everything else at its default. */
	static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	static const uint8_t settings[] = { 0, 2, 0, 0, 0, 0 };
	if (24 + 9 + sizeof settings + 9 + hl + 9 + dl > room || hl > H2_FRAME_MAX ||
	    dl > H2_FRAME_MAX)
		return 0;
	memcpy(b, preface, 24);
	size_t n = 24;
	n += h2_put(b + n, F_SETTINGS, 0, 0, settings, sizeof settings);
	n += h2_put(b + n, F_HEADERS, FL_END_HEADERS, 1, hdrs, hl);
	n += h2_put(b + n, F_DATA, FL_END_STREAM, 1, data, dl);
	return n;
}

/* An HTTP/1 server answers the preface with text, a status line (often 400
 * or 505) or a bare error page: the reason a user can act on, not a frame
 * size error.  (A SETTINGS frame starts with two zero bytes.) */
static int h2_http1(struct h2_conn *c, int eof)
{
	size_t n = c->flen;
	if (!eof && n < 80 && !memchr(c->frame, '\n', n))
		return 0;
	char line[84];
	size_t i;
	for (i = 0; i < n && i < 80 && c->frame[i] != '\r' && c->frame[i] != '\n'; i++)
		line[i] = c->frame[i] >= 32 && c->frame[i] < 127 ? (char)c->frame[i] : '?';
	line[i] = 0;
	return h2_fail(c, "not an HTTP/2 (h2c) server: it answered with text, as HTTP/1 servers "
	               "do: `%s`", line);
}

/* A whole header block (HEADERS and any CONTINUATION) is in c->block. */
static int h2_block(struct h2_conn *c)
{
	char err[INIT_ERRLEN];
	if (hpack_decode(&c->hp, c->block, c->blen, c->emit, c->ctx, err) < 0)
		return h2_fail(c, "%s", err);
	/* gRPC (PROTOCOL-HTTP2.md): headers, the messages, then trailers,
	 * which end the stream; or trailers only. */
	if (++c->nblocks == 2 && !c->block_end)
		return h2_fail(c, "protocol error: trailers without END_STREAM");
	if (c->block_end)
		c->state = 1;
	return c->state;
}

/* Strip the padding (and HEADERS' priority fields) from a frame's payload. */
static int h2_unpad(struct h2_conn *c, int flags, int prio, const uint8_t **p, size_t *len)
{
	size_t pad = 0;
	if (flags & FL_PADDED) {
		if (*len < 1)
			return h2_fail(c, "frame size error: a padded frame with no pad length");
		pad = **p;
		(*p)++, (*len)--;
	}
	if (prio) {
		if (*len < 5)
			return h2_fail(c, "frame size error: HEADERS too short for its priority");
		*p += 5, *len -= 5;
	}
	if (pad > *len)
		return h2_fail(c, "protocol error: padding longer than the frame");
	*len -= pad;
	return 0;
}

static int h2_frame(struct h2_conn *c)
{
	const uint8_t *f = c->frame, *p = f + 9;
	size_t len = c->flen - 9;
	int type = f[3], flags = f[4];
	uint32_t sid = be32(f + 5) & 0x7fffffff;

	/* 6.10: nothing may come between HEADERS and its CONTINUATIONs. */
	if (c->in_block && (type != F_CONT || sid != 1))
		return h2_fail(c, "protocol error: frame type %d inside a header block", type);
	/* 3.4: the server's preface is a SETTINGS frame. */
	if (!c->settings && type != F_SETTINGS)
		return h2_fail(c, "not an HTTP/2 (h2c) server: its first frame is not SETTINGS "
		               "(a TLS-only or HTTP/1 port?)");
	switch (type) {
	case F_SETTINGS:
		if (sid)
			return h2_fail(c, "protocol error: SETTINGS on stream %u", sid);
		if (flags & FL_ACK)
			return len ? h2_fail(c, "frame size error: SETTINGS ACK with a payload") : 0;
		if (len % 6)
			return h2_fail(c, "frame size error: SETTINGS of %zu bytes", len);
		for (size_t i = 0; i < len; i += 6) {
			unsigned id = (unsigned)p[i] << 8 | p[i + 1];
			uint32_t v = be32(p + i + 2);
			/* 6.5.2: the values a server may not send */
			if ((id == 2 && v > 1) || (id == 4 && v > 0x7fffffff) ||
			    (id == 5 && (v < 16384 || v > 16777215)))
				return h2_fail(c, "protocol error: invalid SETTINGS %u = %u", id, v);
		}
		c->settings = 1;
		if (h2_queue(c, F_SETTINGS, FL_ACK, 0, NULL, 0, 26) < 0)
			return h2_fail(c, "the server sent SETTINGS faster than they can be acknowledged");
		return 0;
	case F_PING:
		if (sid || len != 8)
			return h2_fail(c, "protocol error: PING on stream %u with %zu bytes", sid, len);
		/* 6.7: answered while there is room; a flood is only ignored. */
		if (!(flags & FL_ACK))
			(void)h2_queue(c, F_PING, FL_ACK, 0, p, 8, 26);
		return 0;
	case F_GOAWAY: {
		if (sid || len < 8)
			return h2_fail(c, "protocol error: malformed GOAWAY");
		uint32_t code = be32(p + 4);
		char dbg[64];
		size_t i, dl = len - 8;
		for (i = 0; i < dl && i < sizeof dbg - 1; i++)
			dbg[i] = p[8 + i] >= 32 && p[8 + i] < 127 ? (char)p[8 + i] : '?';
		dbg[i] = 0;
		return h2_fail(c, "the server closed the connection: GOAWAY %s%s%s",
		               code < 14 ? h2_codes[code] : "(unknown error code)", i ? ": " : "", dbg);
	}
	case F_RST: {
		if (len != 4 || !sid)
			return h2_fail(c, "protocol error: malformed RST_STREAM");
		uint32_t code = be32(p);
		return h2_fail(c, "the server reset the stream: RST_STREAM %s",
		               code < 14 ? h2_codes[code] : "(unknown error code)");
	}
	case F_WINDOW:
		/* 6.9: we have nothing left to send; only check the frame. */
		if (len != 4 || !(be32(p) & 0x7fffffff))
			return h2_fail(c, "protocol error: malformed WINDOW_UPDATE");
		return 0;
	case F_PRIORITY:
		return len == 5 ? 0 : h2_fail(c, "frame size error: PRIORITY of %zu bytes", len);
	case F_PUSH:
		return h2_fail(c, "protocol error: PUSH_PROMISE although push is disabled");
	case F_DATA: case F_HEADERS: case F_CONT:
		break;
	default: /* 5.5: unknown frame types are ignored */
		return 0;
	}
	if (sid != 1)
		return h2_fail(c, "protocol error: frame type %d on stream %u, not ours", type, sid);
	if (type == F_DATA) {
		/* 6.9.1: the whole payload, padding included, counts. */
		c->window -= (int64_t)len;
		c->swindow -= (int64_t)len;
		if (c->window < 0 || c->swindow < 0)
			return h2_fail(c, "flow control error: the server sent more than the window");
		c->credit += len;
		if (!c->nblocks)
			return h2_fail(c, "protocol error: DATA before the response headers");
		if (h2_unpad(c, flags, 0, &p, &len) < 0)
			return -1;
		size_t keep = len < H2_BODY_MAX - c->bodylen ? len : H2_BODY_MAX - c->bodylen;
		memcpy(c->body + c->bodylen, p, keep);
		c->bodylen += keep;
		c->body_total += len;
		if (flags & FL_END_STREAM)
			c->state = 1;
		return c->state;
	}
	if (type == F_HEADERS) {
		if (c->nblocks >= 2)
			return h2_fail(c, "protocol error: HEADERS after the trailers");
		if (h2_unpad(c, flags, flags & FL_PRIORITY, &p, &len) < 0)
			return -1;
		c->blen = 0;
		c->block_end = flags & FL_END_STREAM;
	} else if (!c->in_block) {
		return h2_fail(c, "protocol error: CONTINUATION without HEADERS");
	}
	if (len > sizeof c->block - c->blen)
		return h2_fail(c, "header block larger than %zu bytes", sizeof c->block);
	memcpy(c->block + c->blen, p, len);
	c->blen += len;
	c->in_block = !(flags & FL_END_HEADERS);
	return c->in_block ? 0 : h2_block(c);
}

int h2_feed(struct h2_conn *c, const uint8_t *p, size_t n)
{
	while (n && !c->state) {
		size_t want = c->flen < 9 ? 9 : 9 + ((size_t)c->frame[0] << 16 |
		                                     (size_t)c->frame[1] << 8 | c->frame[2]);
		if (c->http1)
			want = sizeof c->frame;
		size_t take = want - c->flen < n ? want - c->flen : n;
		memcpy(c->frame + c->flen, p, take);
		c->flen += take, p += take, n -= take;
		c->received += take;
		if (c->http1) {
			h2_http1(c, c->flen == sizeof c->frame);
			continue;
		}
		size_t text = 0;
		while (text < c->flen && ((c->frame[text] >= 32 && c->frame[text] < 127) ||
		                          c->frame[text] == '\r' || c->frame[text] == '\n'))
			text++;
		if (c->flen == 9 && !c->settings && text == 9) {
			c->http1 = 1;
			h2_http1(c, 0);
			continue;
		}
		if (c->flen < 9)
			continue;
		want = 9 + ((size_t)c->frame[0] << 16 | (size_t)c->frame[1] << 8 | c->frame[2]);
		if (want - 9 > H2_FRAME_MAX) /* 4.2: we keep the default */
			return h2_fail(c, "frame size error: a frame of %zu bytes (at most %d)",
			               want - 9, H2_FRAME_MAX);
		if (c->flen == want) {
			h2_frame(c);
			c->flen = 0;
		}
	}
	/* 6.9: give back what the DATA frames used, once per read, so that a
	 * response bigger than the initial window keeps coming. */
	if (!c->state && c->credit) {
		uint8_t inc[4] = { (uint8_t)(c->credit >> 24), (uint8_t)(c->credit >> 16),
		                   (uint8_t)(c->credit >> 8), (uint8_t)c->credit };
		h2_queue(c, F_WINDOW, 0, 0, inc, 4, 0);
		h2_queue(c, F_WINDOW, 0, 1, inc, 4, 0);
		c->window += c->credit;
		c->swindow += c->credit;
		c->credit = 0;
	}
	return c->state;
}

int h2_eof(struct h2_conn *c)
{
	if (c->state)
		return c->state;
	if (c->http1)
		return h2_http1(c, 1);
	if (!c->received)
		return h2_fail(c, "the server closed the connection without sending anything");
	return h2_fail(c, "the server closed the connection before %s", h2_waiting(c));
}

const char *h2_waiting(const struct h2_conn *c)
{
	return !c->received ? "its HTTP/2 SETTINGS (it sent nothing)" :
	       !c->settings ? "its HTTP/2 SETTINGS" : !c->nblocks ? "the response headers" :
	       "the end of the response";
}
