/* `mkimage pull REF -o OUT`. */
#include <stdio.h>
#include "builder.h"

int cmd_pull(int argc, char **argv)
{
	fprintf(stderr, "mkimage: pull: not yet\n");
	return MK_EXIT_FAIL;
}
