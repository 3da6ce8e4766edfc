/* The builder's one growable list of strings: a NULL-terminated char **
 * with its count kept beside it (the options' lists, an ELF's needed
 * libraries, a directory's files, the config's Env and Cmd).  Every entry
 * is the list's own copy.  (util_argv is the other shape: a command line
 * that mostly borrows its words and fails once, at run time.) */
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
