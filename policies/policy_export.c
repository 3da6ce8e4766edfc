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
                  const char *caps_list, char **out, char *err)
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
		return pol_err(err, "unknown export format `%s` (use docker or oci)", format), -1;
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
			int nr = pol_syscall_resolve(&t, r->names[j], p->origin, loc, err);
			if (nr == POL_SC_NONE) {
				json_decref(names);
				goto out;
			}
			if (nr == POL_SC_OTHER)
				continue;
			for (size_t k = 0; k < 4; k++) {
				if (strcmp(r->names[j], exec_needs[k]) || r->n_args)
					continue;
				if (act != SCMP_ACT_ALLOW && act != SCMP_ACT_LOG) {
					pol_err(err, "policy `%s`: %s: `%s` is not allowed, but "
					        "minbase-init needs it to start the service",
					        p->origin, loc, r->names[j]);
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
		if (json_array_size(names)) {
			json_t *o = json_object();
			json_object_set_new(o, "names", names);
			json_object_set_new(o, "action", json_string("SCMP_ACT_ALLOW"));
			if (docker)
				json_object_set_new(o, "comment", json_string(
				        "minbase: needed to exec the service"));
			json_array_append_new(sc, o);
		} else {
			json_decref(names);
		}
	}
	json_object_set(root, "syscalls", sc);
	*out = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (!*out) {
		pol_err(err, "out of memory");
		goto out;
	}
	rc = 0;
out:
	json_decref(sc);
	json_decref(root);
	pol_caps_free(&caps);
	return rc;
}
