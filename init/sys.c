/* The thin system-call layer: every call that changes credentials,
 * capabilities, seccomp state or the signal mask goes through here, so that
 * unit tests can link a recording fake instead and check the order of
 * operations without root. */
#include "init.h"

#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/seccomp.h>

int sys_drop_bound(int cap)
{
	return prctl(PR_CAPBSET_DROP, (unsigned long)cap, 0, 0, 0);
}

int sys_bound_has(int cap)
{
	return prctl(PR_CAPBSET_READ, (unsigned long)cap, 0, 0, 0);
}

int sys_eff_has(int cap)
{
	struct { uint32_t version; int pid; } h = { 0x20080522, 0 }; /* v3 */
	struct { uint32_t eff, prm, inh; } d[2];
	if (syscall(SYS_capget, &h, d) < 0)
		return -1;
	return cap < 32 ? !!(d[0].eff & (1u << cap)) : !!(d[1].eff & (1u << (cap - 32)));
}

int sys_keepcaps(int on)
{
	return prctl(PR_SET_KEEPCAPS, (unsigned long)on, 0, 0, 0);
}

int sys_setgroups(size_t n, const gid_t *g)
{
	return setgroups(n, g);
}

int sys_groups_equal(size_t n, const gid_t *g, gid_t primary)
{
	/* Compared as sets, ignoring the primary gid: a list [] and [gid]
	 * grant the same access once the gid is set. */
	gid_t cur[INIT_MAX_GROUPS + 1];
	int m = getgroups(INIT_MAX_GROUPS + 1, cur);
	if (m < 0)
		return 0;
	for (int j = 0; j < m; j++) {
		int found = cur[j] == primary;
		for (size_t i = 0; i < n && !found; i++)
			found = cur[j] == g[i];
		if (!found)
			return 0;
	}
	for (size_t i = 0; i < n; i++) {
		int found = g[i] == primary;
		for (int j = 0; j < m && !found; j++)
			found = cur[j] == g[i];
		if (!found)
			return 0;
	}
	return 1;
}

/* Raw syscalls: musl's set*id() broadcast to all threads (we have one) and
 * glibc's do the same; the raw form is what the kernel sees either way. */
int sys_setresgid(gid_t g)
{
	return (int)syscall(SYS_setresgid, g, g, g);
}

int sys_setresuid(uid_t u)
{
	return (int)syscall(SYS_setresuid, u, u, u);
}

uid_t sys_geteuid(void)
{
	return geteuid();
}

gid_t sys_getegid(void)
{
	return getegid();
}

int sys_capset(uint64_t eff, uint64_t prm, uint64_t inh)
{
	cap_t c = cap_init();
	if (!c)
		return -1;
	int rc = 0;
	for (cap_value_t v = 0; v < 64 && rc == 0; v++) {
		if (eff & (1ull << v))
			rc = cap_set_flag(c, CAP_EFFECTIVE, 1, &v, CAP_SET);
		if (rc == 0 && (prm & (1ull << v)))
			rc = cap_set_flag(c, CAP_PERMITTED, 1, &v, CAP_SET);
		if (rc == 0 && (inh & (1ull << v)))
			rc = cap_set_flag(c, CAP_INHERITABLE, 1, &v, CAP_SET);
	}
	if (rc == 0)
		rc = cap_set_proc(c);
	int e = errno;
	cap_free(c);
	errno = e;
	return rc;
}

int sys_ambient_clear(void)
{
	return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
}

int sys_ambient_raise(int cap)
{
	return cap_set_ambient((cap_value_t)cap, CAP_SET);
}

int sys_no_new_privs(void)
{
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

int sys_seccomp_load(const struct sock_filter *f, unsigned short n)
{
	struct sock_fprog prog = { .len = n, .filter = (struct sock_filter *)f };
	long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
	if (rc < 0 && errno == ENOSYS) {
		rc = prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
		/* No seccomp() and PR_SET_SECCOMP refused: this is no kernel
		 * rejecting the program but a platform with no filter mode at
		 * all (qemu-user answers exactly so; every kernel since 3.17 has
		 * seccomp()).  ENOSYS says that to filter_load. */
		if (rc < 0 && errno == EINVAL)
			errno = ENOSYS;
	}
	return (int)rc;
}

int sys_seccomp_available(void)
{
	/* The check systemd makes: a NULL program is EFAULT where the filter
	 * mode exists, EINVAL where it does not; nothing is installed.  qemu-
	 * user answers every PR_SET_SECCOMP with EINVAL. */
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, NULL, 0, 0) < 0 && errno == EFAULT;
}

int sys_last_cap(void)
{
	/* cap_max_bits() reads /proc/sys/kernel/cap_last_cap or probes the
	 * bounding set; either way it is what this kernel knows. */
	int n = (int)cap_max_bits();
	return n > 0 ? n - 1 : 40;
}

int sys_sigmask(int how, const uint64_t *set, uint64_t *old)
{
	return (int)syscall(SYS_rt_sigprocmask, how, set, old, sizeof(uint64_t));
}
