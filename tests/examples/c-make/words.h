#ifndef TINYECHO_WORDS_H
#define TINYECHO_WORDS_H
#include <stddef.h>
/* Joins words with single spaces into buf (always terminated). */
size_t words_join(char *buf, size_t len, int n, char **words);
#endif
