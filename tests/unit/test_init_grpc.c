/* minbase-init's gRPC health probe without a socket: HPACK against RFC
 * 7541's own examples (Appendix C: Huffman and not, dynamic table,
 * eviction), and the HTTP/2 + gRPC reader against responses recorded from
 * grpc-go 1.33's health server (google.golang.org/grpc/health, Debian's
 * golang-google-grpc-dev, tests/examples/grpc-health), fed whole, byte by
 * byte and split at every offset; then hand-made frames for what that
 * server does not send: CONTINUATION, padding, flow control past the
 * initial window, GOAWAY, RST_STREAM, malformed frames, HTTP/1 text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_init_fakesys.h"

static size_t unhex(const char *s, uint8_t *out, size_t max)
{
	size_t n = 0;
	for (; *s && n < max; s++) {
		if (*s == ' ' || *s == '\n')
			continue;
		unsigned v;
		assert_int_equal(sscanf(s, "%2x", &v), 1);
		out[n++] = (uint8_t)v, s++;
	}
	return n;
}

/* ---- HPACK ---------------------------------------------------------------- */
struct fields { int n; char f[16][200]; };

static void collect(void *ctx, const char *n, size_t nl, const char *v, size_t vl)
{
	struct fields *fs = ctx;
	assert_true(fs->n < 16);
	snprintf(fs->f[fs->n++], 200, "%.*s: %.*s", (int)nl, n, (int)vl, v);
}

static void decode_ok(struct hpack *h, const char *hex, const char *const *want, size_t size)
{
	uint8_t b[512];
	char err[INIT_ERRLEN] = "";
	struct fields fs = { 0 };
	size_t n = unhex(hex, b, sizeof b);
	if (hpack_decode(h, b, n, collect, &fs, err) < 0)
		fail_msg("decode failed: %s", err);
	int i = 0;
	for (; want[i]; i++) {
		assert_true(i < fs.n);
		assert_string_equal(fs.f[i], want[i]);
	}
	assert_int_equal(i, fs.n);
	assert_int_equal(h->size, size);
}

static const char huff_all[] =
	"ffc7fffd8fffffe2fffffe3fffffe4fffffe5fffffe6fffffe7fffffe8ffffea"
	"fffffff3fffffa7fffffabffffffdfffffebfffffecfffffedfffffeefffffef"
	"ffffff0ffffff1ffffff2fffffffbfffffcffffffd3fffffd7fffffdbfffffdf"
	"fffffe3fffffe7fffffebfffffed4fe3f9ffaffcabf1febfafefe7fdfd2cbb00"
	"089969b71d79fb9f7fff20ffbff3ff50ddbd7f061c58f265cd9f469d5af66ddd"
	"bf871e5f9cff7ff7fffc3ff9ffe45fff4719242cb34e6e9d68a6a3d7dac426de"
	"fe3cfaf7fffbfe7ffbffdffffffcfffe6ffff4bfff9ffffa3fffd3ffff53fffd"
	"5ffffb3fffeb7fffdaffffb7ffff73fffeeffffdeffffebffffbfffffd9ffffd"
	"bfffebffffe0ffffeeffffc3ffff8bffff1ffffe4fffee7fffb1ffff97fffd9f"
	"fffcdffff9fffffbffffdafffeeffff4ffffb7fffee7fffe8ffffd3fffdeffff"
	"d5fffeeffffbdffffe1fffdfffff7fffff5ffffecffff07fff87fffe0ffff17f"
	"ffedffff87ffff77fffeffffeaffff8bfffe3ffff93ffff87fffcbffff37ffff"
	"1fffff83ffffe1fffebfffe3ffff3fffff2ffffa3ffffd9fffff17ffffc7ffff"
	"f27ffffdefffffbffffff2fffff8fffffb7fff97fff8fffffe6fffffc1fffff8"
	"7ffffe7fffffc5ffffe5fffe4ffff2fffffd1fffff4ffffffefffffe3fffffc9"
	"fffff97fffb3ffffcffffb7fffcdffff4ffff9ffffd1ffffcffffeaffffaffff"
	"fddffffeffffff4fffff5fffffabffffa7ffffd7fffff9bffffecfffffb7ffff"
	"f3fffffe8fffffd3fffffabfffff5fffffff7ffffecfffffdbfffffbbfffff7f"
	"fffff0fffffbbf";

static void test_huffman(void **state)
{
	static const struct { const char *hex, *text; } ok[] = {
		{ "f1e3c2e5f23a6ba0ab90f4ff", "www.example.com" }, /* C.4.1 */
		{ "a8eb10649cbf", "no-cache" },
		{ "25a849e95ba97d7f", "custom-key" },
		{ "25a849e95bb8e8b4bf", "custom-value" },
		{ "6402", "302" },
		{ "9acac8b21234da8f", "grpc-status" },   /* grpc-go's trailers */
		{ "1d75d0620d263d4c4d6564", "application/grpc" },
		{ "", "" },
	};
	char out[64];
	uint8_t b[64];
	size_t n, ol;
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		n = unhex(ok[i].hex, b, sizeof b);
		assert_int_equal(hpack_huffman_decode(b, n, out, sizeof out, &ol), 0);
		assert_int_equal(ol, strlen(ok[i].text));
		assert_memory_equal(out, ok[i].text, ol);
	}
	/* 5.2: padding of 8+ bits, padding that is not EOS's ones, EOS itself,
	 * and no room for the output. */
	static const char *const bad[] = { "ffff", "00", "fffffffc", "f1e3c2e5f23a6ba0ab90f4ffff" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		n = unhex(bad[i], b, sizeof b);
		assert_int_equal(hpack_huffman_decode(b, n, out, sizeof out, &ol), -1);
	}
	n = unhex("f1e3c2e5f23a6ba0ab90f4ff", b, sizeof b);
	assert_int_equal(hpack_huffman_decode(b, n, out, 14, &ol), -1);
	/* The whole table: bytes 0..255 in order, coded with Appendix B's
	 * codes (taken from golang.org/x/net/http2/hpack's tables.go). */
	uint8_t all[600];
	char dec[300];
	n = unhex(huff_all, all, sizeof all);
	assert_int_equal(n, 583);
	assert_int_equal(hpack_huffman_decode(all, n, dec, sizeof dec, &ol), 0);
	assert_int_equal(ol, 256);
	for (int i = 0; i < 256; i++)
		assert_int_equal((unsigned char)dec[i], i);
}

/* C.3 (no Huffman) and C.4 (Huffman): three requests on one connection,
 * the dynamic table growing; C.5 and C.6: responses with a 256-byte table,
 * entries evicted. */
static void test_hpack_rfc_examples(void **state)
{
	struct hpack *h = calloc(1, sizeof *h);
	static const char *const r1[] = { ":method: GET", ":scheme: http", ":path: /",
	                                  ":authority: www.example.com", NULL };
	static const char *const r2[] = { ":method: GET", ":scheme: http", ":path: /",
	                                  ":authority: www.example.com", "cache-control: no-cache",
	                                  NULL };
	static const char *const r3[] = { ":method: GET", ":scheme: https", ":path: /index.html",
	                                  ":authority: www.example.com", "custom-key: custom-value",
	                                  NULL };
	for (int huff = 0; huff < 2; huff++) {
		hpack_init(h);
		decode_ok(h, huff ? "828684418cf1e3c2e5f23a6ba0ab90f4ff"
		                  : "828684410f7777772e6578616d706c652e636f6d", r1, 57);
		decode_ok(h, huff ? "828684be5886a8eb10649cbf" : "828684be58086e6f2d6361636865", r2,
		          110);
		decode_ok(h, huff ? "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf"
		                  : "828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565",
		          r3, 164);
	}
	static const char *const s1[] = { ":status: 302", "cache-control: private",
	                                  "date: Mon, 21 Oct 2013 20:13:21 GMT",
	                                  "location: https://www.example.com", NULL };
	static const char *const s2[] = { ":status: 307", "cache-control: private",
	                                  "date: Mon, 21 Oct 2013 20:13:21 GMT",
	                                  "location: https://www.example.com", NULL };
	static const char *const s3[] = {
		":status: 200", "cache-control: private", "date: Mon, 21 Oct 2013 20:13:22 GMT",
		"location: https://www.example.com", "content-encoding: gzip",
		"set-cookie: foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1", NULL };
	for (int huff = 0; huff < 2; huff++) {
		hpack_init(h);
		h->max = 256;
		decode_ok(h, huff ? "488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a6"
		                    "2d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3"
		                  : "4803333032580770726976617465611d4d6f6e2c203231204f63742032303133"
		                    "2032303a31333a323120474d546e1768747470733a2f2f7777772e6578616d70"
		                    "6c652e636f6d", s1, 222);
		decode_ok(h, huff ? "4883640effc1c0bf" : "4803333037c1c0bf", s2, 222);
		decode_ok(h, huff ? "88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab"
		                    "77ad94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f"
		                    "9587316065c003ed4ee5b1063d5007"
		                  : "88c1611d4d6f6e2c203231204f637420323031332032303a31333a323220474d"
		                    "54c05a04677a69707738666f6f3d4153444a4b48514b425a584f5157454f5049"
		                    "5541585157454f49553b206d61782d6167653d333630303b2076657273696f6e"
		                    "3d31", s3, 215);
		assert_int_equal(h->n, 3); /* set-cookie, content-encoding, date */
	}
	/* A size update (to 0: everything evicted) at the start of a block,
	 * then indexing works again; one after a field is an error. */
	static const char *const none[] = { NULL };
	hpack_init(h);
	decode_ok(h, "828684410f7777772e6578616d706c652e636f6d", r1, 57);
	decode_ok(h, "20", none, 0);
	assert_int_equal(h->n, 0);
	uint8_t b[64];
	char err[INIT_ERRLEN];
	struct fields fs = { 0 };
	size_t n = unhex("3fe11f", b, sizeof b); /* back to 4096 */
	assert_int_equal(hpack_decode(h, b, n, collect, &fs, err), 0);
	n = unhex("8220", b, sizeof b);
	assert_int_equal(hpack_decode(h, b, n, collect, &fs, err), -1);
	n = unhex("3fe21f", b, sizeof b); /* 4097: above our setting */
	assert_int_equal(hpack_decode(h, b, n, collect, &fs, err), -1);
	/* Bad indexes, truncated strings and integers. */
	static const char *const bad[] = { "80", "be", "c0", "ff", "ff80808080", "4005", "0085ffff",
	                                   "410f7777", "0f" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		hpack_init(h);
		n = unhex(bad[i], b, sizeof b);
		fs.n = 0;
		if (hpack_decode(h, b, n, collect, &fs, err) == 0)
			fail_msg("`%s` decoded", bad[i]);
		assert_non_null(strstr(err, "malformed header block"));
	}
	/* 4.4: inserting an entry whose name is the entry it evicts. */
	hpack_init(h);
	h->max = 32 + 3 + 3;
	fs.n = 0;
	n = unhex("4003666f6f03626172" "7e03717578", b, sizeof b); /* foo: bar, then [62]: qux */
	assert_int_equal(hpack_decode(h, b, n, collect, &fs, err), 0);
	assert_string_equal(fs.f[1], "foo: qux");
	assert_int_equal(h->n, 1);
	assert_memory_equal(h->buf, "fooqux", 6);
	/* An entry larger than the table empties it. */
	n = unhex("4004666f6f6f03626172", b, sizeof b);
	assert_int_equal(hpack_decode(h, b, n, collect, &fs, err), 0);
	assert_int_equal(h->n, 0);
	assert_int_equal(h->size, 0);
	free(h);
}

/* ---- HTTP/2 + gRPC on recorded responses ------------------------------- */
/* grpc-go 1.33 health server, answering Check: overall SERVING; service
 * `foo` NOT_SERVING; an unknown service (a trailers-only response, all
 * strings Huffman-coded, NOT_FOUND). SETTINGS, SETTINGS ACK, WINDOW_UPDATE,
 * PING (its BDP estimator), HEADERS, DATA, HEADERS. */
static const char rec_serving[] =
	"0000060400000000000005000040000000000401000000000000040800000000"
	"000000000500000806000000000002041010090e070700000e01040000000188"
	"5f8b1d75d0620d263d4c4d656400000700000000000100000000020801000018"
	"01050000000140889acac8b21234da8f013040899acac8b5254207317f00";
static const char rec_notserving[] =
	"0000060400000000000005000040000000000401000000000000040800000000"
	"000000000a00000806000000000002041010090e070700000e01040000000188"
	"5f8b1d75d0620d263d4c4d656400000700000000000100000000020802000018"
	"01050000000140889acac8b21234da8f013040899acac8b5254207317f00";
static const char rec_unknown[] =
	"0000060400000000000005000040000000000401000000000000040800000000"
	"000000000b00000806000000000002041010090e070700003101050000000188"
	"5f8b1d75d0620d263d4c4d656440889acac8b21234da8f013540899acac8b525"
	"4207317f8bb6aeb51fc54a20b677310b";

struct run { int st, rc; char detail[400]; size_t out; uint8_t outb[4096]; };

/* Feed B in pieces of CHUNK bytes (0: at SPLIT, in two), as reads would
 * bring them, collecting what the client sends back. */
static void feed(const uint8_t *b, size_t n, size_t chunk, size_t split, struct run *r)
{
	struct grpc_call *g = calloc(1, sizeof *g);
	grpc_call_init(g);
	memset(r, 0, sizeof *r);
	size_t off = 0;
	while (off < n && !r->st) {
		size_t k = chunk ? (n - off < chunk ? n - off : chunk) : off ? n - off : split;
		r->st = h2_feed(&g->h2, b + off, k);
		off += k;
		assert_true(g->h2.outlen <= sizeof g->h2.out);
		if (r->out + g->h2.outlen <= sizeof r->outb)
			memcpy(r->outb + r->out, g->h2.out, g->h2.outlen);
		r->out += g->h2.outlen;
		g->h2.outlen = 0;
	}
	if (!r->st)
		r->st = h2_eof(&g->h2);
	if (r->st < 0)
		snprintf(r->detail, sizeof r->detail, "%.399s", g->h2.err), r->rc = 1;
	else
		r->rc = grpc_result(g, r->detail, sizeof r->detail);
	free(g);
}

static void expect(const uint8_t *b, size_t n, int rc, const char *detail)
{
	struct run r;
	feed(b, n, 16384, 0, &r);
	if (r.rc != rc || !strstr(r.detail, detail))
		fail_msg("got %d `%s`, want %d `%s`", r.rc, r.detail, rc, detail);
	/* The same bytes in every split must give the same answer. */
	for (size_t s = 1; s < n; s++) {
		struct run r2;
		feed(b, n, 0, s, &r2);
		if (r2.rc != rc || strcmp(r2.detail, r.detail))
			fail_msg("split at %zu: %d `%s`, whole: `%s`", s, r2.rc, r2.detail, r.detail);
	}
	struct run r1;
	feed(b, n, 1, 0, &r1);
	assert_string_equal(r1.detail, r.detail);
}

static void test_recorded(void **state)
{
	uint8_t b[1024];
	size_t n = unhex(rec_serving, b, sizeof b);
	expect(b, n, 0, "SERVING");
	struct run r;
	feed(b, n, 16384, 0, &r);
	/* Answers: SETTINGS ACK, PING ACK with the server's payload, and a
	 * WINDOW_UPDATE pair... only if the DATA came before the end: here
	 * the stream ended in the same read, so none. */
	uint8_t want[] = { 0, 0, 0, 4, 1, 0, 0, 0, 0,
	                   0, 0, 8, 6, 1, 0, 0, 0, 0, 2, 4, 0x10, 0x10, 9, 0x0e, 7, 7 };
	assert_int_equal(r.out, sizeof want);
	assert_memory_equal(r.outb, want, sizeof want);
	n = unhex(rec_notserving, b, sizeof b);
	expect(b, n, 1, "NOT_SERVING");
	n = unhex(rec_unknown, b, sizeof b);
	expect(b, n, 1, "grpc-status 5 (NOT_FOUND): unknown service");
	/* Cut anywhere before the end: the close is reported with what was
	 * missing, never as healthy. */
	n = unhex(rec_serving, b, sizeof b);
	for (size_t cut = 0; cut < n; cut++) {
		feed(b, cut, 16384, 0, &r);
		assert_int_equal(r.rc, 1);
		assert_non_null(strstr(r.detail, "the server closed the connection "));
	}
}

/* ---- hand-made frames ----------------------------------------------------- */
static size_t frame(uint8_t *b, int type, int flags, uint32_t sid, const void *p, size_t len)
{
	b[0] = (uint8_t)(len >> 16), b[1] = (uint8_t)(len >> 8), b[2] = (uint8_t)len;
	b[3] = (uint8_t)type, b[4] = (uint8_t)flags;
	b[5] = (uint8_t)(sid >> 24), b[6] = (uint8_t)(sid >> 16), b[7] = (uint8_t)(sid >> 8);
	b[8] = (uint8_t)sid;
	memcpy(b + 9, p, len);
	return 9 + len;
}

/* HEADERS :status 200, content-type application/grpc (not Huffman,
 * indexed into the dynamic table). */
static const uint8_t hdr200[] = { 0x88, 0x5f, 16, 'a', 'p', 'p', 'l', 'i', 'c', 'a', 't', 'i',
                                  'o', 'n', '/', 'g', 'r', 'p', 'c' };
static const uint8_t msg_serving[] = { 0, 0, 0, 0, 2, 0x08, 0x01 };
static const uint8_t trailers0[] = { 0x40, 11, 'g', 'r', 'p', 'c', '-', 's', 't', 'a', 't', 'u',
                                     's', 1, '0' };

static size_t preface(uint8_t *b)
{
	return frame(b, 4, 0, 0, "", 0);
}

static void test_handmade(void **state)
{
	static uint8_t b[120000];
	uint8_t pad[300];
	size_t n;
	struct run r;

	/* CONTINUATION, padded and prioritised HEADERS, padded DATA. */
	n = preface(b);
	uint8_t h1[64] = { 3 /* pad length */, 0, 0, 0, 0, 16 /* priority */ };
	memcpy(h1 + 6, hdr200, 10);
	n += frame(b + n, 1, 0x8 | 0x20, 1, h1, 6 + 10 + 3);
	n += frame(b + n, 9, 0, 1, hdr200 + 10, 5);
	n += frame(b + n, 9, 0x4, 1, hdr200 + 15, 4);
	uint8_t d1[32] = { 5 };
	memcpy(d1 + 1, msg_serving, sizeof msg_serving);
	n += frame(b + n, 0, 0x8, 1, d1, 1 + sizeof msg_serving + 5);
	n += frame(b + n, 1, 0x5, 1, trailers0, sizeof trailers0);
	expect(b, n, 0, "SERVING");

	/* The dynamic table across blocks: the headers add `grpc-status: 9`
	 * ([62]; content-type is [63] then); the trailers name [62] with the
	 * value 0 (0x7e: literal, indexed name 62).  Only a decoder that kept
	 * the entry sees grpc-status 0. */
	n = preface(b);
	uint8_t hx[64];
	memcpy(hx, hdr200, sizeof hdr200);
	memcpy(hx + sizeof hdr200, trailers0, sizeof trailers0);
	hx[sizeof hdr200 + sizeof trailers0 - 1] = '9';
	n += frame(b + n, 1, 0x4, 1, hx, sizeof hdr200 + sizeof trailers0);
	n += frame(b + n, 0, 0, 1, msg_serving, sizeof msg_serving);
	n += frame(b + n, 1, 0x5, 1, "\x7e\x01" "0", 3);
	expect(b, n, 0, "SERVING");
	n -= 3 + 9;
	/* [63] is content-type: the trailers replace it */
	n += frame(b + n, 1, 0x5, 1, "\x7f\x00\x01" "0", 4);
	expect(b, n, 1, "not a gRPC response: content-type `0`");

	/* Flow control: 300 padded DATA frames of 255 padding each (76 KB of
	 * window, more than the initial 65535) around the 7-byte message. */
	n = preface(b);
	n += frame(b + n, 1, 0x4, 1, hdr200, sizeof hdr200);
	memset(pad, 0, sizeof pad);
	pad[0] = 255;
	for (int i = 0; i < 300; i++)
		n += frame(b + n, 0, 0x8, 1, pad, 256);
	n += frame(b + n, 0, 0, 1, msg_serving, sizeof msg_serving);
	n += frame(b + n, 1, 0x5, 1, trailers0, sizeof trailers0);
	feed(b, n, 16384, 0, &r);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.detail, "SERVING");
	/* ...WINDOW_UPDATEs went out, for the connection and for stream 1 */
	int wu0 = 0, wu1 = 0;
	for (size_t i = 0; i + 13 <= r.out && i + 13 <= sizeof r.outb;) {
		size_t len = (size_t)r.outb[i] << 16 | r.outb[i + 1] << 8 | r.outb[i + 2];
		if (r.outb[i + 3] == 8)
			r.outb[i + 8] ? wu1++ : wu0++;
		i += 9 + len;
	}
	assert_true(wu0 >= 1 && wu0 == wu1);
	/* ...and a server that ignores the window (all of it in one read,
	 * before any update could reach it) is refused. */
	feed(b, n, sizeof b, 0, &r);
	assert_non_null(strstr(r.detail, "flow control error"));

	/* gRPC answers that are not SERVING. */
	static const struct { uint8_t t[40]; size_t tl; const char *want; } st[] = {
		{ { 0x88, 0x5f, 16, 'a', 'p', 'p', 'l', 'i', 'c', 'a', 't', 'i', 'o', 'n', '/', 'g',
		    'r', 'p', 'c', 0x40, 11, 'g', 'r', 'p', 'c', '-', 's', 't', 'a', 't', 'u', 's', 2,
		    '1', '2' }, 35, "grpc-status 12 (UNIMPLEMENTED) (the server has no" },
		{ { 0x8d }, 1, "HTTP status 404, not 200" },
		{ { 0x88, 0x5f, 9, 't', 'e', 'x', 't', '/', 'h', 't', 'm', 'l' }, 12,
		  "not a gRPC response: content-type `text/html`" },
		{ { 0x88, 0x5f, 16, 'a', 'p', 'p', 'l', 'i', 'c', 'a', 't', 'i', 'o', 'n', '/', 'g',
		    'r', 'p', 'c' }, 19, "no grpc-status" },
	};
	for (size_t i = 0; i < sizeof st / sizeof st[0]; i++) {
		n = preface(b);
		n += frame(b + n, 1, 0x5, 1, st[i].t, st[i].tl);
		expect(b, n, 1, st[i].want);
	}
	/* grpc-message is percent-decoded */
	n = preface(b);
	uint8_t tm[64];
	memcpy(tm, st[0].t, 35);
	tm[32] = 1, tm[33] = '2';
	memcpy(tm + 34, "\x40\x0cgrpc-message\x0bno%20way%0A", 26);
	n += frame(b + n, 1, 0x5, 1, tm, 34 + 26);
	expect(b, n, 1, "grpc-status 2 (UNKNOWN): no way?");

	/* HealthCheckResponse bodies: unknown fields skipped, status absent
	 * = UNKNOWN, truncated, compressed. */
	static const struct { uint8_t m[16]; size_t ml; int rc; const char *want; } bodies[] = {
		{ { 0, 0, 0, 0, 7, 0x12, 0x02, 'h', 'i', 0x08, 0x01, 0x18 }, 12, 1, "malformed" },
		{ { 0, 0, 0, 0, 8, 0x12, 0x02, 'h', 'i', 0x08, 0x01, 0x18, 0x05 }, 13, 0, "SERVING" },
		{ { 0, 0, 0, 0, 0 }, 5, 1, "UNKNOWN" },
		{ { 0, 0, 0, 0, 2, 0x08, 0x03 }, 7, 1, "SERVICE_UNKNOWN" },
		{ { 0, 0, 0, 0, 2, 0x08, 0x09 }, 7, 1, "unknown serving status 9" },
		{ { 0, 0, 0, 0, 3, 0x08, 0x01 }, 7, 1, "a truncated response message" },
		{ { 1, 0, 0, 0, 2, 0x08, 0x01 }, 7, 1, "compressed" },
		{ { 0, 0, 0 }, 3, 1, "no response message" },
	};
	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		n = preface(b);
		n += frame(b + n, 1, 0x4, 1, hdr200, sizeof hdr200);
		n += frame(b + n, 0, 0, 1, bodies[i].m, bodies[i].ml);
		n += frame(b + n, 1, 0x5, 1, trailers0, sizeof trailers0);
		expect(b, n, bodies[i].rc, bodies[i].want);
	}

	/* The connection-level failures, each with its reason. */
	static const struct { int type, flags; uint32_t sid; const char *p; size_t len;
	                      const char *want; } bad[] = {
		{ 7, 0, 0, "\0\0\0\0\0\0\0\x0btoo_many_pings", 22,
		  "GOAWAY ENHANCE_YOUR_CALM: too_many_pings" },
		{ 3, 0, 1, "\0\0\0\x07", 4, "RST_STREAM REFUSED_STREAM" },
		{ 1, 4, 3, "\x88", 1, "stream 3, not ours" },
		{ 0, 0, 1, "\0", 1, "DATA before the response headers" },
		{ 4, 0, 0, "\0\x05\0\0\0\x01", 6, "invalid SETTINGS 5 = 1" },
		{ 4, 0, 0, "\0\x05\0", 3, "SETTINGS of 3 bytes" },
		{ 4, 1, 0, "\0", 1, "SETTINGS ACK with a payload" },
		{ 6, 0, 0, "\0", 1, "PING on stream 0 with 1 bytes" },
		{ 5, 4, 1, "\0\0\0\x02\x88", 5, "PUSH_PROMISE" },
		{ 9, 4, 1, "\x88", 1, "CONTINUATION without HEADERS" },
		{ 8, 0, 0, "\0\0\0\0", 4, "malformed WINDOW_UPDATE" },
		{ 1, 0x5 | 0x8, 1, "\x09\x88", 2, "padding longer than the frame" },
		{ 1, 0x5, 1, "\xff", 1, "malformed header block (HPACK)" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		n = preface(b);
		n += frame(b + n, bad[i].type, bad[i].flags, bad[i].sid, bad[i].p, bad[i].len);
		expect(b, n, 1, bad[i].want);
	}
	/* A frame inside a header block; one too big; no SETTINGS first;
	 * unknown frame types and PRIORITY ignored. */
	n = preface(b);
	n += frame(b + n, 1, 0, 1, "\x88", 1);
	n += frame(b + n, 6, 0, 0, "01234567", 8);
	expect(b, n, 1, "inside a header block");
	n = preface(b);
	b[n] = 0, b[n + 1] = 0x40, b[n + 2] = 1, b[n + 3] = 0;
	memset(b + n + 4, 0, 5);
	expect(b, n + 9, 1, "a frame of 16385 bytes");
	n = frame(b, 6, 0, 0, "01234567", 8);
	expect(b, n, 1, "its first frame is not SETTINGS");
	n = preface(b);
	n += frame(b + n, 0x42, 0, 7, "junk", 4);
	n += frame(b + n, 2, 0, 1, "\0\0\0\0\x10", 5);
	n += frame(b + n, 1, 0x4, 1, hdr200, sizeof hdr200);
	n += frame(b + n, 0, 0, 1, msg_serving, sizeof msg_serving);
	n += frame(b + n, 1, 0x5, 1, trailers0, sizeof trailers0);
	expect(b, n, 0, "SERVING");

	/* A flood of PINGs is answered while there is room, then ignored. */
	n = preface(b);
	for (int i = 0; i < 1000; i++)
		n += frame(b + n, 6, 0, 0, "pingpong", 8);
	n += frame(b + n, 1, 0x4, 1, hdr200, sizeof hdr200);
	n += frame(b + n, 0, 0, 1, msg_serving, sizeof msg_serving);
	n += frame(b + n, 1, 0x5, 1, trailers0, sizeof trailers0);
	feed(b, n, 16384, 0, &r);
	assert_int_equal(r.rc, 0);

	/* HTTP/1 servers: a status line, or a bare error page. */
	memcpy(b, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", 47);
	expect(b, 47, 1, "not an HTTP/2 (h2c) server: it answered with text, as HTTP/1 servers "
	       "do: `HTTP/1.1 400 Bad Request`");
	memcpy(b, "<!DOCTYPE HTML>\n<html>", 22);
	expect(b, 22, 1, "`<!DOCTYPE HTML>`");
	expect(b, 0, 1, "closed the connection without sending anything");
}

/* The request: preface, SETTINGS (push off), and a header block our own
 * decoder reads back as the fields Check needs; the message carries the
 * service name as HealthCheckRequest field 1. */
static void test_request(void **state)
{
	uint8_t b[2048];
	char svc[GRPC_SERVICE_MAX + 1];
	memset(svc, 'x', GRPC_SERVICE_MAX);
	svc[GRPC_SERVICE_MAX] = 0;
	for (int k = 0; k < 3; k++) {
		const char *s = k == 0 ? "" : k == 1 ? "foo" : svc;
		size_t n = grpc_request(b, sizeof b, "127.0.0.1:50051", s);
		assert_true(n > 24 + 15);
		assert_memory_equal(b, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\x06\x04\0\0\0\0\0\0\x02\0\0\0\0",
		                    39);
		const uint8_t *f = b + 39;
		size_t hl = (size_t)f[0] << 16 | f[1] << 8 | f[2];
		assert_int_equal(f[3], 1);
		assert_int_equal(f[4], 4);
		assert_int_equal(f[8], 1);
		struct hpack *h = calloc(1, sizeof *h);
		hpack_init(h);
		static const char *const want[] = {
			":method: POST", ":scheme: http", ":path: /grpc.health.v1.Health/Check",
			":authority: 127.0.0.1:50051", "content-type: application/grpc",
			"te: trailers", "user-agent: minbase-init/" MINBASE_VERSION, NULL };
		char hex[1400] = "";
		for (size_t i = 0; i < hl; i++)
			sprintf(hex + 2 * i, "%02x", f[9 + i]);
		decode_ok(h, hex, want, 0);
		free(h);
		const uint8_t *d = f + 9 + hl;
		size_t dl = (size_t)d[0] << 16 | d[1] << 8 | d[2];
		assert_int_equal(d[3], 0);
		assert_int_equal(d[4], 1); /* END_STREAM */
		assert_int_equal(39 + 9 + hl + 9 + dl, n);
		size_t sl = strlen(s);
		assert_int_equal(dl, 5 + (sl ? 1 + (sl >= 128 ? 2 : 1) + sl : 0));
		assert_int_equal(d[9], 0);
		assert_int_equal((size_t)d[12] << 8 | d[13], dl - 5);
		if (sl) {
			assert_int_equal(d[14], 0x0a);
			size_t vl = d[15] & 0x7f, at = 16;
			if (d[15] & 0x80)
				vl |= (size_t)d[16] << 7, at = 17;
			assert_int_equal(vl, sl);
			assert_memory_equal(d + at, s, sl);
		}
	}
	assert_int_equal(grpc_request(b, 60, "127.0.0.1:1", "foo"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_huffman),
		cmocka_unit_test(test_hpack_rfc_examples),
		cmocka_unit_test(test_recorded),
		cmocka_unit_test(test_handmade),
		cmocka_unit_test(test_request),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
