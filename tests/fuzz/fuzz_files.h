/* What the fuzz targets that read files share (fuzz_init.c,
 * fuzz_registry.c): one private directory per run, a file written with
 * the input's bytes, and the input as a C string.  A failure to make the
 * directory or the file is the harness's, not the target's: abort rather
 * than fuzz on without them. */
#ifndef MINBASE_FUZZ_FILES_H
#define MINBASE_FUZZ_FILES_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* /tmp/NAME.XXXXXX, made once per process into dir (len >= 32). */
static inline void fuzz_dir(char *dir, size_t len, const char *name)
{
	if (snprintf(dir, len, "/tmp/%s.XXXXXX", name) >= (int)len || !mkdtemp(dir))
		abort();
}

/* The input as a C string (a NUL after its bytes), for the parsers that
 * take one; NULL when out of memory (the input is then skipped). */
static inline char *fuzz_cstr(const void *d, size_t n)
{
	char *s = malloc(n + 1);
	if (s) {
		memcpy(s, d, n);
		s[n] = '\0';
	}
	return s;
}

static inline void fuzz_put(const char *path, const void *d, size_t n)
{
	FILE *f = fopen(path, "w");
	if (!f)
		abort();
	if (n && fwrite(d, 1, n, f) != n)
		abort();
	fclose(f);
}

#endif
