/* The builder's one growable list of strings: a NULL-terminated char **
 * with its count kept beside it (the options' lists, an ELF's needed
 * libraries, a directory's files, the config's Env and Cmd, a build tool's
 * command line and environment).  Every entry is the list's own copy.
 * struct strv is the list with its count and an out-of-memory flag, so
 * that a command line can be built without a check per word and refused
 * once, when it is run (util_run_strv); strv_push is the same append for
 * the (v, n) pairs of struct mk_opts. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder.h"

int strv_push(char ***v, size_t *n, const char *s)
{
	char **nv = realloc(*v, (*n + 2) * sizeof(*nv));
	if (!nv)
		return -1;
	*v = nv;
	if (!(nv[*n] = strdup(s)))
		return -1;
	nv[++*n] = NULL;
	return 0;
}

void strv_free(char **v)
{
	if (!v)
		return;
	for (size_t i = 0; v[i]; i++)
		free(v[i]);
	free(v);
}

int strv_add(struct strv *s, const char *str)
{
	if (strv_push(&s->v, &s->n, str) == 0)
		return 0;
	s->nomem = true;
	return -1;
}

int strv_addf(struct strv *s, const char *fmt, ...)
{
	char *p;
	va_list ap;
	va_start(ap, fmt);
	int r = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (r < 0) {
		s->nomem = true;
		return -1;
	}
	r = strv_add(s, p);
	free(p);
	return r;
}

void strv_clear(struct strv *s)
{
	strv_free(s->v);
	memset(s, 0, sizeof(*s));
}
