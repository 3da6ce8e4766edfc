/* libFuzzer harness for the gRPC probe's reader: `make fuzz-grpc`
 * (FUZZ_SECONDS, default 60), seeded with grpc-go's recorded answers
 * (init/grpc_fuzz.seeds).  The first byte picks the mode: bit 7 set, two
 * raw HPACK blocks sharing one dynamic table; else the server's side of a
 * connection fed to h2_feed in reads of (byte & 0x3f) + 1 bytes, or all at
 * once (bit 6).  Any input must end in a result or an error message, never a
 * crash, an overflow, undefined behaviour or a table past its bounds. */
#include <stdlib.h>
#include <string.h>

#include "init.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void sink(void *ctx, const char *n, size_t nl, const char *v, size_t vl)
{
	/* touch every byte, so that ASan sees a bad pointer or length */
	size_t *sum = ctx;
	for (size_t i = 0; i < nl; i++)
		*sum += (unsigned char)n[i];
	for (size_t i = 0; i < vl; i++)
		*sum += (unsigned char)v[i];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct grpc_call g;
	char err[INIT_ERRLEN], detail[400];
	size_t sum = 0;
	if (!size)
		return 0;
	uint8_t mode = *data++;
	size--;
	if (mode & 0x80) {
		struct hpack *h = &g.h2.hp;
		hpack_init(h);
		size_t cut = size ? (mode & 0x7f) % (size + 1) : 0;
		for (int i = 0; i < 2; i++) {
			const uint8_t *p = i ? data + cut : data;
			err[0] = 0;
			if (hpack_decode(h, p, i ? size - cut : cut, sink, &sum, err) < 0 && !err[0])
				abort();
			if (h->size > h->max || h->max > HPACK_TABLE_MAX || h->n > HPACK_TABLE_MAX / 32)
				abort();
		}
		return 0;
	}
	grpc_call_init(&g);
	size_t chunk = mode & 0x40 ? size : (size_t)(mode & 0x3f) + 1;
	int st = 0;
	for (size_t off = 0; off < size && !st; off += chunk) {
		st = h2_feed(&g.h2, data + off, size - off < chunk ? size - off : chunk);
		if (g.h2.outlen > sizeof g.h2.out || g.h2.bodylen > H2_BODY_MAX)
			abort();
		g.h2.outlen = 0;
	}
	if (!st)
		st = h2_eof(&g.h2);
	if (st < 0 && !g.h2.err[0])
		abort();
	if (st == 1) {
		detail[0] = 0;
		(void)grpc_result(&g, detail, sizeof detail);
		if (!detail[0])
			abort();
	}
	return 0;
}
