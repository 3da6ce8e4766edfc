#include <string.h>
#include "words.h"

size_t words_join(char *buf, size_t len, int n, char **words)
{
	size_t j = 0;
	buf[0] = '\0';
	for (int i = 0; i < n && j + 1 < len; i++) {
		if (i > 0)
			buf[j++] = ' ';
		size_t l = strlen(words[i]);
		if (l > len - 1 - j)
			l = len - 1 - j;
		memcpy(buf + j, words[i], l);
		j += l;
		buf[j] = '\0';
	}
	return j;
}
