#ifndef CMGREET_GREET_H
#define CMGREET_GREET_H
const char *greet_word(void);
#endif
