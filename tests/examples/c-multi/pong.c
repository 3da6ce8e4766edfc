#include <stdio.h>
int main(void) { puts("pong-tool: pong"); return 0; }
