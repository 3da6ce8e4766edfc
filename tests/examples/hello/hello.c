/* hello: the quick-start service.  Prints a greeting and the identity it
 * runs as (so the demo shows the image's nonroot user), exits 0. */
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	printf("hello from minbase (uid=%u gid=%u)\n", (unsigned)getuid(),
	       (unsigned)getgid());
	for (int i = 1; i < argc; i++)
		printf("arg %d: %s\n", i, argv[i]);
	return 0;
}
