#include <stdio.h>
#include "greet.h"

int main(void)
{
	printf("cmgreet %s: %s\n", CMGREET_VERSION, greet_word());
	return 0;
}
