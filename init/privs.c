/* The service's credentials and capabilities: resolve the user from the
 * image's own /etc/passwd and /etc/group (no NSS in a static init), parse the
 * kept capabilities, and apply everything in the order crun and bubblewrap
 * use.  Every step fails closed: an error stops the start. */
#include "init.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/capability.h>
#include <unistd.h>

#define FIELDS 7

static void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

static FILE *open_etc(const char *root, const char *name, char *err)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/etc/%s", strcmp(root, "/") ? root : "", name);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	FILE *f = fd >= 0 ? fdopen(fd, "re") : NULL;
	if (!f) {
		snprintf(err, INIT_ERRLEN, "cannot open `%.300s`: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	return f;
}

/* Split a passwd/group line in place on ':'; returns the field count. */
static int split_line(char *line, char **f)
{
	int n = 0;
	line[strcspn(line, "\n")] = 0;
	f[n++] = line;
	for (char *p = line; *p && n < FIELDS; p++) {
		if (*p == ':') {
			*p = 0;
			f[n++] = p + 1;
		}
	}
	return n;
}

static int is_number(const char *s)
{
	unsigned long v;
	return parse_uint(s, 0xfffffffeul, &v) == 0;
}

/* Find a group by name or number; *gid set.  1 found, 0 not, -1 error. */
static int group_lookup(const char *root, const char *spec, gid_t *gid, char *err)
{
	__attribute__((cleanup(fclosep))) FILE *f = open_etc(root, "group", err);
	char line[4096], *fl[FIELDS];
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f)) {
		if (split_line(line, fl) < 3)
			continue;
		if (!strcmp(fl[0], spec) || (is_number(spec) && !strcmp(fl[2], spec))) {
			unsigned long v;
			if (parse_uint(fl[2], 0xfffffffeul, &v) < 0)
				continue;
			*gid = (gid_t)v;
			return 1;
		}
	}
	return 0;
}

/* Supplementary groups: the primary gid, then every group listing NAME. */
static int groups_for(struct privs_cfg *p, const char *root, const char *name, char *err)
{
	p->ngroups = 0;
	p->groups[p->ngroups++] = p->gid;
	if (!name)
		return 0;
	__attribute__((cleanup(fclosep))) FILE *f = open_etc(root, "group", err);
	char line[4096], *fl[FIELDS];
	if (!f)
		return errno == ENOENT ? 0 : -1;
	while (fgets(line, sizeof line, f)) {
		unsigned long v;
		if (split_line(line, fl) < 4 || parse_uint(fl[2], 0xfffffffeul, &v) < 0)
			continue;
		for (char *m = strtok(fl[3], ","); m; m = strtok(NULL, ",")) {
			if (strcmp(m, name) || (gid_t)v == p->gid)
				continue;
			if (p->ngroups == INIT_MAX_GROUPS) {
				snprintf(err, INIT_ERRLEN, "user `%s` is in more than %d groups",
				         name, INIT_MAX_GROUPS);
				return -1;
			}
			p->groups[p->ngroups++] = (gid_t)v;
		}
	}
	return 0;
}

int privs_resolve_user(struct privs_cfg *p, const char *root, const char *spec, char *err)
{
	char user[256], name[256] = "";
	const char *grp = NULL;
	unsigned long v;
	int have_gid = 0, found = 0;

	if (!spec || !*spec || strlen(spec) >= sizeof user) {
		snprintf(err, INIT_ERRLEN, "invalid user `%s`: use UID[:GID] or NAME[:GROUP]",
		         spec ? spec : "");
		return -1;
	}
	strcpy(user, spec);
	char *colon = strchr(user, ':');
	if (colon) {
		*colon = 0;
		grp = colon + 1;
		if (!*grp || !*user) {
			snprintf(err, INIT_ERRLEN, "invalid user `%s`: use UID[:GID] or NAME[:GROUP]", spec);
			return -1;
		}
	}

	/* The passwd file is optional for numeric users (distroless images
	 * run 65532 with or without an entry) and required for names. */
	char perr[INIT_ERRLEN];
	__attribute__((cleanup(fclosep))) FILE *f = open_etc(root, "passwd", perr);
	if (!f && (errno != ENOENT || !is_number(user))) {
		snprintf(err, INIT_ERRLEN, "cannot resolve user `%.100s`: %.300s", user, perr);
		return -1;
	}
	char line[4096], *fl[FIELDS];
	while (f && fgets(line, sizeof line, f)) {
		if (split_line(line, fl) < 4)
			continue;
		if (strcmp(fl[0], user) && !(is_number(user) && !strcmp(fl[2], user)))
			continue;
		unsigned long g;
		if (parse_uint(fl[2], 0xfffffffeul, &v) < 0 ||
		    parse_uint(fl[3], 0xfffffffeul, &g) < 0)
			continue;
		p->uid = (uid_t)v;
		p->gid = (gid_t)g;
		snprintf(name, sizeof name, "%s", fl[0]);
		found = have_gid = 1;
		break;
	}
	if (!found) {
		if (parse_uint(user, 0xfffffffeul, &v) < 0) {
			snprintf(err, INIT_ERRLEN,
			         "unknown user `%s`: not in the image's /etc/passwd (use a numeric UID)",
			         user);
			return -1;
		}
		p->uid = (uid_t)v;
		p->gid = (gid_t)v; /* no entry: group = uid, never silently 0 */
	}
	if (grp) {
		int r = is_number(grp) ? 1 : group_lookup(root, grp, &p->gid, perr);
		if (r == 1 && is_number(grp)) {
			parse_uint(grp, 0xfffffffeul, &v);
			p->gid = (gid_t)v;
		} else if (r <= 0) {
			snprintf(err, INIT_ERRLEN, r < 0 ? "cannot resolve group `%.100s`: %.300s"
			         : "unknown group `%s`: not in the image's /etc/group%s", grp,
			         r < 0 ? perr : "");
			return -1;
		}
	}
	p->change_user = 1;
	/* An explicit group replaces the user's group list, as `docker -u u:g`. */
	return groups_for(p, root, grp ? NULL : (*name ? name : NULL), err);
}

int privs_parse_caps(struct privs_cfg *p, const char *list, char *err)
{
	p->drop_caps = 1;
	return grammar_caps(list, &p->keep, err);
}

static int step_fail(char *err, const char *what, int cap)
{
	int e = errno;
	char capname[32] = "";
	if (cap >= 0) {
		char *n = cap_to_name((cap_value_t)cap);
		snprintf(capname, sizeof capname, " %s", n ? n : "?");
		cap_free(n);
	}
	/* Root without the capability a step needs is the runtime's doing
	 * (docker run -u 0 --cap-drop ALL, runAsUser: 0 with drop ALL): the
	 * init still refuses to run the service as root instead of its user. */
	snprintf(err, INIT_ERRLEN, "cannot %s%s: %s%s", what, capname, strerror(e),
	         e != EPERM ? "" : sys_geteuid() == 0
	         ? " (the init runs as root without the capability this needs: grant"
	           " CAP_SETUID, CAP_SETGID and CAP_SETPCAP, which the init drops before"
	           " the service starts, or start the container as the image's user)"
	         : " (the init lacks the privilege: start the container as root,"
	           " config User 0:0, and let the init drop to the user)");
	errno = e;
	return -1;
}

int privs_apply(const struct privs_cfg *p, char *err)
{
	int last = sys_last_cap();

	if (p->drop_caps) {
		/* 1. Bounding set, while we may still hold CAP_SETPCAP.  Without
		 * it (a nonroot init) the set cannot shrink, but it is also
		 * unusable: the capset below proves the permitted set holds no
		 * more than `keep`, and no-new-privs stops file caps and setuid
		 * binaries, the only ways back into it. */
		if (sys_eff_has(CAP_SETPCAP) == 1) {
			for (int c = 0; c <= last && c < 64; c++) {
				/* Read first: a read is cheap, a drop commits new
				 * credentials, and in a container (Docker keeps 14
				 * capabilities) most are already gone. */
				if ((p->keep & (1ull << c)) || sys_bound_has(c) != 1)
					continue;
				if (sys_drop_bound(c) < 0)
					return step_fail(err, "drop from the bounding set", c);
			}
		}
		/* 2. Keep permitted caps across the uid change below. */
		if (p->change_user && p->keep && sys_keepcaps(1) < 0)
			return step_fail(err, "set keep-caps", -1);
	}
	if (p->change_user) {
		/* 3-5. Groups before gid before uid: each needs the privilege
		 * the next one gives away.  A nonroot init asked for its own
		 * groups has nothing to change and no right to call setgroups. */
		if ((sys_eff_has(CAP_SETGID) == 1 || !sys_groups_equal(p->ngroups, p->groups, p->gid)) &&
		    sys_setgroups(p->ngroups, p->groups) < 0)
			return step_fail(err, "set supplementary groups", -1);
		if (sys_setresgid(p->gid) < 0) {
			char what[64];
			snprintf(what, sizeof what, "set gid %u", (unsigned)p->gid);
			return step_fail(err, what, -1);
		}
		if (sys_setresuid(p->uid) < 0) {
			char what[64];
			snprintf(what, sizeof what, "set uid %u", (unsigned)p->uid);
			return step_fail(err, what, -1);
		}
	}
	if (p->drop_caps) {
		/* 6. Effective, permitted and inheritable = exactly `keep`; this
		 * fails (EPERM) if a kept capability is not permitted. */
		if (sys_capset(p->keep, p->keep, p->keep) < 0)
			return step_fail(err, "set capabilities (is every kept capability in the "
			                      "init's permitted set?)", -1);
		/* 7. Ambient, so that a nonroot service keeps them across execve. */
		if (sys_ambient_clear() < 0 && !(errno == EINVAL && !p->keep))
			return step_fail(err, "clear the ambient set", -1);
		for (int c = 0; c < 64; c++)
			if ((p->keep & (1ull << c)) && sys_ambient_raise(c) < 0)
				return step_fail(err, "raise ambient capability", c);
		if (p->change_user && p->keep && sys_keepcaps(0) < 0)
			return step_fail(err, "clear keep-caps", -1);
	}
	/* 8. No new privileges: also what lets an unprivileged process load
	 * a seccomp filter. */
	if (p->no_new_privs && sys_no_new_privs() < 0)
		return step_fail(err, "set no-new-privileges", -1);
	/* 9. Seccomp last: the filter need only allow execve. */
	if (p->filter && filter_load(p->filter, p->filter_len, err) < 0)
		return -1;
	return 0;
}
