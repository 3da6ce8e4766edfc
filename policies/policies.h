/* policies: seccomp and capability policies in Docker/OCI seccomp JSON,
 * compiled with libseccomp into the "seccomp file format v1" that
 * minbase-init loads, exported as flat Docker/OCI JSON, summarised, and
 * learned from a real run (ptrace).
 *
 * Knows nothing of images or tar.  Library code: never prints, never exits;
 * fallible calls return -1 and fill the caller's struct mb_err with a
 * lowercase message naming the object (rootfs/error.h, header-only: no link
 * dependency on rootfs/). */
#ifndef MINBASE_POLICIES_H
#define MINBASE_POLICIES_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "../rootfs/error.h"

/* The seccomp file format v1 is the init's (its consumer's): its one
 * definition, FILTER_FILE_*, is in init/seccomp_file.h. */
#include "../init/seccomp_file.h"

/* A parsed, validated policy (Docker seccomp JSON + minbase extension). */
struct policy;

int policy_load(const char *name_or_path, struct policy **out, struct mb_err *err);
/* Parse from memory; origin names the source in messages. */
int policy_parse(const char *json, size_t len, const char *origin,
                 struct policy **out, struct mb_err *err);
void policy_free(struct policy *p);

/* The host's architecture name ("x86_64" or "aarch64"). */
const char *policy_host_arch(void);

enum policy_optimize { POLICY_OPT_LINEAR = 1, POLICY_OPT_TREE = 2 };

struct policy_compile_opts {
	const char *arch;       /* NULL = host */
	const char *caps;       /* NULL = the policy's own caps; "" = none */
	int optimize;           /* POLICY_OPT_TREE (default when 0) or _LINEAR */
	bool no_enosys;         /* leave out the ENOSYS pre-filter (bench only) */
	size_t *left_out;       /* optional out: names of other architectures left out */
};

/* Compile into the file format v1; *out is malloc'd. */
int policy_compile(const struct policy *p, const struct policy_compile_opts *o,
                   unsigned char **out, size_t *out_len, struct mb_err *err);

/* Contract: compile a shipped name or a JSON path for arch with a kept
 * capability list (comma-separated or NULL = the policy's own) into file
 * format v1.  A shipped name with no caps uses the precompiled
 * NAME.ARCH.bpf when it is present and valid. */
int policy_build_bpf(const char *name_or_path, const char *arch,
                     const char *caps, unsigned char **out, size_t *out_len,
                     struct mb_err *err);
/* Contract: the capabilities a policy names, malloc'd comma list or NULL. */
int policy_read_caps(const char *name_or_path, char **caps, struct mb_err *err);

/* Validate a file format v1 image; on success *insns points into buf. */
int policy_file_check(const unsigned char *buf, size_t len, uint32_t *audit,
                      const void **insns, uint32_t *n_insns, struct mb_err *err);

/* Flat JSON for `docker run --security-opt seccomp=FILE` ("docker") or
 * an OCI runtime-spec linux.seccomp object ("oci"): includes/excludes
 * resolved for arch and caps.  *out is a malloc'd NUL-terminated string. */
int policy_export(const struct policy *p, const char *format,
                  const char *arch, const char *caps, char **out, struct mb_err *err);

/* A human summary (counts, default action, what it allows that `deny`
 * (normally the shipped `default`) would deny); malloc'd text. */
int policy_summary(const struct policy *p, const struct policy *deny,
                   const char *arch, const char *caps, char **out, struct mb_err *err);

/* Run argv under ptrace, following every thread and child, and record the
 * syscalls made after the first execve.  On success *json is a malloc'd
 * allowlist policy and *status the program's wait status. */
struct policy_learn_result {
	char *json;
	int status;
	unsigned n_syscalls;
};
int policy_learn(char *const argv[], struct policy_learn_result *r, struct mb_err *err);

/* The compiler and the exporters return bytes; the builder writes them
 * (rootfs_write_file: a temporary beside the output, then rename). */

#endif
