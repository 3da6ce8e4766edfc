/* Private to policies/: the parsed model shared by the parser, compiler,
 * exporter and summary.  Not part of the public API (policies.h). */
#ifndef MINBASE_POLICY_INT_H
#define MINBASE_POLICY_INT_H

#include <stdarg.h>
#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>

#include "policies.h"

enum pol_act {
	PACT_ALLOW, PACT_ERRNO, PACT_KILL_THREAD, PACT_KILL_PROCESS,
	PACT_TRAP, PACT_TRACE, PACT_LOG,
};

struct pol_arg {
	unsigned index;
	uint64_t value, value2;
	int op;              /* enum scmp_compare */
};

struct pol_cond {
	char **caps;  size_t n_caps;     /* normalised "CAP_X" */
	char **arches; size_t n_arches;  /* as written */
	char *min_kernel;                /* "X.Y" or NULL */
};

struct pol_rule {
	size_t pos;                      /* index in syscalls[] */
	char **names; size_t n_names;
	bool singular;                   /* old format "name" */
	int act;                         /* enum pol_act */
	char *act_name;                  /* as written, e.g. SCMP_ACT_KILL */
	bool has_ret; int ret;           /* errnoRet */
	struct pol_arg *args; size_t n_args;
	struct pol_cond inc, exc;
	char *comment;
};

struct pol_archmap {
	char *arch;                      /* SCMP_ARCH_X86_64 */
	char **subs; size_t n_subs;
};

struct policy {
	char *origin;
	int def_act; char *def_act_name;
	bool has_def_ret; int def_ret;
	char **arches; size_t n_arches;  /* top-level "architectures" */
	struct pol_archmap *archmap; size_t n_archmap;
	struct pol_rule *rules; size_t n_rules;
	char *caps;                      /* minbase.caps, comma list, or NULL */
	char *description;               /* minbase.description */
};

/* Internal to policies/ (mkimage asks for policies through policies.h). */
/* Where shipped policies live: $MINBASE_POLICY_DIR, else
 * dirname(/proc/self/exe)/../share/minbase/policies. */
int policy_dir(char *buf, size_t len, struct mb_err *err);
/* A shipped name is a bare word ("default", "service", "strict"; no '/',
 * no ".json"); anything else is a path. */
bool policy_is_name(const char *name_or_path);
/* Resolve a name or path to the JSON file path (buf). */
int policy_resolve(const char *name_or_path, char *buf, size_t len, struct mb_err *err);
/* Target architectures: "x86_64"/"amd64" or "aarch64"/"arm64". */
int policy_arch_audit(const char *arch, uint32_t *audit, struct mb_err *err);

#define POL_MAX_SUBS 32

/* A target: audit arch, libseccomp token and the names that match it. */
struct pol_target {
	uint32_t audit;
	uint32_t token;
	const char *name;      /* x86_64 / aarch64 */
	const char *goname;    /* amd64 / arm64 (Docker includes.arches) */
	const char *scmpname;  /* SCMP_ARCH_X86_64 */
	uint32_t subs[POL_MAX_SUBS]; /* libseccomp tokens of the other covered arches */
	size_t n_subs;
	bool multi;            /* the policy names several architectures */
};

/* Capability set the policy is resolved against. */
struct pol_caps {
	char **v; size_t n;
};

int pol_target(const struct policy *p, const char *arch, struct pol_target *t, struct mb_err *err);
int pol_caps_parse(const char *list, struct pol_caps *c, struct mb_err *err);
void pol_caps_free(struct pol_caps *c);
int pol_cap_normalise(const char *in, char *out, size_t len);
/* Does rule r apply for target t and caps c (Docker includes/excludes)? */
bool pol_rule_applies(const struct pol_rule *r, const struct pol_target *t,
                      const struct pol_caps *c);
/* Resolve a syscall name for t: >= 0 number in the host's numbering (what
 * libseccomp's rule calls take); POL_SC_NEW for a syscall newer than
 * libseccomp (policy_newsys.c), with *new_nr its number on t, which the
 * compiler emits itself; POL_SC_OTHER when it exists only on another
 * architecture of a multi-architecture policy; POL_SC_NONE on error (err
 * set, naming loc). */
#define POL_SC_NEW   (-3)
#define POL_SC_OTHER (-2)
#define POL_SC_NONE  (-1)
int pol_syscall_resolve(const struct pol_target *t, const char *name,
                        const char *origin, const char *loc, int *new_nr, struct mb_err *err);
/* The target's number of a syscall in any table: libseccomp's, then
 * policy_newsys.c's; -1 when t has no such syscall. */
int pol_syscall_number(const struct pol_target *t, const char *name);
/* The name of the target's syscall nr, from either table: malloc'd, or
 * NULL when neither knows it. */
char *pol_syscall_name(const struct pol_target *t, int nr);

/* policy_newsys.c: syscalls newer than libseccomp, by the kernel's
 * numbers.  Lookup answers for a libseccomp token (x86_64, aarch64,
 * riscv64): HERE (*nr set), ELSEWHERE (only other architectures have it)
 * or NONE (not in the table, or libseccomp knows it). */
enum { POL_NEWSYS_NONE, POL_NEWSYS_HERE, POL_NEWSYS_ELSEWHERE };
int pol_newsys_lookup(uint32_t token, const char *name, int *nr);
const char *pol_newsys_name(uint32_t token, int nr);
/* libseccomp action value for an action kind. */
uint32_t pol_scmp_action(int act, bool has_ret, int ret);
const char *pol_act_name(int act);
const char *pol_op_name(int op);

#endif
