#include <stdio.h>
int main(void) { puts("ping-tool: ping"); return 0; }
