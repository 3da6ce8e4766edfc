/* tests/bench/layers' floor: the least work any writer of mkimage's layer
 * bytes must do for FILE, with that work spread perfectly on every core.
 *
 *   floor FILE  ->  "deflate CPU  sha256 CPU  floor-wall" in seconds
 *
 * deflate: FILE in 256 KiB chunks at libdeflate level 2 (the bytes of a big
 * layer), on every core at once, timed as CPU; sha256: the input and the
 * output once each (diff_id and digest).  floor = (deflate + sha256) / cores:
 * reading, the tar, writing and the kernel come on top of it.  Built and run
 * by the bench only (cc -O2 floor.c -ldeflate -lcrypto -lpthread). */
#include <fcntl.h>
#include <libdeflate.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (256u * 1024u)

static const unsigned char *in;
static size_t len, nchunks;
static unsigned char *out;
static size_t *out_len, bound;
static atomic_size_t next;

static void *work(void *arg)
{
	struct libdeflate_compressor *c = libdeflate_alloc_compressor(2);

	for (size_t i; (i = atomic_fetch_add(&next, 1)) < nchunks;) {
		size_t n = len - i * CHUNK < CHUNK ? len - i * CHUNK : CHUNK;
		out_len[i] = libdeflate_gzip_compress(c, in + i * CHUNK, n, out + i * bound, bound);
	}
	libdeflate_free_compressor(c);
	return arg;
}

static double cpu(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct stat st;
	int fd = argc == 2 ? open(argv[1], O_RDONLY) : -1;

	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size == 0) {
		fprintf(stderr, "usage: floor FILE (non-empty)\n");
		return 2;
	}
	len = (size_t)st.st_size;
	in = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
	nchunks = (len + CHUNK - 1) / CHUNK;
	bound = libdeflate_gzip_compress_bound(NULL, CHUNK);
	out = malloc(nchunks * bound);
	out_len = calloc(nchunks, sizeof(*out_len));
	if (in == MAP_FAILED || !out || !out_len)
		return 1;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	pthread_t th[64];
	double c0 = cpu();
	for (long i = 0; i < ncpu && i < 64; i++)
		pthread_create(&th[i], NULL, work, NULL);
	for (long i = 0; i < ncpu && i < 64; i++)
		pthread_join(th[i], NULL);
	double deflate = cpu() - c0;
	c0 = cpu();
	unsigned char md[32];
	unsigned int l;
	EVP_MD_CTX *a = EVP_MD_CTX_new(), *b = EVP_MD_CTX_new();
	EVP_DigestInit_ex(a, EVP_sha256(), NULL);
	EVP_DigestInit_ex(b, EVP_sha256(), NULL);
	EVP_DigestUpdate(a, in, len);
	for (size_t i = 0; i < nchunks; i++)
		EVP_DigestUpdate(b, out + i * bound, out_len[i]);
	EVP_DigestFinal_ex(a, md, &l);
	EVP_DigestFinal_ex(b, md, &l);
	double sha = cpu() - c0;
	printf("%.3f %.3f %.3f\n", deflate, sha, (deflate + sha) / (double)ncpu);
	return 0;
}
