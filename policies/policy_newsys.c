/* Syscalls newer than the libseccomp mkimage links (Debian 12 has 2.5.4,
 * whose table ends at futex_requeue, 456), so that the ecosystem's current
 * profiles (Moby's default names mseal, listmount, the *xattrat family...)
 * compile and really allow them.  libseccomp cannot take these numbers: it
 * translates a rule's number by name for a foreign target and refuses a
 * name it does not know, so the compiler emits them itself, in the
 * pre-filter placed before libseccomp's program (policy_compile.c).
 *
 * Numbers from the kernel's own tables (Linux 6.18):
 * include/uapi/asm-generic/unistd.h (aarch64, riscv64 and every generic
 * architecture) and arch/x86/entry/syscalls/syscall_64.tbl.  Since Linux
 * 5.1 (424, pidfd_send_signal) a new syscall has one number on every
 * architecture, x86_64 included; the two exceptions are listed with the
 * only architecture that has them.  A name is used from here only when
 * libseccomp knows it on no architecture: a newer libseccomp takes over by
 * itself. */
#include <string.h>

#include <seccomp.h>

#include "policy_int.h"

#define ALL(nr) { nr, nr, nr }   /* x86_64, aarch64, riscv64 */
#define NONE (-1)

static const struct {
	const char *name;
	int nr[3];                     /* x86_64, aarch64, riscv64; NONE = absent */
} newsys[] = {
	{ "statmount",         ALL(457) },   /* 6.8 */
	{ "listmount",         ALL(458) },   /* 6.8 */
	{ "lsm_get_self_attr", ALL(459) },   /* 6.8 */
	{ "lsm_set_self_attr", ALL(460) },   /* 6.8 */
	{ "lsm_list_modules",  ALL(461) },   /* 6.8 */
	{ "mseal",             ALL(462) },   /* 6.10 */
	{ "setxattrat",        ALL(463) },   /* 6.13 */
	{ "getxattrat",        ALL(464) },   /* 6.13 */
	{ "listxattrat",       ALL(465) },   /* 6.13 */
	{ "removexattrat",     ALL(466) },   /* 6.13 */
	{ "open_tree_attr",    ALL(467) },   /* 6.15 */
	{ "file_getattr",      ALL(468) },   /* 6.17 */
	{ "file_setattr",      ALL(469) },   /* 6.17 */
	{ "listns",            ALL(470) },   /* 6.18 */
	/* x86_64 only: the uprobe return trampoline's syscall (6.11), put in
	 * the hole below 424 that x86_64 keeps (syscall_64.tbl: 335). */
	{ "uretprobe",         { 335, NONE, NONE } },
	/* riscv only (6.4, asm-generic __NR_arch_specific_syscall + 14). */
	{ "riscv_hwprobe",     { NONE, NONE, 258 } },
};
#define N_NEWSYS (sizeof(newsys) / sizeof(newsys[0]))

static int arch_index(uint32_t token)
{
	return token == SCMP_ARCH_X86_64 ? 0 : token == SCMP_ARCH_AARCH64 ? 1 :
	       token == SCMP_ARCH_RISCV64 ? 2 : -1;
}

/* Is the name one libseccomp knows on some architecture?  Then it is
 * libseccomp's to resolve (a newer libseccomp makes the table moot). */
static bool scmp_knows(const char *name)
{
	static const uint32_t arches[] = {
		SCMP_ARCH_X86_64, SCMP_ARCH_X86, SCMP_ARCH_X32, SCMP_ARCH_AARCH64, SCMP_ARCH_ARM,
		SCMP_ARCH_RISCV64, SCMP_ARCH_PPC64LE, SCMP_ARCH_S390X, SCMP_ARCH_MIPS64,
	};
	for (size_t i = 0; i < sizeof(arches) / sizeof(arches[0]); i++)
		if (seccomp_syscall_resolve_name_arch(arches[i], name) != __NR_SCMP_ERROR)
			return true;
	return false;
}

int pol_newsys_lookup(uint32_t token, const char *name, int *nr)
{
	for (size_t i = 0; i < N_NEWSYS; i++) {
		if (strcmp(newsys[i].name, name) != 0)
			continue;
		if (scmp_knows(name))
			return POL_NEWSYS_NONE;
		int a = arch_index(token);
		if (a >= 0 && newsys[i].nr[a] != NONE) {
			*nr = newsys[i].nr[a];
			return POL_NEWSYS_HERE;
		}
		return POL_NEWSYS_ELSEWHERE;
	}
	return POL_NEWSYS_NONE;
}

const char *pol_newsys_name(uint32_t token, int nr)
{
	int a = arch_index(token);
	for (size_t i = 0; a >= 0 && i < N_NEWSYS; i++)
		if (newsys[i].nr[a] == nr && !scmp_knows(newsys[i].name))
			return newsys[i].name;
	return NULL;
}
