/* HPACK (RFC 7541) for the gRPC health probe: the whole decoder a real
 * server's response needs (static table, dynamic table with eviction and
 * size updates, Huffman-coded strings), and the few literal forms the probe's
 * own request uses (never Huffman, never indexed: nothing to keep in sync).
 * Pure code on buffers, no I/O: the unit tests and the fuzz target feed it
 * recorded header blocks.  Every length is checked against the end of the
 * block before use, and every decoded string is bounded by HPACK_STR_MAX. */
#include "init.h"

#include <stdio.h>
#include <string.h>

/* Appendix A, "name\0value\0" for index 1..61 (a digit after \0 starts a
 * new literal: "\0200" would be octal \020 then "0"). */
static const char hp_static[] =
	":authority\0\0:method\0GET\0:method\0POST\0:path\0/\0:path\0/index.html\0:scheme\0"
	"http\0:scheme\0https\0:status\0" "200\0:status\0" "204\0:status\0" "206\0:status\0"
	"304\0:status\0" "400\0:status\0" "404\0:status\0" "500\0accept-charset\0\0"
	"accept-encoding\0gzip, deflate\0accept-language\0\0accept-ranges\0\0accept\0\0"
	"access-control-allow-origin\0\0age\0\0allow\0\0authorization\0\0cache-control\0\0"
	"content-disposition\0\0content-encoding\0\0content-language\0\0content-length\0\0"
	"content-location\0\0content-range\0\0content-type\0\0cookie\0\0date\0\0etag\0\0"
	"expect\0\0expires\0\0from\0\0host\0\0if-match\0\0if-modified-since\0\0if-none-match\0"
	"\0if-range\0\0if-unmodified-since\0\0last-modified\0\0link\0\0location\0\0"
	"max-forwards\0\0proxy-authenticate\0\0proxy-authorization\0\0range\0\0referer\0\0"
	"refresh\0\0retry-after\0\0server\0\0set-cookie\0\0strict-transport-security\0\0"
	"transfer-encoding\0\0user-agent\0\0vary\0\0via\0\0www-authenticate\0\0";
#define HP_STATIC_N 61

/* Appendix B is a canonical Huffman code (within one length, codes rise
 * with the symbol), so the symbols in code order and the number of codes
 * of each length are the whole table (287 bytes instead of 1.3 KB), decoded
 * as zlib's puff.c does.  Index 256 of that order is EOS (30 bits). */
static const uint8_t hp_hcount[31] = {
	0, 0, 0, 0, 0, 10, 26, 32, 6, 0, 5, 3, 2, 6, 2, 3, 0, 0, 0, 3, 8, 13, 26, 29, 12, 4,
	15, 19, 29, 0, 4,
};
static const uint8_t hp_hsym[256] = {
	48, 49, 50, 97, 99, 101, 105, 111, 115, 116, 32, 37, 45, 46, 47, 51, 52, 53, 54, 55, 56,
	57, 61, 65, 95, 98, 100, 102, 103, 104, 108, 109, 110, 112, 114, 117, 58, 66, 67, 68, 69,
	70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 89, 106, 107, 113,
	118, 119, 120, 121, 122, 38, 42, 44, 59, 88, 90, 33, 34, 40, 41, 63, 39, 43, 124, 35, 62,
	0, 36, 64, 91, 93, 126, 94, 125, 60, 96, 123, 92, 195, 208, 128, 130, 131, 162, 184, 194,
	224, 226, 153, 161, 167, 172, 176, 177, 179, 209, 216, 217, 227, 229, 230, 129, 132, 133,
	134, 136, 146, 154, 156, 160, 163, 164, 169, 170, 173, 178, 181, 185, 186, 187, 189, 190,
	196, 198, 228, 232, 233, 1, 135, 137, 138, 139, 140, 141, 143, 147, 149, 150, 151, 152,
	155, 157, 158, 165, 166, 168, 174, 175, 180, 182, 183, 188, 191, 197, 231, 239, 9, 142,
	144, 145, 148, 159, 171, 206, 215, 225, 236, 237, 199, 207, 234, 235, 192, 193, 200, 201,
	202, 205, 210, 213, 218, 219, 238, 240, 242, 243, 255, 203, 204, 211, 212, 214, 221, 222,
	223, 241, 244, 245, 246, 247, 248, 250, 251, 252, 253, 254, 2, 3, 4, 5, 6, 7, 8, 11, 12,
	14, 15, 16, 17, 18, 19, 20, 21, 23, 24, 25, 26, 27, 28, 29, 30, 31, 127, 220, 249, 10, 13,
	22,
};

int hpack_huffman_decode(const uint8_t *in, size_t len, char *out, size_t max, size_t *outlen)
{
	size_t o = 0;
	int code = 0, first = 0, index = 0, bits = 0, ones = 1;
	for (size_t i = 0; i < len; i++) {
		for (int b = 7; b >= 0; b--) {
			int bit = in[i] >> b & 1;
			code |= bit;
			ones &= bit;
			int count = hp_hcount[++bits];
			if (code < first + count) {
				int sym = index + code - first;
				if (sym == 256 || o == max) /* 5.2: EOS inside a string is an error */
					return -1;
				out[o++] = (char)hp_hsym[sym];
				code = first = index = bits = 0;
				ones = 1;
				continue;
			}
			index += count;
			first = (first + count) << 1;
			code <<= 1;
		}
	}
	/* 5.2: the padding is the most significant bits of EOS (all ones),
	 * and shorter than a byte. */
	if (bits > 7 || !ones)
		return -1;
	*outlen = o;
	return 0;
}

void hpack_init(struct hpack *h)
{
	h->n = 0;
	h->size = 0;
	h->max = HPACK_TABLE_MAX; /* SETTINGS_HEADER_TABLE_SIZE: we keep the default */
}

/* 5.1: an N-bit prefix integer; bounded to 2^28 so that no sum overflows. */
static int hp_int(const uint8_t **p, const uint8_t *end, int prefix, uint32_t *out)
{
	uint32_t max = (1u << prefix) - 1, v = **p & max;
	(*p)++;
	if (v < max) {
		*out = v;
		return 0;
	}
	for (int shift = 0; shift <= 21 && *p < end; shift += 7) {
		uint8_t b = *(*p)++;
		v += (uint32_t)(b & 127) << shift;
		if (!(b & 128)) {
			*out = v;
			return 0;
		}
	}
	return -1;
}

/* 5.2: a string literal, pointing into the block or decoded into buf. */
static const char *hp_str(const uint8_t **p, const uint8_t *end, char *buf, size_t *len,
                          const char **why)
{
	uint32_t n;
	if (*p >= end)
		return *why = "truncated string", NULL;
	int huff = **p & 0x80;
	if (hp_int(p, end, 7, &n) < 0 || n > (size_t)(end - *p))
		return *why = "string length past the end of the block", NULL;
	const char *s = (const char *)*p;
	if (huff) {
		if (hpack_huffman_decode(*p, n, buf, HPACK_STR_MAX, len) < 0)
			return *why = "invalid Huffman code or a string too long", NULL;
		s = buf;
	} else if (n > HPACK_STR_MAX) {
		return *why = "string too long", NULL;
	} else {
		*len = n;
	}
	*p += n;
	return s;
}

static size_t hp_used(const struct hpack *h)
{
	return h->n ? h->ent[h->n - 1].off + h->ent[h->n - 1].nl + h->ent[h->n - 1].vl : 0;
}

/* 4.4: evict the oldest entries until NEED more bytes fit. */
static void hp_evict(struct hpack *h, size_t need)
{
	while (h->n && h->size + need > h->max) {
		size_t len = (size_t)h->ent[0].nl + h->ent[0].vl;
		memmove(h->buf, h->buf + len, hp_used(h) - len);
		memmove(h->ent, h->ent + 1, (size_t)(h->n - 1) * sizeof h->ent[0]);
		h->n--;
		h->size -= len + 32;
		for (int i = 0; i < h->n; i++)
			h->ent[i].off = (uint16_t)(h->ent[i].off - len);
	}
}

static void hp_add(struct hpack *h, const char *n, size_t nl, const char *v, size_t vl)
{
	size_t sz = nl + vl + 32;
	if (sz > h->max) { /* 4.4: not an error; the table ends up empty */
		hp_evict(h, h->max + 1);
		return;
	}
	hp_evict(h, sz);
	/* Every entry costs 32 more than its bytes: the data and the count
	 * stay within buf and ent. */
	size_t off = hp_used(h);
	memcpy(h->buf + off, n, nl);
	memcpy(h->buf + off + nl, v, vl);
	h->ent[h->n].off = (uint16_t)off;
	h->ent[h->n].nl = (uint16_t)nl;
	h->ent[h->n].vl = (uint16_t)vl;
	h->n++;
	h->size += sz;
}

/* 2.3.3: index 1..61 static, 62.. dynamic (62 = the newest). */
static int hp_get(const struct hpack *h, uint32_t idx, const char **n, size_t *nl, const char **v,
                  size_t *vl)
{
	if (idx == 0)
		return -1;
	if (idx <= HP_STATIC_N) {
		const char *s = hp_static;
		for (uint32_t i = 1; i < idx; i++)
			s += strlen(s) + 1, s += strlen(s) + 1;
		*n = s, *nl = strlen(s);
		*v = s + *nl + 1, *vl = strlen(*v);
		return 0;
	}
	idx -= HP_STATIC_N + 1;
	if (idx >= (uint32_t)h->n)
		return -1;
	const struct hpack_entry *e = &h->ent[h->n - 1 - (int)idx];
	*n = h->buf + e->off, *nl = e->nl;
	*v = h->buf + e->off + e->nl, *vl = e->vl;
	return 0;
}

int hpack_decode(struct hpack *h, const uint8_t *p, size_t len, hpack_emit emit, void *ctx,
                 char *err)
{
	char *nbuf = h->nbuf, *vbuf = h->vbuf;
	const uint8_t *end = p + len;
	const char *why = NULL;
	int fields = 0;
	while (p < end) {
		uint8_t b = *p;
		uint32_t idx;
		const char *n, *v;
		size_t nl, vl;
		if (b & 0x80) { /* 6.1 indexed field */
			if (hp_int(&p, end, 7, &idx) < 0 || hp_get(h, idx, &n, &nl, &v, &vl) < 0) {
				why = "invalid index";
				goto bad;
			}
		} else if ((b & 0xe0) == 0x20) { /* 6.3 table size update */
			/* 4.2: only at the start of a block, never above our setting */
			if (fields || hp_int(&p, end, 5, &idx) < 0 || idx > HPACK_TABLE_MAX) {
				why = "invalid dynamic table size update";
				goto bad;
			}
			h->max = idx;
			hp_evict(h, 0);
			continue;
		} else { /* 6.2 literal: incremental indexing (01), without (0000), never (0001) */
			int incr = (b & 0xc0) == 0x40;
			if (hp_int(&p, end, incr ? 6 : 4, &idx) < 0) {
				why = "truncated name index";
				goto bad;
			}
			if (idx ? hp_get(h, idx, &n, &nl, &v, &vl) < 0
			        : !(n = hp_str(&p, end, nbuf, &nl, &why))) {
				why = why ? why : "invalid name index";
				goto bad;
			}
			if (!(v = hp_str(&p, end, vbuf, &vl, &why)))
				goto bad;
			if (incr) {
				/* 4.4: the name may be the entry this insertion evicts. */
				if (n >= h->buf && n < h->buf + sizeof h->buf) {
					memmove(nbuf, n, nl);
					n = nbuf;
				}
				hp_add(h, n, nl, v, vl);
			}
		}
		fields++;
		emit(ctx, n, nl, v, vl);
	}
	return 0;
bad:
	snprintf(err, INIT_ERRLEN, "malformed header block (HPACK): %s", why);
	return -1;
}

/* ---- the request's side: literals without indexing (6.2.2) ------------- */
static size_t hp_put_int(uint8_t *b, uint8_t first, int prefix, size_t v)
{
	size_t max = (1u << prefix) - 1, n = 1;
	if (v < max) {
		b[0] = (uint8_t)(first | v);
		return 1;
	}
	b[0] = (uint8_t)(first | max);
	for (v -= max; v >= 128; v >>= 7)
		b[n++] = (uint8_t)(v | 128);
	b[n++] = (uint8_t)v;
	return n;
}

size_t hpack_put(uint8_t *b, size_t room, unsigned idx, const char *name, const char *value)
{
	size_t nl = name ? strlen(name) : 0, vl = strlen(value);
	if (nl + vl + 16 > room) /* 3 integers of at most 5 bytes each, and the strings */
		return 0;
	size_t n = hp_put_int(b, 0, 4, idx);
	if (!idx) {
		n += hp_put_int(b + n, 0, 7, nl);
		memcpy(b + n, name, nl);
		n += nl;
	}
	n += hp_put_int(b + n, 0, 7, vl);
	memcpy(b + n, value, vl);
	return n + vl;
}
