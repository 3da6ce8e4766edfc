/* `mkimage policy check`: a policy summarised for one target and
 * capability set, and what it allows that a reference policy denies. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <seccomp.h>

#include "policy_int.h"

#define MAX_NR 1024

enum { ST_DEFAULT, ST_ALLOW, ST_COND, ST_DENY };

struct view {
	unsigned char st[MAX_NR];    /* per native syscall number */
	size_t applied, skipped, names, other;
	char other_names[2048];      /* names left out, space-separated */
};

/* Is `w` one of the space-separated words of `list`? */
static bool has_word(const char *list, const char *w)
{
	size_t n = strlen(w);
	for (const char *q = list; (q = strstr(q, w)); q += n)
		if ((q == list || q[-1] == ' ') && (q[n] == ' ' || q[n] == 0))
			return true;
	return false;
}

/* What each syscall number gets: the default, allowed (always or under
 * argument conditions), or an explicit non-allow action. */
static int view_build(const struct policy *p, const struct pol_target *t,
                      const struct pol_caps *caps, struct view *v, struct mb_err *err)
{
	memset(v, 0, sizeof(*v));
	for (size_t i = 0; i < p->n_rules; i++) {
		const struct pol_rule *r = &p->rules[i];
		if (!pol_rule_applies(r, t, caps)) {
			v->skipped++;
			continue;
		}
		v->applied++;
		bool allow = r->act == PACT_ALLOW || r->act == PACT_LOG;
		for (size_t j = 0; j < r->n_names; j++) {
			char loc[64];
			snprintf(loc, sizeof(loc), "syscalls[%zu].names[%zu]", r->pos, j);
			int new_nr;
			int nr = pol_syscall_resolve(t, r->names[j], p->origin, loc, &new_nr, err);
			if (nr == POL_SC_NONE)
				return -1;
			v->names++;
			if (nr == POL_SC_OTHER) {
				size_t l = strlen(v->other_names);
				if (!has_word(v->other_names, r->names[j]) &&
				    l + strlen(r->names[j]) + 5 < sizeof(v->other_names))
					snprintf(v->other_names + l, sizeof(v->other_names) - l, " %s",
					         r->names[j]);
				v->other++;
				continue;
			}
			/* Report in the target's numbering. */
			nr = pol_syscall_number(t, r->names[j]);
			if (nr < 0 || nr >= MAX_NR)
				continue;
			unsigned char s = allow ? (r->n_args ? ST_COND : ST_ALLOW) : ST_DENY;
			if (v->st[nr] == ST_DEFAULT || s == ST_ALLOW)
				v->st[nr] = s;
		}
	}
	return 0;
}

static bool allows(const struct policy *p, const struct view *v, int nr)
{
	if (v->st[nr] == ST_DEFAULT)
		return p->def_act == PACT_ALLOW || p->def_act == PACT_LOG;
	return v->st[nr] == ST_ALLOW || v->st[nr] == ST_COND;
}

struct sbuf {
	char *s;
	size_t len, cap;
};

static void sb_add(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	char tmp[4096];

	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || !b->s)
		return;
	if ((size_t)n >= sizeof(tmp))
		n = sizeof(tmp) - 1;
	if (b->len + (size_t)n + 1 > b->cap) {
		size_t nc = (b->cap + (size_t)n + 1) * 2;
		char *ns = realloc(b->s, nc);
		if (!ns) {
			free(b->s);
			b->s = NULL;
			return;
		}
		b->s = ns;
		b->cap = nc;
	}
	memcpy(b->s + b->len, tmp, (size_t)n + 1);
	b->len += (size_t)n;
}

int policy_summary(const struct policy *p, const struct policy *ref,
                   const char *arch, const char *caps_list, char **out, struct mb_err *err)
{
	struct pol_target t, rt;
	struct pol_caps caps;
	struct view *v = NULL, *rv = NULL;
	struct sbuf b = { malloc(256), 0, 256 };
	int rc = -1;

	*out = NULL;
	if (!b.s)
		return mb_error(err, 0, "out of memory");
	b.s[0] = 0;
	if (pol_target(p, arch, &t, err) < 0) {
		free(b.s);
		return -1;
	}
	if (pol_caps_parse(caps_list ? caps_list : p->caps, &caps, err) < 0) {
		free(b.s);
		return -1;
	}
	v = malloc(sizeof(*v));
	rv = malloc(sizeof(*rv));
	if (!v || !rv) {
		mb_error(err, 0, "out of memory");
		goto out;
	}
	if (view_build(p, &t, &caps, v, err) < 0)
		goto out;

	size_t allow = 0, cond = 0, deny = 0;
	for (int i = 0; i < MAX_NR; i++) {
		allow += v->st[i] == ST_ALLOW;
		cond += v->st[i] == ST_COND;
		deny += v->st[i] == ST_DENY;
	}
	sb_add(&b, "policy: %s\n", p->origin);
	if (p->description)
		sb_add(&b, "description: %s\n", p->description);
	sb_add(&b, "target: %s, capabilities: %s\n", t.name,
	       caps.n ? (caps_list ? caps_list : p->caps) : "(none)");
	if (p->def_act == PACT_ERRNO || p->def_act == PACT_TRACE)
		sb_add(&b, "default action: %s (errno %d)\n", p->def_act_name,
		       p->has_def_ret ? p->def_ret : EPERM);
	else
		sb_add(&b, "default action: %s\n", p->def_act_name);
	sb_add(&b, "rules: %zu (%zu apply to %s with these capabilities, %zu do not)\n",
	       p->n_rules, v->applied, t.name, v->skipped);
	sb_add(&b, "syscall names in applying rules: %zu (%zu exist only on other "
	       "architectures and are left out)\n", v->names, v->other);
	if (v->other)
		sb_add(&b, "left out for %s:%s\n", t.name, v->other_names);
	sb_add(&b, "syscalls allowed: %zu unconditionally, %zu with argument conditions; "
	       "%zu with an explicit other action\n", allow, cond, deny);
	sb_add(&b, "kept capabilities (minbase.caps): %s\n", p->caps ? p->caps : "(none)");

	if (ref) {
		if (pol_target(ref, t.name, &rt, err) < 0)
			goto out;
		/* The reference under the same capability set. */
		if (view_build(ref, &rt, &caps, rv, err) < 0)
			goto out;
		size_t extra = 0;
		for (int i = 0; i < MAX_NR; i++) {
			if (!allows(p, v, i) || allows(ref, rv, i))
				continue;
			char *name = pol_syscall_name(&t, i);
			if (!name)
				continue;
			if (extra == 0)
				sb_add(&b, "allowed here but denied by `%s`:", ref->origin);
			sb_add(&b, " %s", name);
			free(name);
			extra++;
		}
		if (extra)
			sb_add(&b, "\n");
		else
			sb_add(&b, "allows nothing that `%s` denies\n", ref->origin);
	}
	if (!b.s) {
		mb_error(err, 0, "out of memory");
		goto out;
	}
	*out = b.s;
	b.s = NULL;
	rc = 0;
out:
	free(b.s);
	free(v);
	free(rv);
	pol_caps_free(&caps);
	return rc;
}
