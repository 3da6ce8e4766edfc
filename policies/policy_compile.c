/* Compile a parsed policy with libseccomp into the seccomp file format v1:
 * resolve Docker's includes/excludes for a target and a capability set,
 * add the rules, export the BPF program, prepend the ENOSYS pre-filter and
 * wrap it with the header and crc32. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include <seccomp.h>
#include <zlib.h>

#include "policy_int.h"

/* ---- targets ----------------------------------------------------------- */
static const struct {
	const char *name, *alias, *scmpname;
	uint32_t audit, token;
} targets[] = {
	{ "x86_64", "amd64", "SCMP_ARCH_X86_64", AUDIT_ARCH_X86_64, SCMP_ARCH_X86_64 },
	{ "aarch64", "arm64", "SCMP_ARCH_AARCH64", AUDIT_ARCH_AARCH64, SCMP_ARCH_AARCH64 },
};

const char *policy_host_arch(void)
{
#if defined(__aarch64__)
	return "aarch64";
#else
	return "x86_64";
#endif
}

int policy_arch_audit(const char *arch, uint32_t *audit, struct mb_err *err)
{
	if (!arch)
		arch = policy_host_arch();
	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
		if (strcmp(arch, targets[i].name) == 0 || strcmp(arch, targets[i].alias) == 0) {
			*audit = targets[i].audit;
			return 0;
		}
	}
	return mb_error(err, 0, "unsupported architecture `%s` (use x86_64 or aarch64)", arch);
}

/* "SCMP_ARCH_X86" -> libseccomp token, 0 when unknown. */
static uint32_t scmp_arch_token(const char *s)
{
	char low[32];
	size_t i;

	if (strncmp(s, "SCMP_ARCH_", 10) == 0)
		s += 10;
	for (i = 0; s[i] && i < sizeof(low) - 1; i++)
		low[i] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] + 32 : s[i]);
	low[i] = 0;
	return seccomp_arch_resolve_name(low);
}

int pol_target(const struct policy *p, const char *arch, struct pol_target *t, struct mb_err *err)
{
	size_t k;

	memset(t, 0, sizeof(*t));
	if (!arch)
		arch = policy_host_arch();
	for (k = 0; k < sizeof(targets) / sizeof(targets[0]); k++)
		if (strcmp(arch, targets[k].name) == 0 || strcmp(arch, targets[k].alias) == 0)
			break;
	if (k == sizeof(targets) / sizeof(targets[0]))
		return mb_error(err, 0, "unsupported architecture `%s` (use x86_64 or aarch64)", arch);
	t->audit = targets[k].audit;
	t->token = targets[k].token;
	t->name = targets[k].name;
	t->goname = targets[k].alias;
	t->scmpname = targets[k].scmpname;

	/* Which other architectures does the policy cover?  Their syscall
	 * names are valid in the policy, but the compiled filter covers the
	 * target's native ABI only (compat ABIs are killed), so such names are
	 * left out (and counted by `check`). */
	if (p->n_arches) {
		bool found = false;
		for (size_t i = 0; i < p->n_arches; i++) {
			uint32_t tok = scmp_arch_token(p->arches[i]);
			if (tok == t->token)
				found = true;
			else if (tok && t->n_subs < POL_MAX_SUBS)
				t->subs[t->n_subs++] = tok;
		}
		if (!found)
			return mb_error(err, 0, "policy `%s` does not cover %s: its architectures "
			                "list has no %s", p->origin, t->name, t->scmpname);
	} else if (p->n_archmap) {
		bool found = false;
		/* A multi-architecture profile (Moby's lists arm names that
		 * arm64 lacks, such as alarm): a name is valid when it exists on
		 * any architecture the profile covers. */
		for (size_t i = 0; i < p->n_archmap; i++) {
			uint32_t tok = scmp_arch_token(p->archmap[i].arch);
			if (tok == t->token)
				found = true;
			else if (tok && t->n_subs < POL_MAX_SUBS)
				t->subs[t->n_subs++] = tok;
			for (size_t j = 0; j < p->archmap[i].n_subs && t->n_subs < POL_MAX_SUBS; j++) {
				uint32_t st = scmp_arch_token(p->archmap[i].subs[j]);
				if (st && st != t->token)
					t->subs[t->n_subs++] = st;
			}
		}
		if (!found)
			return mb_error(err, 0, "policy `%s` does not cover %s: its archMap has no "
			                "%s entry", p->origin, t->name, t->scmpname);
	}
	t->multi = p->n_archmap > 0 || p->n_arches > 1;
	return 0;
}

/* ---- includes / excludes ----------------------------------------------- */
static bool has_cap(const struct pol_caps *c, const char *cap)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->v[i], cap) == 0)
			return true;
	return false;
}

static bool arch_matches(const struct pol_target *t, const char *a)
{
	return strcmp(a, t->goname) == 0 || strcmp(a, t->name) == 0 ||
	       strcmp(a, t->scmpname) == 0;
}

bool pol_rule_applies(const struct pol_rule *r, const struct pol_target *t,
                      const struct pol_caps *c)
{
	/* Docker semantics: every included cap must be held, one listed arch
	 * must match; any held excluded cap or matching excluded arch removes
	 * the rule.  minKernel is treated as satisfied: the filter runs on a
	 * kernel we cannot see at build time, and a kernel that lacks the
	 * syscall answers ENOSYS by itself.  So excludes.minKernel always
	 * excludes. */
	for (size_t i = 0; i < r->inc.n_caps; i++)
		if (!has_cap(c, r->inc.caps[i]))
			return false;
	if (r->inc.n_arches) {
		bool any = false;
		for (size_t i = 0; i < r->inc.n_arches; i++)
			any |= arch_matches(t, r->inc.arches[i]);
		if (!any)
			return false;
	}
	for (size_t i = 0; i < r->exc.n_caps; i++)
		if (has_cap(c, r->exc.caps[i]))
			return false;
	for (size_t i = 0; i < r->exc.n_arches; i++)
		if (arch_matches(t, r->exc.arches[i]))
			return false;
	if (r->exc.min_kernel)
		return false;
	return true;
}

int pol_syscall_resolve(const struct pol_target *t, const char *name,
                        const char *origin, const char *loc, int *new_nr, struct mb_err *err)
{
	int nr = seccomp_syscall_resolve_name_arch(t->token, name);
	if (nr == __NR_SCMP_ERROR) {
		/* Newer than libseccomp: the table decides, exactly as
		 * libseccomp's own would (other-architecture names below). */
		switch (pol_newsys_lookup(t->token, name, new_nr)) {
		case POL_NEWSYS_HERE:
			return POL_SC_NEW;
		case POL_NEWSYS_ELSEWHERE:
			goto other;
		}
	}
	if (nr >= 0) {
		/* libseccomp takes numbers in the host's numbering and translates
		 * by name for a foreign target. */
		if (t->token != seccomp_arch_native()) {
			int nat = seccomp_syscall_resolve_name(name);
			if (nat == __NR_SCMP_ERROR)
				return mb_error(err, 0, "policy `%s`: %s: syscall `%s` cannot be "
				                "compiled for %s on this host", origin, loc, name,
				                t->name);
			return nat;
		}
		return nr;
	}
	if (nr == __NR_SCMP_ERROR)
		return mb_error(err, 0, "policy `%s`: %s: unknown syscall `%s` (not a Linux "
		                "system call known to libseccomp %u.%u.%u or to minbase's table "
		                "of newer ones)", origin, loc, name,
		                seccomp_version()->major, seccomp_version()->minor,
		                seccomp_version()->micro);
other:
	/* A real syscall, but of another architecture.  A profile written for
	 * several architectures (archMap, or more than one entry in
	 * architectures; Moby's default lists arm and ppc names together)
	 * legitimately names it: it is left out of this target's filter and
	 * counted by `check` and `compile`.  A single-architecture policy
	 * naming it is wrong, and says so. */
	if (t->multi)
		return POL_SC_OTHER;
	return mb_error(err, 0, "policy `%s`: %s: syscall `%s` does not exist on %s "
	                "(the policy names no other architecture)", origin, loc, name,
	                t->name);
}

int pol_syscall_number(const struct pol_target *t, const char *name)
{
	int nr = seccomp_syscall_resolve_name_arch(t->token, name);
	if (nr >= 0)
		return nr;
	if (nr == __NR_SCMP_ERROR && pol_newsys_lookup(t->token, name, &nr) == POL_NEWSYS_HERE)
		return nr;
	return -1;
}

char *pol_syscall_name(const struct pol_target *t, int nr)
{
	char *s = seccomp_syscall_resolve_num_arch(t->token, nr);
	if (s)
		return s;
	const char *n = pol_newsys_name(t->token, nr);
	return n ? strdup(n) : NULL;
}

/* ---- compile ----------------------------------------------------------- */
/* Syscalls the init makes after loading the filter: execve/execveat to
 * start the service; exit/exit_group when execve fails and it must stop. */
static const char *const init_needs[] = { "execve", "execveat", "exit", "exit_group" };

static int add_rule(scmp_filter_ctx ctx, const struct policy *p,
                    const struct pol_rule *r, uint32_t act, int nr,
                    const char *name, struct mb_err *err)
{
	struct scmp_arg_cmp cmp[6];
	unsigned cnt[6] = { 0 };
	bool multi = false;
	int rc;

	if (r->n_args > 6)
		multi = true;
	for (size_t i = 0; i < r->n_args; i++)
		if (++cnt[r->args[i].index] > 1)
			multi = true;
	if (!multi) {
		for (size_t i = 0; i < r->n_args; i++)
			cmp[i] = (struct scmp_arg_cmp){ r->args[i].index, r->args[i].op,
			                               r->args[i].value, r->args[i].value2 };
		rc = seccomp_rule_add_array(ctx, act, nr, (unsigned)r->n_args, cmp);
	} else {
		/* Like runc: conditions on the same argument are ORed, each as a
		 * rule of its own (libseccomp ANDs the conditions of one rule). */
		rc = 0;
		for (size_t i = 0; i < r->n_args && rc == 0; i++) {
			cmp[0] = (struct scmp_arg_cmp){ r->args[i].index, r->args[i].op,
			                               r->args[i].value, r->args[i].value2 };
			rc = seccomp_rule_add_array(ctx, act, nr, 1, cmp);
		}
	}
	if (rc < 0)
		return mb_error(err, 0, "policy `%s`: syscalls[%zu]: cannot add the rule for `%s`: "
		                "%s (a conflicting rule for the same syscall?)", p->origin, r->pos,
		                name, strerror(-rc));
	return 0;
}

/* Highest syscall number libseccomp knows for the target: anything above
 * is newer than the policy can know about and gets ENOSYS. */
static uint32_t max_known_syscall(uint32_t token)
{
	uint32_t max = 0;
	for (int n = 0; n < 1024; n++) {
		char *s = seccomp_syscall_resolve_num_arch(token, n);
		if (s) {
			max = (uint32_t)n;
			free(s);
		}
	}
	return max;
}

/* Reads exactly n bytes from fd into a new buffer of n + extra bytes;
 * NULL on a short read, an error or no memory. */
static unsigned char *read_exact(int fd, size_t n, size_t extra)
{
	unsigned char *b = malloc(n + extra);
	size_t got = 0;
	while (b && got < n) {
		ssize_t r = read(fd, b + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			free(b);
			return NULL;
		}
		got += (size_t)r;
	}
	return b;
}

static int export_prog(scmp_filter_ctx ctx, unsigned char **prog, size_t *len, struct mb_err *err)
{
	int fd = memfd_create("minbase-bpf", MFD_CLOEXEC);
	if (fd < 0)
		return mb_error(err, errno, "cannot create a memfd for the BPF program");
	int rc = seccomp_export_bpf(ctx, fd);
	if (rc < 0) {
		close(fd);
		return mb_error(err, -rc, "libseccomp cannot export the BPF program");
	}
	off_t end = lseek(fd, 0, SEEK_END);
	if (end <= 0 || end % 8 || lseek(fd, 0, SEEK_SET) < 0) {
		close(fd);
		return mb_error(err, 0, "libseccomp exported an empty or malformed BPF program");
	}
	unsigned char *buf = read_exact(fd, (size_t)end, 0);
	close(fd);
	if (!buf)
		return mb_error(err, 0, "cannot read back the BPF program");
	*prog = buf;
	*len = (size_t)end;
	return 0;
}

static void put32(unsigned char *b, uint32_t v)
{
	b[0] = (unsigned char)v;
	b[1] = (unsigned char)(v >> 8);
	b[2] = (unsigned char)(v >> 16);
	b[3] = (unsigned char)(v >> 24);
}

static uint32_t get32(const unsigned char *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void put_insn(unsigned char *b, uint16_t code, uint8_t jt, uint8_t jf, uint32_t k)
{
	b[0] = (unsigned char)code;
	b[1] = (unsigned char)(code >> 8);
	b[2] = jt;
	b[3] = jf;
	put32(b + 4, k);
}

/* Rules for syscalls newer than libseccomp (POL_SC_NEW), which the
 * pre-filter below decides by number. */
#define MAX_NEW 32
struct new_rules {
	struct { uint32_t nr, act; } v[MAX_NEW];
	size_t n;
	uint32_t max;          /* highest such syscall the policy names, 0 = none */
};

static int new_rule_add(struct new_rules *nw, const struct policy *p, const struct pol_rule *r,
                        const char *loc, const char *name, int nr, uint32_t act, uint32_t def,
                        struct mb_err *err)
{
	if ((uint32_t)nr > nw->max)
		nw->max = (uint32_t)nr;
	if (r->n_args)
		return mb_error(err, 0, "policy `%s`: %s: `%s` has argument conditions, which minbase "
		                "cannot compile: libseccomp %u.%u.%u does not know it, and minbase "
		                "allows it by number only unconditionally", p->origin, loc, name,
		                seccomp_version()->major, seccomp_version()->minor,
		                seccomp_version()->micro);
	if (act == def)
		return 0;  /* what the default does anyway, as for libseccomp */
	for (size_t i = 0; i < nw->n; i++) {
		if (nw->v[i].nr != (uint32_t)nr)
			continue;
		if (nw->v[i].act == act)
			return 0;
		return mb_error(err, 0, "policy `%s`: %s: `%s` already has a rule with another "
		                "action", p->origin, loc, name);
	}
	if (nw->n == MAX_NEW)
		return mb_error(err, 0, "policy `%s`: too many new syscalls", p->origin);
	nw->v[nw->n].nr = (uint32_t)nr;
	nw->v[nw->n++].act = act;
	return 0;
}

/* The pre-filter, placed before libseccomp's program (all BPF jumps are
 * relative and forward, so prepending keeps it valid):
 *   0 ld  [arch]
 *   1 jeq AUDIT, 0, ->P           other arch: libseccomp decides
 *   2 ld  [nr]
 *   . jeq NEW_i, ->RET(act_i)     one per newer-than-libseccomp rule
 *  then with ENOSYS:
 *   . jgt MAX, 0, ->P             known syscall: libseccomp decides
 *  (. jge 0x40000000, ->P, 0)     x86_64 only: x32 numbers, libseccomp kills
 *   . ret ERRNO(ENOSYS)
 *  or without: ja ->P
 *   . ret act_j                   one per distinct action of the NEW rules
 *   P: libseccomp's program
 * ENOSYS as runc's patchbpf: libc probes of syscalls newer than the policy
 * falls back cleanly.  Nothing at all when neither part is needed. */
static size_t prefilter(unsigned char *b, uint32_t audit, uint32_t max, bool enosys,
                        const struct new_rules *nw)
{
	uint32_t acts[MAX_NEW];
	size_t nacts = 0;

	if (!enosys && !nw->n)
		return 0;
	for (size_t i = 0; i < nw->n; i++) {
		size_t j = 0;
		while (j < nacts && acts[j] != nw->v[i].act)
			j++;
		if (j == nacts)
			acts[nacts++] = nw->v[i].act;
	}
	size_t mid = enosys ? (audit == AUDIT_ARCH_X86_64 ? 3 : 2) : 1;
	size_t rets = 3 + nw->n + mid;          /* index of the first ret act_j */
	size_t n = rets + nacts, i = 0;

	put_insn(b + 8 * i++, BPF_LD | BPF_W | BPF_ABS, 0, 0, 4);
	put_insn(b + 8 * i, BPF_JMP | BPF_JEQ | BPF_K, 0, (uint8_t)(n - i - 1), audit), i++;
	put_insn(b + 8 * i++, BPF_LD | BPF_W | BPF_ABS, 0, 0, 0);
	for (size_t k = 0; k < nw->n; k++, i++) {
		size_t j = 0;
		while (acts[j] != nw->v[k].act)
			j++;
		put_insn(b + 8 * i, BPF_JMP | BPF_JEQ | BPF_K, (uint8_t)(rets + j - i - 1), 0,
		         nw->v[k].nr);
	}
	if (enosys) {
		put_insn(b + 8 * i, BPF_JMP | BPF_JGT | BPF_K, 0, (uint8_t)(n - i - 1), max), i++;
		if (audit == AUDIT_ARCH_X86_64)
			put_insn(b + 8 * i, BPF_JMP | BPF_JGE | BPF_K, (uint8_t)(n - i - 1), 0,
			         0x40000000u), i++;
		put_insn(b + 8 * i++, BPF_RET | BPF_K, 0, 0,
		         SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA));
	} else {
		put_insn(b + 8 * i, BPF_JMP | BPF_JA, 0, 0, (uint32_t)(n - i - 1)), i++;
	}
	for (size_t j = 0; j < nacts; j++)
		put_insn(b + 8 * i++, BPF_RET | BPF_K, 0, 0, acts[j]);
	return i;
}

static int compile_rules(scmp_filter_ctx ctx, const struct policy *p,
                         const struct pol_target *t, const struct pol_caps *caps,
                         uint32_t def, size_t *left_out, struct new_rules *nw, struct mb_err *err)
{
	bool need_seen[4] = { false };

	for (size_t i = 0; i < p->n_rules; i++) {
		const struct pol_rule *r = &p->rules[i];
		if (!pol_rule_applies(r, t, caps))
			continue;
		uint32_t act = pol_scmp_action(r->act, r->has_ret, r->ret);
		for (size_t j = 0; j < r->n_names; j++) {
			char loc[64];
			snprintf(loc, sizeof(loc), "syscalls[%zu].%s[%zu]", r->pos,
			         r->singular ? "name" : "names", j);
			int new_nr;
			int nr = pol_syscall_resolve(t, r->names[j], p->origin, loc, &new_nr, err);
			if (nr == POL_SC_NONE)
				return -1;
			if (nr == POL_SC_OTHER) {
				(*left_out)++;
				continue;
			}
			if (nr == POL_SC_NEW) {
				if (new_rule_add(nw, p, r, loc, r->names[j], new_nr, act, def, err) < 0)
					return -1;
				continue;
			}
			for (size_t k = 0; k < 4; k++) {
				if (strcmp(r->names[j], init_needs[k]) != 0)
					continue;
				if (act != SCMP_ACT_ALLOW && act != SCMP_ACT_LOG)
					return mb_error(err, 0, "policy `%s`: %s: `%s` is not allowed, but "
					                "minbase-init needs it to start the service",
					                p->origin, loc, r->names[j]);
				/* Conditions on it could neither be kept (the init's own
				 * call must pass) nor dropped silently. */
				if (r->n_args)
					return mb_error(err, 0, "policy `%s`: %s: `%s` has argument "
					                "conditions, but minbase-init needs it "
					                "unconditionally", p->origin, loc, r->names[j]);
				need_seen[k] = true;
			}
			if (act == def)
				continue;  /* libseccomp refuses rules equal to the default */
			if (add_rule(ctx, p, r, act, nr, r->names[j], err) < 0)
				return -1;
		}
	}
	if (def == SCMP_ACT_ALLOW || def == SCMP_ACT_LOG)
		return 0;
	for (size_t k = 0; k < 4; k++) {
		if (need_seen[k])
			continue;
		int nr = seccomp_syscall_resolve_name(init_needs[k]);
		int rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		if (rc < 0)
			return mb_error(err, 0, "policy `%s`: cannot allow `%s`, which minbase-init "
			                "needs: %s (a conditional rule for it?)", p->origin,
			                init_needs[k], strerror(-rc));
	}
	return 0;
}

int policy_compile(const struct policy *p, const struct policy_compile_opts *o,
                   unsigned char **out, size_t *out_len, struct mb_err *err)
{
	struct pol_target t;
	struct pol_caps caps;
	unsigned char *prog = NULL;
	size_t prog_len = 0;
	int rc = -1;

	*out = NULL;
	*out_len = 0;
	if (pol_target(p, o->arch, &t, err) < 0)
		return -1;
	if (pol_caps_parse(o->caps ? o->caps : p->caps, &caps, err) < 0)
		return -1;

	uint32_t def = pol_scmp_action(p->def_act, true, p->has_def_ret ? p->def_ret : EPERM);
	scmp_filter_ctx ctx = seccomp_init(def);
	if (!ctx) {
		mb_error(err, 0, "libseccomp cannot create a filter");
		goto out;
	}
	/* The filter holds the target only: compile for a foreign target by
	 * adding it and removing the host's. */
	if (t.token != seccomp_arch_native()) {
		int e = seccomp_arch_add(ctx, t.token);
		if (e == 0)
			e = seccomp_arch_remove(ctx, seccomp_arch_native());
		if (e < 0) {
			mb_error(err, -e, "libseccomp cannot target %s", t.name);
			goto out;
		}
	}
	int optimize = o->optimize ? o->optimize : POLICY_OPT_TREE;
	if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, (uint32_t)optimize) < 0 ||
	    seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) < 0) {
		mb_error(err, 0, "libseccomp rejects the optimiser settings (needs 2.5 or later)");
		goto out;
	}
	size_t left = 0;
	struct new_rules nw = { .n = 0 };
	if (compile_rules(ctx, p, &t, &caps, def, &left, &nw, err) < 0)
		goto out;
	if (o->left_out)
		*o->left_out = left;
	if (export_prog(ctx, &prog, &prog_len, err) < 0)
		goto out;

	/* ENOSYS above what both the compiler and the policy know: the
	 * highest syscall of libseccomp's table, or the highest newer one the
	 * policy names.  A profile written before those (Moby's for Docker
	 * 20.10) thus keeps ENOSYS for them, as runc gives it, and one that
	 * names, say, mseal knows what lies below it. */
	bool enosys = !o->no_enosys && def != SCMP_ACT_ALLOW && def != SCMP_ACT_LOG;
	uint32_t max = max_known_syscall(t.token);
	if (nw.max > max)
		max = nw.max;
	unsigned char pbuf[(6 + 2 * MAX_NEW) * 8];
	size_t npre = prefilter(pbuf, t.audit, max, enosys, &nw);
	size_t n = npre + prog_len / 8;
	if (n > FILTER_FILE_MAXINSNS) {
		mb_error(err, 0, "policy `%s` compiles to %zu BPF instructions; the kernel "
		         "accepts at most %d", p->origin, n, FILTER_FILE_MAXINSNS);
		goto out;
	}
	size_t total = FILTER_FILE_SIZE(n);
	unsigned char *f = calloc(1, total);
	if (!f) {
		mb_error(err, 0, "out of memory");
		goto out;
	}
	memcpy(f, FILTER_FILE_MAGIC, 8);
	put32(f + 8, FILTER_FILE_VERSION);
	put32(f + 12, t.audit);
	put32(f + 16, (uint32_t)n);
	put32(f + 20, 0);
	memcpy(f + FILTER_FILE_HDR, pbuf, 8 * npre);
	/* libseccomp exports in host byte order; this host is little-endian
	 * (x86_64/aarch64), which is what the file format wants. */
	memcpy(f + FILTER_FILE_HDR + 8 * npre, prog, prog_len);
	put32(f + total - 4, (uint32_t)crc32(0L, f, (uInt)(total - 4)));
	*out = f;
	*out_len = total;
	rc = 0;
out:
	free(prog);
	if (ctx)
		seccomp_release(ctx);
	pol_caps_free(&caps);
	return rc;
}

int policy_file_check(const unsigned char *buf, size_t len, uint32_t *audit,
                      const void **insns, uint32_t *n_insns, struct mb_err *err)
{
	if (len < FILTER_FILE_SIZE(0) || memcmp(buf, FILTER_FILE_MAGIC, 8) != 0)
		return mb_error(err, 0, "not a minbase seccomp file (bad magic or too short)");
	if (get32(buf + 8) != FILTER_FILE_VERSION)
		return mb_error(err, 0, "unsupported seccomp file version %u", get32(buf + 8));
	uint32_t a = get32(buf + 12), n = get32(buf + 16);
	if (a != AUDIT_ARCH_X86_64 && a != AUDIT_ARCH_AARCH64)
		return mb_error(err, 0, "seccomp file for unknown audit arch 0x%08x", a);
	if (n < 1 || n > FILTER_FILE_MAXINSNS)
		return mb_error(err, 0, "seccomp file has %u instructions (1..4096 allowed)", n);
	if (get32(buf + 20) != 0)
		return mb_error(err, 0, "seccomp file has reserved flags set");
	if (len != FILTER_FILE_SIZE(n))
		return mb_error(err, 0, "seccomp file size %zu does not match %u instructions", len, n);
	if ((uint32_t)crc32(0L, buf, (uInt)(len - 4)) != get32(buf + len - 4))
		return mb_error(err, 0, "seccomp file checksum mismatch (corrupt file)");
	if (audit)
		*audit = a;
	if (insns)
		*insns = buf + FILTER_FILE_HDR;
	if (n_insns)
		*n_insns = n;
	return 0;
}

static int read_small(const char *path, unsigned char **out, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (1 << 20)) {
		close(fd);
		return -1;
	}
	unsigned char *b = read_exact(fd, (size_t)st.st_size, 1);
	close(fd);
	if (!b)
		return -1;
	*out = b;
	*len = (size_t)st.st_size;
	return 0;
}

int policy_build_bpf(const char *name_or_path, const char *arch, const char *caps,
                     unsigned char **out, size_t *out_len, struct mb_err *err)
{
	struct policy *p;
	uint32_t audit;

	if (policy_arch_audit(arch, &audit, err) < 0)
		return -1;
	/* A shipped policy for its default caps: take the precompiled file
	 * when it is there and sound; otherwise compile (same result).  The
	 * shipped policies keep no capabilities, so "" and NULL agree. */
	if (policy_is_name(name_or_path) && (!caps || !*caps) && !getenv("MINBASE_POLICY_NOCACHE")) {
		char dir[PATH_MAX], path[PATH_MAX + 64];
		uint32_t a;
		if (policy_dir(dir, sizeof(dir), NULL) == 0) {
			snprintf(path, sizeof(path), "%s/%s.%s.bpf", dir, name_or_path,
			         audit == AUDIT_ARCH_AARCH64 ? "aarch64" : "x86_64");
			if (read_small(path, out, out_len) == 0) {
				if (policy_file_check(*out, *out_len, &a, NULL, NULL, NULL) == 0 && a == audit)
					return 0;
				free(*out);
			}
		}
	}
	if (policy_load(name_or_path, &p, err) < 0)
		return -1;
	struct policy_compile_opts o = { .arch = arch, .caps = caps, .optimize = POLICY_OPT_TREE };
	int rc = policy_compile(p, &o, out, out_len, err);
	policy_free(p);
	return rc;
}

int policy_read_caps(const char *name_or_path, char **caps, struct mb_err *err)
{
	struct policy *p;

	*caps = NULL;
	if (policy_load(name_or_path, &p, err) < 0)
		return -1;
	if (p->caps && !(*caps = strdup(p->caps))) {
		policy_free(p);
		return mb_error(err, 0, "out of memory");
	}
	policy_free(p);
	return 0;
}
