/* Parse Docker/OCI seccomp JSON (plus the minbase extension) into the
 * model of policy_int.h, with every error naming where it is. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/stat.h>

#include <jansson.h>
#include <seccomp.h>

#include "policy_int.h"

#define MAX_POLICY_BYTES (4u << 20)

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void cond_free(struct pol_cond *c)
{
	strv_free(c->caps, c->n_caps);
	strv_free(c->arches, c->n_arches);
	free(c->min_kernel);
}

void policy_free(struct policy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_rules; i++) {
		struct pol_rule *r = &p->rules[i];
		strv_free(r->names, r->n_names);
		free(r->act_name);
		free(r->args);
		cond_free(&r->inc);
		cond_free(&r->exc);
		free(r->comment);
	}
	free(p->rules);
	for (size_t i = 0; i < p->n_archmap; i++) {
		free(p->archmap[i].arch);
		strv_free(p->archmap[i].subs, p->archmap[i].n_subs);
	}
	free(p->archmap);
	strv_free(p->arches, p->n_arches);
	free(p->def_act_name);
	free(p->caps);
	free(p->description);
	free(p->origin);
	free(p);
}

/* ---- capabilities ------------------------------------------------------ */
static const char *const cap_names[] = {
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
	"CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP",
	"CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
	"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
	"CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
	"CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
};

/* "net_admin", "CAP_NET_ADMIN", "Cap_Net_Admin" -> "CAP_NET_ADMIN";
 * returns -1 for an unknown name. */
int pol_cap_normalise(const char *in, char *out, size_t len)
{
	char buf[64];
	size_t n = 0;

	if (strncasecmp(in, "CAP_", 4) != 0) {
		memcpy(buf, "CAP_", 4);
		n = 4;
	}
	for (; *in && n < sizeof(buf) - 1; in++)
		buf[n++] = (char)((*in >= 'a' && *in <= 'z') ? *in - 32 : *in);
	buf[n] = 0;
	for (size_t i = 0; i < sizeof(cap_names) / sizeof(cap_names[0]); i++) {
		if (strcmp(buf, cap_names[i]) == 0) {
			snprintf(out, len, "%s", buf);
			return 0;
		}
	}
	return -1;
}

void pol_caps_free(struct pol_caps *c)
{
	strv_free(c->v, c->n);
	c->v = NULL;
	c->n = 0;
}

int pol_caps_parse(const char *list, struct pol_caps *c, struct mb_err *err)
{
	c->v = NULL;
	c->n = 0;
	if (!list || !*list)
		return 0;
	char *dup = strdup(list), *save = NULL;
	if (!dup)
		return mb_error(err, 0, "out of memory");
	for (char *tok = strtok_r(dup, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		char name[64];
		if (pol_cap_normalise(tok, name, sizeof(name)) < 0) {
			mb_error(err, 0, "unknown capability `%s` (expected a name like "
			         "CAP_NET_BIND_SERVICE or net_bind_service)", tok);
			free(dup);
			pol_caps_free(c);
			return -1;
		}
		char **nv = realloc(c->v, (c->n + 1) * sizeof(*nv));
		if (!nv || !(nv[c->n] = strdup(name))) {
			if (nv)
				c->v = nv;
			free(dup);
			pol_caps_free(c);
			return mb_error(err, 0, "out of memory");
		}
		c->v = nv;
		c->n++;
	}
	free(dup);
	return 0;
}

/* ---- actions and operators -------------------------------------------- */
static const struct { const char *name; int act; } act_tab[] = {
	{ "SCMP_ACT_ALLOW", PACT_ALLOW },
	{ "SCMP_ACT_ERRNO", PACT_ERRNO },
	{ "SCMP_ACT_KILL", PACT_KILL_THREAD },
	{ "SCMP_ACT_KILL_THREAD", PACT_KILL_THREAD },
	{ "SCMP_ACT_KILL_PROCESS", PACT_KILL_PROCESS },
	{ "SCMP_ACT_TRAP", PACT_TRAP },
	{ "SCMP_ACT_TRACE", PACT_TRACE },
	{ "SCMP_ACT_LOG", PACT_LOG },
};

const char *pol_act_name(int act)
{
	switch (act) {
	case PACT_ALLOW: return "SCMP_ACT_ALLOW";
	case PACT_ERRNO: return "SCMP_ACT_ERRNO";
	case PACT_KILL_THREAD: return "SCMP_ACT_KILL_THREAD";
	case PACT_KILL_PROCESS: return "SCMP_ACT_KILL_PROCESS";
	case PACT_TRAP: return "SCMP_ACT_TRAP";
	case PACT_TRACE: return "SCMP_ACT_TRACE";
	default: return "SCMP_ACT_LOG";
	}
}

uint32_t pol_scmp_action(int act, bool has_ret, int ret)
{
	/* Docker: ERRNO and TRACE without errnoRet mean EPERM. */
	int r = has_ret ? ret : EPERM;

	switch (act) {
	case PACT_ALLOW: return SCMP_ACT_ALLOW;
	case PACT_ERRNO: return SCMP_ACT_ERRNO((uint32_t)r);
	case PACT_KILL_THREAD: return SCMP_ACT_KILL_THREAD;
	case PACT_KILL_PROCESS: return SCMP_ACT_KILL_PROCESS;
	case PACT_TRAP: return SCMP_ACT_TRAP;
	case PACT_TRACE: return SCMP_ACT_TRACE((uint32_t)r);
	default: return SCMP_ACT_LOG;
	}
}

static const struct { const char *name; int op; } op_tab[] = {
	{ "SCMP_CMP_NE", SCMP_CMP_NE }, { "SCMP_CMP_LT", SCMP_CMP_LT },
	{ "SCMP_CMP_LE", SCMP_CMP_LE }, { "SCMP_CMP_EQ", SCMP_CMP_EQ },
	{ "SCMP_CMP_GE", SCMP_CMP_GE }, { "SCMP_CMP_GT", SCMP_CMP_GT },
	{ "SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ },
};

const char *pol_op_name(int op)
{
	for (size_t i = 0; i < sizeof(op_tab) / sizeof(op_tab[0]); i++)
		if (op_tab[i].op == op)
			return op_tab[i].name;
	return "?";
}

/* ---- JSON helpers ------------------------------------------------------ */
struct pctx {
	const char *origin;
	struct mb_err *err;
};

static int bad(struct pctx *c, const char *loc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int bad(struct pctx *c, const char *loc, const char *fmt, ...)
{
	char msg[MB_ERRLEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return mb_error(c->err, 0, "policy `%s`: %s: %s", c->origin, loc, msg);
}

/* An array of strings; missing or null gives an empty one. */
static int get_strv(struct pctx *c, json_t *v, const char *loc, char ***out,
                    size_t *n)
{
	*out = NULL;
	*n = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return bad(c, loc, "expected an array of strings");
	size_t cnt = json_array_size(v);
	char **a = calloc(cnt ? cnt : 1, sizeof(*a));
	if (!a)
		return bad(c, loc, "out of memory");
	for (size_t i = 0; i < cnt; i++) {
		json_t *s = json_array_get(v, i);
		if (!json_is_string(s)) {
			strv_free(a, i);
			return bad(c, loc, "element %zu is not a string", i);
		}
		if (!(a[i] = strdup(json_string_value(s)))) {
			strv_free(a, i);
			return bad(c, loc, "out of memory");
		}
	}
	*out = a;
	*n = cnt;
	return 0;
}

static int parse_action(struct pctx *c, json_t *v, const char *loc, int *act,
                        char **name)
{
	if (!json_is_string(v))
		return bad(c, loc, "expected an action string such as SCMP_ACT_ALLOW");
	const char *s = json_string_value(v);
	for (size_t i = 0; i < sizeof(act_tab) / sizeof(act_tab[0]); i++) {
		if (strcmp(s, act_tab[i].name) == 0) {
			*act = act_tab[i].act;
			*name = strdup(s);
			return *name ? 0 : bad(c, loc, "out of memory");
		}
	}
	if (strcmp(s, "SCMP_ACT_NOTIFY") == 0)
		return bad(c, loc, "SCMP_ACT_NOTIFY needs a user-space listener, "
		           "which minbase-init does not provide");
	return bad(c, loc, "unknown action `%s` (known: SCMP_ACT_ALLOW, ERRNO, "
	           "KILL, KILL_THREAD, KILL_PROCESS, TRAP, TRACE, LOG)", s);
}

static int parse_errno(struct pctx *c, json_t *v, const char *loc, bool *has,
                       int *ret)
{
	*has = false;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > 4095)
		return bad(c, loc, "expected an errno number between 0 and 4095");
	*has = true;
	*ret = (int)json_integer_value(v);
	return 0;
}

static int parse_cond(struct pctx *c, json_t *v, const char *loc,
                      struct pol_cond *out)
{
	char l[128];

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return bad(c, loc, "expected an object with caps, arches or minKernel");
	snprintf(l, sizeof(l), "%s.caps", loc);
	if (get_strv(c, json_object_get(v, "caps"), l, &out->caps, &out->n_caps) < 0)
		return -1;
	for (size_t i = 0; i < out->n_caps; i++) {
		char name[64];
		if (pol_cap_normalise(out->caps[i], name, sizeof(name)) < 0)
			return bad(c, l, "unknown capability `%s`", out->caps[i]);
		free(out->caps[i]);
		if (!(out->caps[i] = strdup(name)))
			return bad(c, l, "out of memory");
	}
	snprintf(l, sizeof(l), "%s.arches", loc);
	if (get_strv(c, json_object_get(v, "arches"), l, &out->arches, &out->n_arches) < 0)
		return -1;
	json_t *mk = json_object_get(v, "minKernel");
	if (mk && !json_is_null(mk)) {
		unsigned a, b;
		char tail;
		snprintf(l, sizeof(l), "%s.minKernel", loc);
		if (!json_is_string(mk) ||
		    sscanf(json_string_value(mk), "%u.%u%c", &a, &b, &tail) != 2)
			return bad(c, l, "expected a kernel version like \"4.8\"");
		if (!(out->min_kernel = strdup(json_string_value(mk))))
			return bad(c, l, "out of memory");
	}
	return 0;
}

static int parse_args(struct pctx *c, json_t *v, const char *loc,
                      struct pol_rule *r)
{
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return bad(c, loc, "expected an array of {index, value, valueTwo, op}");
	size_t n = json_array_size(v);
	if (n == 0)
		return 0;
	if (!(r->args = calloc(n, sizeof(*r->args))))
		return bad(c, loc, "out of memory");
	for (size_t i = 0; i < n; i++) {
		json_t *a = json_array_get(v, i), *x;
		char l[128];
		struct pol_arg *pa = &r->args[i];
		snprintf(l, sizeof(l), "%s[%zu]", loc, i);
		if (!json_is_object(a))
			return bad(c, l, "expected an object {index, value, valueTwo, op}");
		x = json_object_get(a, "index");
		if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) > 5)
			return bad(c, l, "index must be an argument number from 0 to 5");
		pa->index = (unsigned)json_integer_value(x);
		x = json_object_get(a, "value");
		if (!json_is_integer(x) || json_integer_value(x) < 0)
			return bad(c, l, "value must be a non-negative integer");
		pa->value = (uint64_t)json_integer_value(x);
		x = json_object_get(a, "valueTwo");
		if (x && !json_is_null(x)) {
			if (!json_is_integer(x) || json_integer_value(x) < 0)
				return bad(c, l, "valueTwo must be a non-negative integer");
			pa->value2 = (uint64_t)json_integer_value(x);
		}
		x = json_object_get(a, "op");
		if (!json_is_string(x))
			return bad(c, l, "op must be a string such as SCMP_CMP_EQ");
		size_t k;
		for (k = 0; k < sizeof(op_tab) / sizeof(op_tab[0]); k++)
			if (strcmp(json_string_value(x), op_tab[k].name) == 0)
				break;
		if (k == sizeof(op_tab) / sizeof(op_tab[0]))
			return bad(c, l, "unknown operator `%s` (known: SCMP_CMP_NE, LT, LE, "
			           "EQ, GE, GT, MASKED_EQ)", json_string_value(x));
		pa->op = op_tab[k].op;
		r->n_args++;
	}
	return 0;
}

static int parse_rule(struct pctx *c, json_t *v, size_t i, struct pol_rule *r)
{
	char loc[64], l[96];

	r->pos = i;
	snprintf(loc, sizeof(loc), "syscalls[%zu]", i);
	if (!json_is_object(v))
		return bad(c, loc, "expected an object");
	json_t *names = json_object_get(v, "names"), *name = json_object_get(v, "name");
	snprintf(l, sizeof(l), "%s.names", loc);
	if (names && !json_is_null(names)) {
		if (get_strv(c, names, l, &r->names, &r->n_names) < 0)
			return -1;
	} else if (json_is_string(name)) {
		if (!(r->names = calloc(1, sizeof(*r->names))) ||
		    !(r->names[0] = strdup(json_string_value(name))))
			return bad(c, loc, "out of memory");
		r->n_names = 1;
		r->singular = true;
	}
	if (r->n_names == 0)
		return bad(c, loc, "names is missing or empty");
	snprintf(l, sizeof(l), "%s.action", loc);
	if (parse_action(c, json_object_get(v, "action"), l, &r->act, &r->act_name) < 0)
		return -1;
	snprintf(l, sizeof(l), "%s.errnoRet", loc);
	if (parse_errno(c, json_object_get(v, "errnoRet"), l, &r->has_ret, &r->ret) < 0)
		return -1;
	snprintf(l, sizeof(l), "%s.args", loc);
	if (parse_args(c, json_object_get(v, "args"), l, r) < 0)
		return -1;
	snprintf(l, sizeof(l), "%s.includes", loc);
	if (parse_cond(c, json_object_get(v, "includes"), l, &r->inc) < 0)
		return -1;
	snprintf(l, sizeof(l), "%s.excludes", loc);
	if (parse_cond(c, json_object_get(v, "excludes"), l, &r->exc) < 0)
		return -1;
	json_t *cm = json_object_get(v, "comment");
	if (json_is_string(cm) && !(r->comment = strdup(json_string_value(cm))))
		return bad(c, loc, "out of memory");
	return 0;
}

static int parse_minbase(struct pctx *c, json_t *v, struct policy *p)
{
	if (!v)
		return 0;
	if (!json_is_object(v))
		return bad(c, "minbase", "expected an object {\"caps\": [...], \"description\": ...}");
	char **caps;
	size_t n;
	if (get_strv(c, json_object_get(v, "caps"), "minbase.caps", &caps, &n) < 0)
		return -1;
	size_t len = 1;
	char (*norm)[64] = calloc(n ? n : 1, 64);
	if (!norm) {
		strv_free(caps, n);
		return bad(c, "minbase.caps", "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		if (pol_cap_normalise(caps[i], norm[i], 64) < 0) {
			bad(c, "minbase.caps", "unknown capability `%s`", caps[i]);
			strv_free(caps, n);
			free(norm);
			return -1;
		}
		len += strlen(norm[i]) + 1;
	}
	strv_free(caps, n);
	if (n) {
		if (!(p->caps = calloc(1, len))) {
			free(norm);
			return bad(c, "minbase.caps", "out of memory");
		}
		for (size_t i = 0; i < n; i++) {
			if (i)
				strcat(p->caps, ",");
			strcat(p->caps, norm[i]);
		}
	}
	free(norm);
	json_t *d = json_object_get(v, "description");
	if (json_is_string(d) && !(p->description = strdup(json_string_value(d))))
		return bad(c, "minbase.description", "out of memory");
	return 0;
}

static int parse_root(struct pctx *c, json_t *root, struct policy *p)
{
	if (!json_is_object(root))
		return bad(c, "top level", "expected a JSON object with defaultAction and syscalls");
	json_t *da = json_object_get(root, "defaultAction");
	if (!da)
		return bad(c, "defaultAction", "missing (e.g. \"SCMP_ACT_ERRNO\")");
	if (parse_action(c, da, "defaultAction", &p->def_act, &p->def_act_name) < 0)
		return -1;
	if (parse_errno(c, json_object_get(root, "defaultErrnoRet"), "defaultErrnoRet",
	                &p->has_def_ret, &p->def_ret) < 0)
		return -1;
	if (get_strv(c, json_object_get(root, "architectures"), "architectures",
	             &p->arches, &p->n_arches) < 0)
		return -1;
	json_t *am = json_object_get(root, "archMap");
	if (am && !json_is_null(am)) {
		if (!json_is_array(am))
			return bad(c, "archMap", "expected an array of {architecture, subArchitectures}");
		size_t n = json_array_size(am);
		if (n && !(p->archmap = calloc(n, sizeof(*p->archmap))))
			return bad(c, "archMap", "out of memory");
		for (size_t i = 0; i < n; i++) {
			json_t *e = json_array_get(am, i), *a;
			char l[64];
			snprintf(l, sizeof(l), "archMap[%zu]", i);
			a = json_is_object(e) ? json_object_get(e, "architecture") : NULL;
			if (!json_is_string(a))
				return bad(c, l, "expected {\"architecture\": \"SCMP_ARCH_...\", ...}");
			if (!(p->archmap[i].arch = strdup(json_string_value(a))))
				return bad(c, l, "out of memory");
			p->n_archmap++;
			snprintf(l, sizeof(l), "archMap[%zu].subArchitectures", i);
			if (get_strv(c, json_object_get(e, "subArchitectures"), l,
			             &p->archmap[i].subs, &p->archmap[i].n_subs) < 0)
				return -1;
		}
	}
	if (p->n_arches && p->n_archmap)
		return bad(c, "architectures", "both architectures and archMap are given; "
		           "use one of them (as Docker requires)");
	json_t *sc = json_object_get(root, "syscalls");
	if (sc && !json_is_null(sc)) {
		if (!json_is_array(sc))
			return bad(c, "syscalls", "expected an array of rules");
		size_t n = json_array_size(sc);
		if (n && !(p->rules = calloc(n, sizeof(*p->rules))))
			return bad(c, "syscalls", "out of memory");
		for (size_t i = 0; i < n; i++) {
			p->n_rules++;
			if (parse_rule(c, json_array_get(sc, i), i, &p->rules[i]) < 0)
				return -1;
		}
	}
	return parse_minbase(c, json_object_get(root, "minbase"), p);
}

int policy_parse(const char *json, size_t len, const char *origin,
                 struct policy **out, struct mb_err *err)
{
	json_error_t je;
	struct pctx c = { origin, err };

	*out = NULL;
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return mb_error(err, 0, "policy `%s`: invalid JSON at line %d column %d: %s",
		                origin, je.line, je.column, je.text);
	struct policy *p = calloc(1, sizeof(*p));
	if (!p || !(p->origin = strdup(origin))) {
		free(p);
		json_decref(root);
		return mb_error(err, 0, "out of memory");
	}
	int rc = parse_root(&c, root, p);
	json_decref(root);
	if (rc < 0) {
		policy_free(p);
		return -1;
	}
	*out = p;
	return 0;
}

/* ---- locating policies ------------------------------------------------- */
bool policy_is_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || strchr(s, '/'))
		return false;
	if (n >= 5 && strcmp(s + n - 5, ".json") == 0)
		return false;
	for (const char *q = s; *q; q++)
		if (!((*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '-' || *q == '_'))
			return false;
	return true;
}

int policy_dir(char *buf, size_t len, struct mb_err *err)
{
	const char *env = getenv("MINBASE_POLICY_DIR");
	if (env && *env) {
		snprintf(buf, len, "%s", env);
		return 0;
	}
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		return mb_error(err, 0, "cannot read /proc/self/exe to find the policy "
		                "directory: %s (set MINBASE_POLICY_DIR)", strerror(errno));
	exe[n] = 0;
	snprintf(buf, len, "%s/../share/minbase/policies", dirname(exe));
	return 0;
}

int policy_resolve(const char *s, char *buf, size_t len, struct mb_err *err)
{
	if (!policy_is_name(s)) {
		snprintf(buf, len, "%s", s);
		return 0;
	}
	char dir[PATH_MAX];
	if (policy_dir(dir, sizeof(dir), err) < 0)
		return -1;
	snprintf(buf, len, "%s/%s.json", dir, s);
	if (access(buf, R_OK) < 0)
		return mb_error(err, 0, "no shipped policy named `%s` (looked for %s: %s); "
		                "shipped: default, service, strict; or give a path to a JSON file",
		                s, buf, strerror(errno));
	return 0;
}

int policy_load(const char *s, struct policy **out, struct mb_err *err)
{
	char path[PATH_MAX];
	struct stat st;

	*out = NULL;
	if (policy_resolve(s, path, sizeof(path), err) < 0)
		return -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return mb_error(err, errno, "cannot open policy `%s`", path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_POLICY_BYTES) {
		close(fd);
		return mb_error(err, 0, "cannot read policy `%s`: not a regular file of at most 4 MiB",
		                path);
	}
	char *data = malloc((size_t)st.st_size + 1);
	size_t got = 0;
	while (data && got < (size_t)st.st_size) {
		ssize_t r = read(fd, data + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int e = r < 0 ? errno : EIO;
			free(data);
			close(fd);
			return mb_error(err, e, "cannot read policy `%s`", path);
		}
		got += (size_t)r;
	}
	close(fd);
	if (!data)
		return mb_error(err, 0, "out of memory");
	int rc = policy_parse(data, got, path, out, err);
	free(data);
	return rc;
}
