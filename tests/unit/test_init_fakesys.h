#ifndef TEST_INIT_FAKESYS_H
#define TEST_INIT_FAKESYS_H
#include "../../init/init.h"
extern char fake_log[8192];
extern const char *fake_fail;
extern int fake_errno;          /* what the failing call sets; EPERM */
extern uint64_t fake_bound;
extern int fake_has_setpcap;
extern int fake_groups_equal;
extern int fake_seccomp_available;
void fake_reset(void);
#endif
