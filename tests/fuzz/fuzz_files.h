/* What the fuzz targets that read files share (fuzz_init.c,
 * fuzz_registry.c): one private directory per run, and a file written
 * with the input's bytes.  A failure here is the harness's, not the
 * target's: abort, so that libFuzzer does not report it as a finding
 * silently passed. */
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
