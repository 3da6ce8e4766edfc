#include <stdio.h>
#include "words.h"

int main(int argc, char **argv)
{
	char buf[256];
	words_join(buf, sizeof(buf), argc - 1, argv + 1);
	printf("tinyecho: %s\n", argc > 1 ? buf : "(nothing to echo)");
	return 0;
}
