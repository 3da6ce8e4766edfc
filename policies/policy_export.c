/* Export a policy as flat Docker or OCI seccomp JSON: Docker's includes/
 * excludes resolved for one architecture and capability set (containerd
 * and Kubernetes ignore them), names that do not exist on the target
 * dropped, and the syscalls the init/runtime needs to exec the service
 * allowed, exactly as the compiler does. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <seccomp.h>

#include "policy_int.h"

static const char *const exec_needs[] = { "execve", "execveat", "exit", "exit_group" };

/* runc (Docker, containerd, Kubernetes) loads the filter before it drops
 * capabilities and changes user, unlike minbase-init which loads it last;
 * a flat profile must let runc finish: measured with SCMP_ACT_LOG under
 * runc 1.1 (capget, prctl for capabilities, setgroups, setgid, setuid,
 * capset, and fstatfs to check that /proc/self/fd is procfs).  prctl is limited to PR_GET/SET_KEEPCAPS (7, 8),
 * PR_CAPBSET_READ/DROP (23, 24) and PR_CAP_AMBIENT (47). */
static const char *const runtime_needs[] = {
	"capget", "capset", "setgroups", "setgid", "setuid", "setresgid", "setresuid",
	"fstatfs",
};
static const unsigned runtime_prctl[] = { 7, 8, 23, 24, 47 };

/* Does an applying rule already decide `name` (any non-allow action, or an
 * unconditional allow)?  Then the runtime rule is left out. */
static bool decided(const struct policy *p, const struct pol_target *t,
                    const struct pol_caps *c, const char *name)
{
	for (size_t i = 0; i < p->n_rules; i++) {
		const struct pol_rule *r = &p->rules[i];
		if (!pol_rule_applies(r, t, c))
			continue;
		for (size_t j = 0; j < r->n_names; j++) {
			if (strcmp(r->names[j], name))
				continue;
			bool allow = r->act == PACT_ALLOW || r->act == PACT_LOG;
			if (!allow || r->n_args == 0)
				return true;
		}
	}
	return false;
}

/* Appends {"names": names, "action": "SCMP_ACT_ALLOW"[, "comment"]} to sc,
 * taking names; an empty list is dropped. */
static void append_allow(json_t *sc, json_t *names, const char *comment)
{
	if (!json_array_size(names)) {
		json_decref(names);
		return;
	}
	json_t *o = json_object();
	json_object_set_new(o, "names", names);
	json_object_set_new(o, "action", json_string("SCMP_ACT_ALLOW"));
	if (comment)
		json_object_set_new(o, "comment", json_string(comment));
	json_array_append_new(sc, o);
}

static void add_runtime_needs(json_t *sc, const struct policy *p, const struct pol_target *t,
                              const struct pol_caps *c, bool docker)
{
	json_t *names = json_array();
	for (size_t k = 0; k < sizeof(runtime_needs) / sizeof(runtime_needs[0]); k++)
		if (!decided(p, t, c, runtime_needs[k]))
			json_array_append_new(names, json_string(runtime_needs[k]));
	append_allow(sc, names, docker ? "minbase: what runc does after it loads the filter" : NULL);
	if (decided(p, t, c, "prctl"))
		return;
	json_t *o = json_object(), *args = json_array(), *n = json_array();
	json_array_append_new(n, json_string("prctl"));
	json_object_set_new(o, "names", n);
	json_object_set_new(o, "action", json_string("SCMP_ACT_ALLOW"));
	for (size_t k = 0; k < sizeof(runtime_prctl) / sizeof(runtime_prctl[0]); k++) {
		json_t *a = json_object();
		json_object_set_new(a, "index", json_integer(0));
		json_object_set_new(a, "value", json_integer(runtime_prctl[k]));
		json_object_set_new(a, "valueTwo", json_integer(0));
		json_object_set_new(a, "op", json_string("SCMP_CMP_EQ"));
		json_array_append_new(args, a);
	}
	json_object_set_new(o, "args", args);
	if (docker)
		json_object_set_new(o, "comment", json_string(
		        "minbase: runc's capability handling after it loads the filter"));
	json_array_append_new(sc, o);
}

static json_t *rule_json(const struct pol_rule *r, json_t *names, bool comment)
{
	json_t *o = json_object();
	json_object_set_new(o, "names", names);
	json_object_set_new(o, "action", json_string(pol_act_name(r->act)));
	if (r->has_ret)
		json_object_set_new(o, "errnoRet", json_integer(r->ret));
	if (r->n_args) {
		json_t *a = json_array();
		for (size_t i = 0; i < r->n_args; i++) {
			json_t *x = json_object();
			json_object_set_new(x, "index", json_integer(r->args[i].index));
			json_object_set_new(x, "value", json_integer((json_int_t)r->args[i].value));
			json_object_set_new(x, "valueTwo", json_integer((json_int_t)r->args[i].value2));
			json_object_set_new(x, "op", json_string(pol_op_name(r->args[i].op)));
			json_array_append_new(a, x);
		}
		json_object_set_new(o, "args", a);
	}
	if (comment && r->comment && *r->comment)
		json_object_set_new(o, "comment", json_string(r->comment));
	return o;
}

int policy_export(const struct policy *p, const char *format, const char *arch,
                  const char *caps_list, char **out, struct mb_err *err)
{
	struct pol_target t;
	struct pol_caps caps;
	bool docker;

	*out = NULL;
	if (!format || strcmp(format, "docker") == 0)
		docker = true;
	else if (strcmp(format, "oci") == 0)
		docker = false;
	else
		return mb_error(err, 0, "unknown export format `%s` (use docker or oci)", format);
	if (pol_target(p, arch, &t, err) < 0)
		return -1;
	if (pol_caps_parse(caps_list ? caps_list : p->caps, &caps, err) < 0)
		return -1;

	uint32_t def = pol_scmp_action(p->def_act, true, p->has_def_ret ? p->def_ret : EPERM);
	bool def_allows = def == SCMP_ACT_ALLOW || def == SCMP_ACT_LOG;
	bool seen[4] = { false };
	json_t *root = json_object(), *sc = json_array(), *archs = json_array();
	int rc = -1;

	json_object_set_new(root, "defaultAction", json_string(pol_act_name(p->def_act)));
	if (p->def_act == PACT_ERRNO || p->def_act == PACT_TRACE)
		json_object_set_new(root, "defaultErrnoRet",
		                    json_integer(p->has_def_ret ? p->def_ret : EPERM));
	json_array_append_new(archs, json_string(t.scmpname));
	json_object_set_new(root, "architectures", archs);

	for (size_t i = 0; i < p->n_rules; i++) {
		const struct pol_rule *r = &p->rules[i];
		if (!pol_rule_applies(r, &t, &caps))
			continue;
		uint32_t act = pol_scmp_action(r->act, r->has_ret, r->ret);
		if (act == def)
			continue;
		json_t *names = json_array();
		for (size_t j = 0; j < r->n_names; j++) {
			char loc[64];
			snprintf(loc, sizeof(loc), "syscalls[%zu].%s[%zu]", r->pos,
			         r->singular ? "name" : "names", j);
			int new_nr;   /* a newer syscall keeps its name: the runtime resolves it */
			int nr = pol_syscall_resolve(&t, r->names[j], p->origin, loc, &new_nr, err);
			if (nr == POL_SC_NONE) {
				json_decref(names);
				goto out;
			}
			if (nr == POL_SC_OTHER)
				continue;
			for (size_t k = 0; k < 4; k++) {
				if (strcmp(r->names[j], exec_needs[k]))
					continue;
				if ((act != SCMP_ACT_ALLOW && act != SCMP_ACT_LOG) || r->n_args) {
					mb_error(err, 0, "policy `%s`: %s: `%s` is %s, but minbase-init "
					         "needs it unconditionally", p->origin, loc, r->names[j],
					         r->n_args ? "conditional" : "not allowed");
					json_decref(names);
					goto out;
				}
				seen[k] = true;
			}
			json_array_append_new(names, json_string(r->names[j]));
		}
		if (json_array_size(names) == 0) {
			json_decref(names);
			continue;
		}
		json_array_append_new(sc, rule_json(r, names, docker));
	}
	if (!def_allows) {
		json_t *names = json_array();
		for (size_t k = 0; k < 4; k++)
			if (!seen[k])
				json_array_append_new(names, json_string(exec_needs[k]));
		append_allow(sc, names, docker ? "minbase: needed to exec the service" : NULL);
		add_runtime_needs(sc, p, &t, &caps, docker);
	}
	json_object_set(root, "syscalls", sc);
	*out = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (!*out) {
		mb_error(err, 0, "out of memory");
		goto out;
	}
	rc = 0;
out:
	json_decref(sc);
	json_decref(root);
	pol_caps_free(&caps);
	return rc;
}
