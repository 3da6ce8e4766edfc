/* Unit tests of policies/: the parser's errors (with where they are), the
 * compiler's output run through a small classic-BPF interpreter on
 * synthetic seccomp_data (each Docker feature: archMap, includes/excludes
 * on caps and arches, args with every operator, errnoRet, every action,
 * the ENOSYS pre-filter, the execve guarantee), the file format, the
 * exporter, the learner, and the no-half-written-output rule. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <cmocka.h>

#include <jansson.h>
#include <seccomp.h>

#include "../../policies/policies.h"

#define X86 AUDIT_ARCH_X86_64
#define A64 AUDIT_ARCH_AARCH64

/* ---- a classic BPF interpreter for seccomp programs --------------------- */
static uint32_t rd32(const unsigned char *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint32_t bpf_run(const unsigned char *prog, uint32_t n, uint32_t nr, uint32_t arch,
                        const uint64_t args[6])
{
	unsigned char data[64] = { 0 };
	uint32_t A = 0, X = 0, M[16] = { 0 };

	memcpy(data, &nr, 4);
	memcpy(data + 4, &arch, 4);
	for (int i = 0; i < 6; i++)
		memcpy(data + 16 + 8 * i, &args[i], 8);
	for (uint32_t pc = 0; pc < n; pc++) {
		const unsigned char *in = prog + 8 * pc;
		uint16_t code = (uint16_t)(in[0] | in[1] << 8);
		uint8_t jt = in[2], jf = in[3];
		uint32_t k = rd32(in + 4);
		switch (code) {
		case BPF_LD | BPF_W | BPF_ABS: assert_true(k + 4 <= 64); memcpy(&A, data + k, 4); break;
		case BPF_LD | BPF_IMM: A = k; break;
		case BPF_LD | BPF_MEM: A = M[k & 15]; break;
		case BPF_LDX | BPF_IMM: X = k; break;
		case BPF_ST: M[k & 15] = A; break;
		case BPF_STX: M[k & 15] = X; break;
		case BPF_MISC | BPF_TAX: X = A; break;
		case BPF_MISC | BPF_TXA: A = X; break;
		case BPF_ALU | BPF_AND | BPF_K: A &= k; break;
		case BPF_ALU | BPF_OR | BPF_K: A |= k; break;
		case BPF_JMP | BPF_JA: pc += k; break;
		case BPF_JMP | BPF_JEQ | BPF_K: pc += A == k ? jt : jf; break;
		case BPF_JMP | BPF_JGT | BPF_K: pc += A > k ? jt : jf; break;
		case BPF_JMP | BPF_JGE | BPF_K: pc += A >= k ? jt : jf; break;
		case BPF_JMP | BPF_JSET | BPF_K: pc += (A & k) ? jt : jf; break;
		case BPF_RET | BPF_K: return k;
		case BPF_RET | BPF_A: return A;
		default: fail_msg("unexpected BPF opcode 0x%x at %u", code, pc);
		}
	}
	fail_msg("BPF program fell off its end");
	return 0;
}

struct prog {
	unsigned char *file;
	size_t len;
	const unsigned char *insns;
	uint32_t n, audit;
};

static int compile_str(const char *json, const char *arch, const char *caps, int opt,
                       struct prog *p, struct mb_err *err)
{
	struct policy *pol;
	memset(p, 0, sizeof(*p));
	if (policy_parse(json, strlen(json), "t.json", &pol, err) < 0)
		return -1;
	struct policy_compile_opts o = { .arch = arch, .caps = caps, .optimize = opt };
	int rc = policy_compile(pol, &o, &p->file, &p->len, err);
	policy_free(pol);
	if (rc < 0)
		return -1;
	const void *ins;
	assert_int_equal(policy_file_check(p->file, p->len, &p->audit, &ins, &p->n, err), 0);
	p->insns = ins;
	return 0;
}

static void must_compile(const char *json, const char *arch, const char *caps, struct prog *p)
{
	struct mb_err err = {0};
	if (compile_str(json, arch, caps, POLICY_OPT_TREE, p, &err) < 0)
		fail_msg("compile failed: %s", err.msg);
}

static uint32_t run(const struct prog *p, const char *name, const uint64_t *args)
{
	static const uint64_t zero[6];
	uint32_t tok = p->audit;  /* libseccomp tokens are audit arch values */
	int nr = seccomp_syscall_resolve_name_arch(tok, name);
	assert_true(nr >= 0);
	return bpf_run(p->insns, p->n, (uint32_t)nr, p->audit, args ? args : zero);
}

static void must_fail(const char *json, const char *arch, const char *caps, const char *want)
{
	struct mb_err err = {0};
	struct prog p;
	if (compile_str(json, arch, caps, POLICY_OPT_TREE, &p, &err) == 0) {
		free(p.file);
		fail_msg("expected failure containing `%s`", want);
	}
	if (!strstr(err.msg, want))
		fail_msg("error `%s` does not contain `%s`", err.msg, want);
}

#define ERRNO(e) (SECCOMP_RET_ERRNO | (e))
#define ALLOW SECCOMP_RET_ALLOW

/* ---- parser errors ------------------------------------------------------ */
static void test_errors(void **s)
{
	(void)s;
	must_fail("{\"defaultAction\": \"SCMP_ACT_ERRNO\",\n \"syscalls\": [}", NULL, NULL,
	          "invalid JSON at line 2 column");
	must_fail("{\"defaultAction\": \"SCMP_ACT_NOPE\"}", NULL, NULL, "unknown action `SCMP_ACT_NOPE`");
	must_fail("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\"], "
	          "\"action\": \"SCMP_ACT_ALLOW\", \"args\": [{\"index\": 0, \"value\": 1, "
	          "\"op\": \"SCMP_CMP_XX\"}]}]}", NULL, NULL, "syscalls[0].args[0]: unknown operator `SCMP_CMP_XX`");
	must_fail("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\"], "
	          "\"action\": \"SCMP_ACT_ALLOW\"}, {\"names\": [\"write\", \"wrtie\"], "
	          "\"action\": \"SCMP_ACT_ALLOW\"}]}", NULL, NULL,
	          "syscalls[1].names[1]: unknown syscall `wrtie`");
	/* A name of another architecture in a single-architecture policy. */
	must_fail("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"architectures\": [\"SCMP_ARCH_X86_64\"],"
	          " \"syscalls\": [{\"names\": [\"_llseek\"], \"action\": \"SCMP_ACT_ALLOW\"}]}",
	          "x86_64", NULL, "syscalls[0].names[0]: syscall `_llseek` does not exist on x86_64");
	must_fail("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"architectures\": [\"SCMP_ARCH_X86_64\"]}",
	          "aarch64", NULL, "does not cover aarch64");
	must_fail("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"archMap\": [{\"architecture\": "
	          "\"SCMP_ARCH_X86_64\"}]}", "aarch64", NULL, "archMap has no SCMP_ARCH_AARCH64");
	must_fail("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"architectures\": [\"SCMP_ARCH_X86_64\"],"
	          " \"archMap\": [{\"architecture\": \"SCMP_ARCH_X86_64\"}]}", NULL, NULL,
	          "both architectures and archMap");
	must_fail("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\"], "
	          "\"action\": \"SCMP_ACT_ALLOW\", \"args\": [{\"index\": 6, \"value\": 1, "
	          "\"op\": \"SCMP_CMP_EQ\"}]}]}", NULL, NULL, "index must be");
	must_fail("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultErrnoRet\": 5000}", NULL, NULL,
	          "defaultErrnoRet: expected an errno");
	must_fail("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\"], "
	          "\"action\": \"SCMP_ACT_ALLOW\", \"includes\": {\"caps\": [\"CAP_FLY\"]}}]}",
	          NULL, NULL, "syscalls[0].includes.caps: unknown capability `CAP_FLY`");
	must_fail("{\"defaultAction\": \"SCMP_ACT_NOTIFY\"}", NULL, NULL, "listener");
	must_fail("{\"syscalls\": []}", NULL, NULL, "defaultAction: missing");
	must_fail("[1, 2]", NULL, NULL, "expected a JSON object");
	must_fail("{\"defaultAction\": \"SCMP_ACT_ERRNO\"}", "sparc", NULL, "unsupported architecture `sparc`");
	must_fail("{\"defaultAction\": \"SCMP_ACT_ERRNO\"}", NULL, "CAP_NOPE", "unknown capability `CAP_NOPE`");
	/* The init needs execve after the filter is loaded. */
	must_fail("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"execve\"], "
	          "\"action\": \"SCMP_ACT_ERRNO\"}]}", NULL, NULL, "`execve` is not allowed");
	must_fail("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"exit_group\"], "
	          "\"action\": \"SCMP_ACT_ALLOW\", \"args\": [{\"index\": 0, \"value\": 0, "
	          "\"op\": \"SCMP_CMP_EQ\"}]}]}", NULL, NULL, "`exit_group` has argument conditions");
	must_fail("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\"], "
	          "\"action\": \"SCMP_ACT_ALLOW\"}], \"minbase\": {\"caps\": [\"bogus\"]}}", NULL, NULL,
	          "minbase.caps: unknown capability `bogus`");
}

/* ---- semantics ---------------------------------------------------------- */
static const char *features =
	"{ \"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultErrnoRet\": 13,\n"
	"  \"archMap\": [ {\"architecture\": \"SCMP_ARCH_X86_64\", \"subArchitectures\": [\"SCMP_ARCH_X86\"]},\n"
	"               {\"architecture\": \"SCMP_ARCH_AARCH64\", \"subArchitectures\": [\"SCMP_ARCH_ARM\"]} ],\n"
	"  \"syscalls\": [\n"
	"   {\"names\": [\"read\", \"write\", \"_llseek\", \"fstat64\"], \"action\": \"SCMP_ACT_ALLOW\", \"comment\": \"c\"},\n"
	"   {\"names\": [\"mount\"], \"action\": \"SCMP_ACT_ALLOW\", \"includes\": {\"caps\": [\"CAP_SYS_ADMIN\"]}},\n"
	"   {\"names\": [\"ptrace\"], \"action\": \"SCMP_ACT_ALLOW\", \"excludes\": {\"caps\": [\"CAP_SYS_ADMIN\"]}},\n"
	"   {\"names\": [\"getppid\"], \"action\": \"SCMP_ACT_ALLOW\", \"includes\": {\"arches\": [\"amd64\"]}},\n"
	"   {\"names\": [\"getpid\"], \"action\": \"SCMP_ACT_ALLOW\", \"excludes\": {\"arches\": [\"amd64\", \"x32\"]}},\n"
	"   {\"names\": [\"gettid\"], \"action\": \"SCMP_ACT_ALLOW\", \"includes\": {\"minKernel\": \"4.8\"}},\n"
	"   {\"names\": [\"getuid\"], \"action\": \"SCMP_ACT_ALLOW\", \"excludes\": {\"minKernel\": \"4.8\"}},\n"
	"   {\"names\": [\"openat\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 2},\n"
	"   {\"names\": [\"close\"], \"action\": \"SCMP_ACT_ERRNO\"},\n"
	"   {\"names\": [\"kill\"], \"action\": \"SCMP_ACT_KILL\"},\n"
	"   {\"names\": [\"tkill\"], \"action\": \"SCMP_ACT_KILL_PROCESS\"},\n"
	"   {\"names\": [\"tgkill\"], \"action\": \"SCMP_ACT_KILL_THREAD\"},\n"
	"   {\"names\": [\"uname\"], \"action\": \"SCMP_ACT_TRAP\"},\n"
	"   {\"names\": [\"getcwd\"], \"action\": \"SCMP_ACT_TRACE\", \"errnoRet\": 7},\n"
	"   {\"names\": [\"getgid\"], \"action\": \"SCMP_ACT_LOG\"},\n"
	"   {\"names\": [\"personality\"], \"action\": \"SCMP_ACT_ALLOW\", \"args\": [\n"
	"      {\"index\": 0, \"value\": 0, \"op\": \"SCMP_CMP_EQ\"}, {\"index\": 0, \"value\": 8, \"op\": \"SCMP_CMP_EQ\"}]},\n"
	"   {\"names\": [\"lseek\"], \"action\": \"SCMP_ACT_ALLOW\", \"args\": [{\"index\": 2, \"value\": 1, \"op\": \"SCMP_CMP_NE\"}]},\n"
	"   {\"names\": [\"dup\"], \"action\": \"SCMP_ACT_ALLOW\", \"args\": [{\"index\": 0, \"value\": 10, \"op\": \"SCMP_CMP_LT\"}]},\n"
	"   {\"names\": [\"dup3\"], \"action\": \"SCMP_ACT_ALLOW\", \"args\": [{\"index\": 0, \"value\": 10, \"op\": \"SCMP_CMP_LE\"}]},\n"
	"   {\"names\": [\"fsync\"], \"action\": \"SCMP_ACT_ALLOW\", \"args\": [{\"index\": 0, \"value\": 10, \"op\": \"SCMP_CMP_GE\"}]},\n"
	"   {\"names\": [\"fdatasync\"], \"action\": \"SCMP_ACT_ALLOW\", \"args\": [{\"index\": 0, \"value\": 10, \"op\": \"SCMP_CMP_GT\"}]},\n"
	"   {\"names\": [\"clone\"], \"action\": \"SCMP_ACT_ALLOW\", \"args\": [{\"index\": 0, \"value\": 2114060288, \"valueTwo\": 0, \"op\": \"SCMP_CMP_MASKED_EQ\"}],\n"
	"      \"excludes\": {\"caps\": [\"CAP_SYS_ADMIN\"]}},\n"
	"   {\"names\": [\"clone\"], \"action\": \"SCMP_ACT_ALLOW\", \"includes\": {\"caps\": [\"CAP_SYS_ADMIN\"]}},\n"
	"   {\"names\": [\"clone3\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 38, \"excludes\": {\"caps\": [\"CAP_SYS_ADMIN\"]}},\n"
	"   {\"name\": \"sched_yield\", \"action\": \"SCMP_ACT_ALLOW\"}\n"
	"  ] }\n";

static void test_features(void **s)
{
	(void)s;
	struct prog p;
	uint64_t a[6] = { 0 };

	must_compile(features, "x86_64", "", &p);
	assert_int_equal(p.audit, X86);
	assert_int_equal(run(&p, "read", NULL), ALLOW);
	assert_int_equal(run(&p, "sched_yield", NULL), ALLOW);           /* old "name" */
	assert_int_equal(run(&p, "mkdir", NULL), ERRNO(13));              /* defaultErrnoRet */
	assert_int_equal(run(&p, "mount", NULL), ERRNO(13));              /* includes caps */
	assert_int_equal(run(&p, "ptrace", NULL), ALLOW);                 /* excludes caps */
	assert_int_equal(run(&p, "getppid", NULL), ALLOW);                /* includes arches */
	assert_int_equal(run(&p, "getpid", NULL), ERRNO(13));             /* excludes arches */
	assert_int_equal(run(&p, "gettid", NULL), ALLOW);                 /* minKernel: satisfied */
	assert_int_equal(run(&p, "getuid", NULL), ERRNO(13));
	assert_int_equal(run(&p, "openat", NULL), ERRNO(2));              /* errnoRet */
	assert_int_equal(run(&p, "close", NULL), ERRNO(1));               /* ERRNO without errnoRet: EPERM */
	assert_int_equal(run(&p, "kill", NULL), SECCOMP_RET_KILL_THREAD);
	assert_int_equal(run(&p, "tkill", NULL), SECCOMP_RET_KILL_PROCESS);
	assert_int_equal(run(&p, "tgkill", NULL), SECCOMP_RET_KILL_THREAD);
	assert_int_equal(run(&p, "uname", NULL), SECCOMP_RET_TRAP);
	assert_int_equal(run(&p, "getcwd", NULL), SECCOMP_RET_TRACE | 7);
	assert_int_equal(run(&p, "getgid", NULL), SECCOMP_RET_LOG);
	/* Two conditions on one argument are ORed (runc). */
	a[0] = 0; assert_int_equal(run(&p, "personality", a), ALLOW);
	a[0] = 8; assert_int_equal(run(&p, "personality", a), ALLOW);
	a[0] = 9; assert_int_equal(run(&p, "personality", a), ERRNO(13));
	a[0] = 0; a[2] = 0; assert_int_equal(run(&p, "lseek", a), ALLOW);  /* NE */
	a[2] = 1; assert_int_equal(run(&p, "lseek", a), ERRNO(13));
	a[2] = 0;
	a[0] = 9; assert_int_equal(run(&p, "dup", a), ALLOW);             /* LT */
	a[0] = 10; assert_int_equal(run(&p, "dup", a), ERRNO(13));
	assert_int_equal(run(&p, "dup3", a), ALLOW);                       /* LE */
	a[0] = 11; assert_int_equal(run(&p, "dup3", a), ERRNO(13));
	a[0] = 10; assert_int_equal(run(&p, "fsync", a), ALLOW);           /* GE */
	a[0] = 9; assert_int_equal(run(&p, "fsync", a), ERRNO(13));
	a[0] = 10; assert_int_equal(run(&p, "fdatasync", a), ERRNO(13));   /* GT */
	a[0] = 11; assert_int_equal(run(&p, "fdatasync", a), ALLOW);
	a[0] = (uint64_t)1 << 32 | 10; assert_int_equal(run(&p, "fdatasync", a), ALLOW); /* 64-bit */
	a[0] = 0x11; assert_int_equal(run(&p, "clone", a), ALLOW);         /* MASKED_EQ */
	a[0] = 0x10000000 | 0x11; assert_int_equal(run(&p, "clone", a), ERRNO(13)); /* CLONE_NEWUSER */
	assert_int_equal(run(&p, "clone3", NULL), ERRNO(38));
	/* What the init needs after loading the filter. */
	assert_int_equal(run(&p, "execve", NULL), ALLOW);
	assert_int_equal(run(&p, "execveat", NULL), ALLOW);
	assert_int_equal(run(&p, "exit_group", NULL), ALLOW);
	/* Newer than the policy can know: ENOSYS; x32 and foreign arches: killed. */
	assert_int_equal(bpf_run(p.insns, p.n, 1000, X86, a), ERRNO(ENOSYS));
	assert_int_equal(bpf_run(p.insns, p.n, 0x40000000 | 1, X86, a), SECCOMP_RET_KILL_PROCESS);
	assert_int_equal(bpf_run(p.insns, p.n, 3, AUDIT_ARCH_I386, a), SECCOMP_RET_KILL_PROCESS);
	free(p.file);

	/* The same profile with CAP_SYS_ADMIN kept. */
	must_compile(features, "x86_64", "sys_admin", &p);
	assert_int_equal(run(&p, "mount", NULL), ALLOW);
	assert_int_equal(run(&p, "ptrace", NULL), ERRNO(13));
	a[0] = 0x10000000; assert_int_equal(run(&p, "clone", a), ALLOW);
	assert_int_equal(run(&p, "clone3", NULL), ERRNO(13));
	free(p.file);

	/* For aarch64: arch-gated rules flip; arm-only names are left out. */
	must_compile(features, "aarch64", NULL, &p);
	assert_int_equal(p.audit, A64);
	assert_int_equal(run(&p, "getppid", NULL), ERRNO(13));
	assert_int_equal(run(&p, "getpid", NULL), ALLOW);
	assert_int_equal(run(&p, "read", NULL), ALLOW);
	assert_int_equal(bpf_run(p.insns, p.n, 1000, A64, a), ERRNO(ENOSYS));
	assert_int_equal(bpf_run(p.insns, p.n, 63, X86, a), SECCOMP_RET_KILL_PROCESS);
	free(p.file);
}

/* ---- syscalls newer than libseccomp (policy_newsys.c) ------------------- */
/* Our own profile with the names Moby's current default adds (not a copy
 * of Moby's file): x86_64, aarch64 and riscv64, riscv_hwprobe gated on
 * riscv64 the way Moby gates it, uretprobe listed for every arch. */
static const char *newer =
	"{ \"defaultAction\": \"SCMP_ACT_ERRNO\",\n"
	"  \"architectures\": [\"SCMP_ARCH_X86_64\", \"SCMP_ARCH_AARCH64\", \"SCMP_ARCH_RISCV64\"],\n"
	"  \"syscalls\": [\n"
	"   {\"names\": [\"read\", \"getxattrat\", \"setxattrat\", \"listxattrat\", \"removexattrat\",\n"
	"      \"listmount\", \"statmount\", \"mseal\", \"lsm_get_self_attr\", \"lsm_set_self_attr\",\n"
	"      \"lsm_list_modules\", \"uretprobe\"], \"action\": \"SCMP_ACT_ALLOW\"},\n"
	"   {\"names\": [\"riscv_hwprobe\"], \"action\": \"SCMP_ACT_ALLOW\", \"includes\": {\"arches\": [\"riscv64\"]}}\n"
	"  ] }\n";

static uint32_t run_nr(const struct prog *p, uint32_t nr)
{
	static const uint64_t zero[6];
	return bpf_run(p->insns, p->n, nr, p->audit, zero);
}

static void test_newer_syscalls(void **s)
{
	(void)s;
	struct prog p, l;
	struct mb_err err = {0};
	size_t left = 0;

	/* Allowed by number where they exist (one number on every
	 * architecture since 5.1; uretprobe is x86_64's 335). */
	must_compile(newer, "x86_64", NULL, &p);
	for (uint32_t nr = 457; nr <= 466; nr++)
		assert_int_equal(run_nr(&p, nr), ALLOW);
	assert_int_equal(run_nr(&p, 335), ALLOW);
	assert_int_equal(run(&p, "read", NULL), ALLOW);
	assert_int_equal(run(&p, "write", NULL), ERRNO(EPERM));
	/* Known (below the highest named) but not allowed: the default. */
	assert_int_equal(run_nr(&p, 336), ERRNO(EPERM));
	/* The ENOSYS threshold rose to removexattrat (466). */
	assert_int_equal(run_nr(&p, 467), ERRNO(ENOSYS));
	assert_int_equal(run_nr(&p, 1000), ERRNO(ENOSYS));
	/* The x32 and i386 forms of the same numbers stay killed. */
	assert_int_equal(bpf_run(p.insns, p.n, 0x40000000 | 462, X86, (uint64_t[6]){ 0 }),
	                 SECCOMP_RET_KILL_PROCESS);
	assert_int_equal(bpf_run(p.insns, p.n, 462, AUDIT_ARCH_I386, (uint64_t[6]){ 0 }),
	                 SECCOMP_RET_KILL_PROCESS);
	/* Tree and linear agree on every number. */
	assert_int_equal(compile_str(newer, "x86_64", "", POLICY_OPT_LINEAR, &l, &err), 0);
	for (uint32_t nr = 0; nr < 600; nr++)
		assert_int_equal(run_nr(&p, nr), run_nr(&l, nr));
	free(l.file);
	free(p.file);

	/* aarch64: the same numbers; uretprobe is x86_64's and left out. */
	struct policy *pol;
	assert_int_equal(policy_parse(newer, strlen(newer), "t.json", &pol, &err), 0);
	struct policy_compile_opts o = { .arch = "aarch64", .left_out = &left };
	assert_int_equal(policy_compile(pol, &o, &p.file, &p.len, &err), 0);
	assert_int_equal(left, 1);
	const void *ins;
	assert_int_equal(policy_file_check(p.file, p.len, &p.audit, &ins, &p.n, &err), 0);
	p.insns = ins;
	assert_int_equal(p.audit, A64);
	for (uint32_t nr = 457; nr <= 466; nr++)
		assert_int_equal(run_nr(&p, nr), ALLOW);
	assert_int_equal(run_nr(&p, 335), ERRNO(EPERM));
	assert_int_equal(run(&p, "read", NULL), ALLOW);
	assert_int_equal(run_nr(&p, 467), ERRNO(ENOSYS));
	free(p.file);
	/* Exported for a runtime, they keep their names. */
	char *out;
	assert_int_equal(policy_export(pol, "docker", "x86_64", "", &out, &err), 0);
	assert_non_null(strstr(out, "\"mseal\""));
	assert_non_null(strstr(out, "\"uretprobe\""));
	assert_null(strstr(out, "riscv_hwprobe"));
	free(out);
	assert_int_equal(policy_summary(pol, NULL, "x86_64", "", &out, &err), 0);
	assert_non_null(strstr(out, "12 unconditionally"));
	free(out);
	policy_free(pol);

	/* A profile that names none of them keeps ENOSYS for them, as before
	 * (and as runc gives it for Docker 20.10's profile). */
	must_compile("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": "
	             "[\"read\"], \"action\": \"SCMP_ACT_ALLOW\"}]}", "x86_64", NULL, &p);
	assert_int_equal(run_nr(&p, 462), ERRNO(ENOSYS));
	free(p.file);
	/* Under an allow-by-default profile, a newer syscall denied explicitly
	 * is denied, with its errno. */
	must_compile("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": "
	             "[\"mseal\", \"getuid\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 22}]}",
	             "aarch64", NULL, &p);
	assert_int_equal(run_nr(&p, 462), ERRNO(22));
	assert_int_equal(run(&p, "getuid", NULL), ERRNO(22));
	assert_int_equal(run_nr(&p, 461), ALLOW);
	assert_int_equal(run(&p, "read", NULL), ALLOW);
	free(p.file);

	/* The file's own architectures decide: a name of another arch in a
	 * single-architecture policy is an error, a typo always is. */
	must_fail("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"architectures\": [\"SCMP_ARCH_AARCH64\"],"
	          " \"syscalls\": [{\"names\": [\"uretprobe\"], \"action\": \"SCMP_ACT_ALLOW\"}]}",
	          "aarch64", NULL, "syscalls[0].names[0]: syscall `uretprobe` does not exist on aarch64");
	must_fail("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": "
	          "[\"riscv_hwprobe\"], \"action\": \"SCMP_ACT_ALLOW\"}]}", "x86_64", NULL,
	          "syscall `riscv_hwprobe` does not exist on x86_64");
	must_fail("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": "
	          "[\"read\", \"msael\"], \"action\": \"SCMP_ACT_ALLOW\"}]}", "x86_64", NULL,
	          "syscalls[0].names[1]: unknown syscall `msael`");
	/* What cannot be compiled by number is refused, not dropped. */
	must_fail("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"mseal\"], "
	          "\"action\": \"SCMP_ACT_ALLOW\", \"args\": [{\"index\": 0, \"value\": 0, "
	          "\"op\": \"SCMP_CMP_EQ\"}]}]}", "x86_64", NULL, "`mseal` has argument conditions");
	must_fail("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"mseal\"], "
	          "\"action\": \"SCMP_ACT_ALLOW\"}, {\"names\": [\"mseal\"], \"action\": "
	          "\"SCMP_ACT_KILL\"}]}", "x86_64", NULL, "`mseal` already has a rule");
}

/* Tree and linear programs decide the same for every syscall number. */
static void test_tree_equals_linear(void **s)
{
	(void)s;
	struct prog t, l;
	struct mb_err err = {0};
	uint64_t a[6] = { 0 };

	assert_int_equal(compile_str(features, "x86_64", "", POLICY_OPT_TREE, &t, &err), 0);
	assert_int_equal(compile_str(features, "x86_64", "", POLICY_OPT_LINEAR, &l, &err), 0);
	for (uint32_t nr = 0; nr < 600; nr++)
		for (uint64_t v = 0; v < 12; v += 5) {
			a[0] = a[2] = v;
			assert_int_equal(bpf_run(t.insns, t.n, nr, X86, a), bpf_run(l.insns, l.n, nr, X86, a));
		}
	free(t.file);
	free(l.file);
}

static void test_file_format(void **s)
{
	(void)s;
	struct prog p;
	struct mb_err err = {0};
	uint32_t n;

	must_compile("{\"defaultAction\": \"SCMP_ACT_KILL_PROCESS\"}", "x86_64", NULL, &p);
	assert_memory_equal(p.file, "MBSECCMP", 8);
	assert_int_equal(rd32(p.file + 8), 1);
	assert_int_equal(rd32(p.file + 12), X86);
	n = rd32(p.file + 16);
	assert_int_equal(p.len, 28 + 8 * (size_t)n);
	assert_int_equal(rd32(p.file + 20), 0);
	/* Deterministic. */
	struct prog q;
	must_compile("{\"defaultAction\": \"SCMP_ACT_KILL_PROCESS\"}", "x86_64", NULL, &q);
	assert_int_equal(q.len, p.len);
	assert_memory_equal(q.file, p.file, p.len);
	free(q.file);
	/* Every corruption is caught. */
	p.file[30] ^= 1;
	assert_int_equal(policy_file_check(p.file, p.len, NULL, NULL, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "checksum"));
	p.file[30] ^= 1;
	p.file[20] = 1;
	assert_int_equal(policy_file_check(p.file, p.len, NULL, NULL, NULL, &err), -1);
	p.file[20] = 0;
	assert_int_equal(policy_file_check(p.file, p.len - 1, NULL, NULL, NULL, &err), -1);
	p.file[0] = 'X';
	assert_int_equal(policy_file_check(p.file, p.len, NULL, NULL, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "magic"));
	free(p.file);
}

/* ---- export ------------------------------------------------------------- */
static void test_export(void **s)
{
	(void)s;
	struct policy *pol;
	char *out;
	struct mb_err err = {0};
	json_error_t je;

	assert_int_equal(policy_parse(features, strlen(features), "t.json", &pol, &err), 0);
	assert_int_equal(policy_export(pol, "docker", "x86_64", "", &out, &err), 0);
	json_t *j = json_loads(out, 0, &je);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "defaultAction")), "SCMP_ACT_ERRNO");
	assert_int_equal(json_integer_value(json_object_get(j, "defaultErrnoRet")), 13);
	assert_null(json_object_get(j, "archMap"));
	const char *flat = out;
	assert_null(strstr(flat, "includes"));
	assert_null(strstr(flat, "excludes"));
	assert_null(strstr(flat, "\"mount\""));      /* needs CAP_SYS_ADMIN */
	assert_non_null(strstr(flat, "\"ptrace\""));
	assert_null(strstr(flat, "_llseek"));        /* not an x86_64 syscall */
	assert_non_null(strstr(flat, "\"execve\""));
	assert_non_null(strstr(flat, "SCMP_CMP_MASKED_EQ"));
	json_decref(j);
	free(out);
	assert_int_equal(policy_export(pol, "oci", "x86_64", "CAP_SYS_ADMIN", &out, &err), 0);
	assert_non_null(strstr(out, "\"mount\""));
	assert_null(strstr(out, "\"comment\""));
	free(out);
	assert_int_equal(policy_export(pol, "yaml", "x86_64", NULL, &out, &err), -1);
	policy_free(pol);
}

/* ---- learn -------------------------------------------------------------- */
static void test_learn(void **s)
{
	(void)s;
	struct policy_learn_result r;
	struct mb_err err = {0};
	char *argv[] = { "/bin/sh", "-c", "exec /bin/true", NULL };

	if (policy_learn(argv, &r, &err) < 0)
		fail_msg("learn: %s", err.msg);
	assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
	assert_non_null(strstr(r.json, "\"execve\""));
	assert_non_null(strstr(r.json, "\"exit_group\""));
	assert_null(strstr(r.json, "\"ptrace\""));   /* the recorder's own calls are not there */
	/* The learned policy compiles and allows what the run did. */
	struct prog p;
	if (compile_str(r.json, NULL, NULL, POLICY_OPT_TREE, &p, &err) < 0)
		fail_msg("learned policy: %s", err.msg);
	assert_int_equal(run(&p, "execve", NULL), ALLOW);
	assert_int_equal(run(&p, "mount", NULL), ERRNO(1));
	free(p.file);
	free(r.json);

	/* Children are followed: nproc, run by a forked child of the shell,
	 * calls sched_getaffinity, which the shell never does. */
	char *forks[] = { "/bin/sh", "-c", "nproc >/dev/null; :", NULL };
	if (policy_learn(forks, &r, &err) < 0)
		fail_msg("learn: %s", err.msg);
	assert_non_null(strstr(r.json, "\"sched_getaffinity\""));
	assert_true(strstr(r.json, "\"wait4\"") || strstr(r.json, "\"waitid\""));
	assert_true(strstr(r.json, "\"clone\"") || strstr(r.json, "\"fork\"") ||
	            strstr(r.json, "\"vfork\"") || strstr(r.json, "\"clone3\""));
	free(r.json);

	char *bad[] = { "/nonexistent/prog", NULL };
	assert_int_equal(policy_learn(bad, &r, &err), -1);
	assert_non_null(strstr(err.msg, "/nonexistent/prog"));
}

/* ---- robustness: mutated input never crashes (ASan/UBSan build) -------- */
static void test_mutations(void **s)
{
	(void)s;
	size_t len = strlen(features);
	char *buf = malloc(len + 1);
	struct mb_err err = {0};
	unsigned seed = 12345;
	int parsed = 0;

	for (int i = 0; i < 3000; i++) {
		memcpy(buf, features, len + 1);
		size_t n = len;
		int edits = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 4;
		for (int e = 0; e < edits; e++) {
			seed = seed * 1103515245u + 12345u;
			size_t at = (seed >> 8) % n;
			switch ((seed >> 4) % 4) {
			case 0: buf[at] = (char)(seed >> 20); break;               /* flip */
			case 1: n = at + 1; buf[n] = 0; break;                      /* truncate */
			case 2: buf[at] = "{}[],:\"0-9ae"[(seed >> 20) % 13]; break; /* syntax */
			default: memmove(buf + at, buf + at + 1, n - at); n--; break; /* delete */
			}
		}
		struct policy *pol;
		err.msg[0] = 0;
		if (policy_parse(buf, n, "m.json", &pol, &err) < 0) {
			assert_true(strncmp(err.msg, "policy `m.json`", 15) == 0);
			continue;
		}
		parsed++;
		unsigned char *out;
		size_t olen;
		struct policy_compile_opts o = { .arch = "x86_64" };
		if (policy_compile(pol, &o, &out, &olen, &err) == 0) {
			assert_int_equal(policy_file_check(out, olen, NULL, NULL, NULL, &err), 0);
			free(out);
		} else {
			assert_true(err.msg[0] != 0);
		}
		char *j;
		if (policy_export(pol, "docker", "x86_64", NULL, &j, &err) == 0)
			free(j);
		policy_free(pol);
	}
	assert_true(parsed > 0);
	free(buf);
}

/* ---- shipped policies, precompiled files, minbase.caps ------------------ */
static void write_text(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

static void test_build_bpf(void **s)
{
	(void)s;
	char dir[] = "/tmp/test_policies.XXXXXX", path[256];
	struct mb_err err = {0};
	unsigned char *a, *b, *c;
	size_t alen, blen, clen;
	char *caps;

	/* From the source tree: compiled. */
	setenv("MINBASE_POLICY_DIR", "policies", 1);
	if (policy_build_bpf("service", "x86_64", NULL, &a, &alen, &err) < 0)
		fail_msg("service: %s", err.msg);
	assert_int_equal(policy_build_bpf("strict", "amd64", NULL, &b, &blen, &err), 0);
	assert_int_equal(policy_file_check(a, alen, NULL, NULL, NULL, &err), 0);
	assert_int_equal(policy_build_bpf("nosuch", "x86_64", NULL, &c, &clen, &err), -1);
	assert_non_null(strstr(err.msg, "no shipped policy named `nosuch`"));
	assert_int_equal(policy_read_caps("service", &caps, &err), 0);
	assert_null(caps);

	/* A policy dir with a precompiled file: it is used as is when sound
	 * (here, on purpose, strict's program under service's name) ... */
	assert_non_null(mkdtemp(dir));
	setenv("MINBASE_POLICY_DIR", dir, 1);
	static const char pol[] = "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": ["
		"{\"names\": [\"mount\"], \"action\": \"SCMP_ACT_ALLOW\", "
		"\"includes\": {\"caps\": [\"CAP_SYS_ADMIN\"]}}], "
		"\"minbase\": {\"caps\": [\"sys_admin\", \"NET_BIND_SERVICE\"]}}";
	snprintf(path, sizeof(path), "%s/svc.json", dir);
	write_text(path, pol, strlen(pol));
	snprintf(path, sizeof(path), "%s/svc.x86_64.bpf", dir);
	write_text(path, b, blen);
	assert_int_equal(policy_build_bpf("svc", "x86_64", NULL, &c, &clen, &err), 0);
	assert_int_equal(clen, blen);
	assert_memory_equal(c, b, blen);
	free(c);
	/* ... and ignored when corrupt, or when capabilities are given. */
	b[40] ^= 1;
	write_text(path, b, blen);
	assert_int_equal(policy_build_bpf("svc", "x86_64", NULL, &c, &clen, &err), 0);
	assert_true(clen != blen || memcmp(c, b, blen) != 0);
	struct prog p = { .file = c, .len = clen };
	const void *ins;
	assert_int_equal(policy_file_check(c, clen, &p.audit, &ins, &p.n, &err), 0);
	p.insns = ins;
	/* minbase.caps is the default capability set: mount is allowed. */
	assert_int_equal(run(&p, "mount", NULL), ALLOW);
	free(c);
	assert_int_equal(policy_build_bpf("svc", "x86_64", "", &c, &clen, &err), 0);
	p.file = c;
	assert_int_equal(policy_file_check(c, clen, &p.audit, &ins, &p.n, &err), 0);
	p.insns = ins;
	assert_int_equal(run(&p, "mount", NULL), ERRNO(1));
	free(c);
	assert_int_equal(policy_read_caps("svc", &caps, &err), 0);
	assert_string_equal(caps, "CAP_SYS_ADMIN,CAP_NET_BIND_SERVICE");
	free(caps);
	/* A path is a path, never a shipped name. */
	snprintf(path, sizeof(path), "%s/svc.json", dir);
	assert_int_equal(policy_read_caps(path, &caps, &err), 0);
	free(caps);
	assert_int_equal(policy_build_bpf("svc", "aarch64", NULL, &c, &clen, &err), 0);
	assert_int_equal(rd32(c + 12), A64);
	free(c);
	unlink(path);
	snprintf(path, sizeof(path), "%s/svc.x86_64.bpf", dir);
	unlink(path);
	rmdir(dir);
	unsetenv("MINBASE_POLICY_DIR");
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_features),
		cmocka_unit_test(test_tree_equals_linear),
		cmocka_unit_test(test_newer_syscalls),
		cmocka_unit_test(test_file_format),
		cmocka_unit_test(test_export),
		cmocka_unit_test(test_learn),
		cmocka_unit_test(test_build_bpf),
		cmocka_unit_test(test_mutations),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
