/* A recording fake of init/sys.c for minbase-init's unit tests: each call
 * appends "name(arg)" to fake_log, and fake_fail names a call to fail with
 * fake_errno (EPERM unless a test says otherwise), so that the order of privilege operations is checked without root. */
#include "test_init_fakesys.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

char fake_log[8192];
const char *fake_fail;
int fake_errno = EPERM;
uint64_t fake_bound = (1ull << 41) - 1;
int fake_has_setpcap = 1;
int fake_groups_equal;
int fake_seccomp_available = 1;

void fake_reset(void)
{
	fake_log[0] = 0;
	fake_fail = NULL;
	fake_errno = EPERM;
	fake_bound = (1ull << 41) - 1;
	fake_has_setpcap = 1;
	fake_groups_equal = 0;
	fake_seccomp_available = 1;
}

static int rec(const char *name, long long arg)
{
	size_t n = strlen(fake_log);
	snprintf(fake_log + n, sizeof fake_log - n, "%s%s(%lld)", n ? " " : "", name, arg);
	if (fake_fail && !strcmp(fake_fail, name)) {
		errno = fake_errno;
		return -1;
	}
	return 0;
}

int sys_drop_bound(int cap)
{
	if (rec("drop_bound", cap) < 0)
		return -1;
	fake_bound &= ~(1ull << cap);
	return 0;
}
int sys_bound_has(int cap) { return !!(fake_bound & (1ull << cap)); }
int sys_eff_has(int cap) { return cap == 8 /* CAP_SETPCAP */ || cap == 6 /* CAP_SETGID */ ? fake_has_setpcap : 0; }
int sys_keepcaps(int on) { return rec("keepcaps", on); }
int sys_setgroups(size_t n, const gid_t *g) { return rec("setgroups", n ? (long long)g[0] : -1); }
int sys_groups_equal(size_t n, const gid_t *g, gid_t primary) { return fake_groups_equal; }
int sys_setresgid(gid_t g) { return rec("setresgid", g); }
int sys_setresuid(uid_t u) { return rec("setresuid", u); }
uid_t sys_geteuid(void) { return 0; }
gid_t sys_getegid(void) { return 0; }
int sys_capset(uint64_t eff, uint64_t prm, uint64_t inh) { return rec("capset", (long long)prm); }
int sys_ambient_clear(void) { return rec("ambient_clear", 0); }
int sys_ambient_raise(int cap) { return rec("ambient_raise", cap); }
int sys_no_new_privs(void) { return rec("no_new_privs", 1); }
int sys_seccomp_load(const struct sock_filter *f, unsigned short n) { return rec("seccomp", n); }
int sys_seccomp_available(void) { return fake_seccomp_available; }
int sys_last_cap(void) { return 40; }
int sys_sigmask(int how, const uint64_t *set, uint64_t *old)
{
	if (old)
		*old = 0;
	return 0;
}
