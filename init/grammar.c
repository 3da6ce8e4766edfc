/* The grammar of minbase-init's configuration values: durations, counts,
 * addresses, capability lists, and which variable takes which.  One copy,
 * compiled into the init (main.c applies it at start) and into mkimage
 * (builder/ checks with it, at build time, the values an image's ENV will
 * give the init), so that the two can never disagree on what is valid.
 * Pure: no system call, no global state (libcap's cap_from_name only reads
 * its name table), so it links into a glibc program as well. */
#include "init.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/capability.h>

/* ---- address parsing ------------------------------------------------------ */
int health_parse_hostport(const char *s, char *host, size_t hostlen, int *port, char *err)
{
	const char *h = s, *colon;
	size_t hl;
	if (*s == '[') {
		const char *end = strchr(s, ']');
		if (!end || end[1] != ':')
			goto bad;
		h = s + 1, hl = (size_t)(end - h), colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			goto bad;
		hl = (size_t)(colon - s);
	}
	unsigned long p;
	char portbuf[8];
	size_t pl = strcspn(colon + 1, "/");
	if (!hl || hl >= hostlen || !pl || pl >= sizeof portbuf)
		goto bad;
	memcpy(portbuf, colon + 1, pl);
	portbuf[pl] = 0;
	if (parse_uint(portbuf, 65535, &p) < 0 || p == 0)
		goto bad;
	memcpy(host, h, hl);
	host[hl] = 0;
	*port = (int)p;
	return 0;
bad:
	snprintf(err, INIT_ERRLEN, "invalid address `%s`: use HOST:PORT, e.g. 127.0.0.1:8080", s);
	return -1;
}

int health_parse_url(const char *url, char *host, size_t hostlen, int *port, const char **path,
                     char *err)
{
	if (strncmp(url, "http://", 7)) {
		snprintf(err, INIT_ERRLEN, "invalid health URL `%s`: only http://HOST[:PORT]/PATH "
		         "is supported", url);
		return -1;
	}
	const char *a = url + 7;
	const char *slash = strchr(a, '/');
	*path = slash ? slash : "/";
	size_t al = slash ? (size_t)(slash - a) : strlen(a);
	char hp[300];
	if (al >= sizeof hp - 4 || !al)
		goto bad;
	memcpy(hp, a, al);
	hp[al] = 0;
	/* No port: 80. */
	if (!(hp[al - 1] != ']' && strrchr(hp, ':') && (hp[0] != '[' || strchr(hp, ']'))))
		strcat(hp, ":80");
	if (health_parse_hostport(hp, host, hostlen, port, err) < 0)
		goto bad;
	return 0;
bad:
	snprintf(err, INIT_ERRLEN, "invalid health URL `%s`: use http://HOST[:PORT]/PATH", url);
	return -1;
}


/* ---- capabilities ---------------------------------------------------------- */
int grammar_caps(const char *list, uint64_t *keep, char *err)
{
	char buf[1024];
	*keep = 0;
	if (!list)
		return 0;
	if (strlen(list) >= sizeof buf) {
		snprintf(err, INIT_ERRLEN, "capability list too long");
		return -1;
	}
	strcpy(buf, list);
	for (char *save, *tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		char name[64] = "cap_";
		const char *bare = strncasecmp(tok, "cap_", 4) ? tok : tok + 4;
		size_t i;
		for (i = 0; bare[i] && i < sizeof name - 5; i++)
			name[4 + i] = (char)tolower((unsigned char)bare[i]);
		name[4 + i] = 0;
		cap_value_t v;
		if (bare[i] || !*bare || isdigit((unsigned char)*bare) ||
		    cap_from_name(name, &v) < 0 || v < 0 || v > 63) {
			snprintf(err, INIT_ERRLEN,
			         "unknown capability `%s`: use names like NET_BIND_SERVICE or CAP_CHOWN",
			         tok);
			return -1;
		}
		*keep |= 1ull << v;
	}
	return 0;
}

/* ---- policy names ---------------------------------------------------------- */
int filter_policy_name_ok(const char *name)
{
	size_t n = strlen(name);
	return n >= 1 && n <= 64 && strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* ---- the init's variables ------------------------------------------------ */
enum kind { K_ANY, K_DURATION, K_DURATION_POS, K_COUNT, K_UNHEALTHY, K_URL, K_HOSTPORT,
            K_COMMAND, K_CAPS, K_POLICY, K_SERVICE };

/* Every variable the init reads (main.c), the option it stands for, and
 * how main.c reads an empty value: as "not set" (empty_ok), or as a value
 * (then the kind's rule refuses it).  A new variable of the init belongs
 * here, or mkimage refuses it at build time as unknown. */
static const struct {
	const char *env, *opt;
	enum kind kind;
	bool empty_ok;
} vars[] = {
	{ "MINBASE_USER", "--user", K_ANY, true },  /* resolved in the image's /etc/passwd */
	{ "MINBASE_CAPS", "--caps", K_CAPS, true },
	{ "MINBASE_SECCOMP", "--seccomp", K_ANY, true },
	{ "MINBASE_POLICY", "--policy", K_POLICY, true },
	{ "MINBASE_NO_NEW_PRIVS", "--no-new-privs", K_ANY, true },
	{ "MINBASE_GRACE", "--grace", K_DURATION, true },
	{ "MINBASE_HEALTH_HTTP", "--health-http", K_URL, true },
	{ "MINBASE_HEALTH_TCP", "--health-tcp", K_HOSTPORT, true },
	{ "MINBASE_HEALTH_EXEC", "--health-exec", K_COMMAND, true },
	{ "MINBASE_HEALTH_GRPC", "--health-grpc", K_HOSTPORT, true },
	{ "MINBASE_HEALTH_GRPC_SERVICE", "--health-grpc-service", K_SERVICE, true },
	{ "MINBASE_HEALTH_INTERVAL", "--health-interval", K_DURATION_POS, false },
	{ "MINBASE_HEALTH_TIMEOUT", "--health-timeout", K_DURATION_POS, false },
	{ "MINBASE_HEALTH_START_PERIOD", "--health-start-period", K_DURATION, false },
	{ "MINBASE_HEALTH_RETRIES", "--health-retries", K_COUNT, false },
	{ "MINBASE_ON_UNHEALTHY", "--on-unhealthy", K_UNHEALTHY, true },
	{ "MINBASE_HEALTH_FILE", "--health-file", K_ANY, true },
	/* tini's: on when set, whatever the value; TINI_VERBOSITY is atoi'd. */
	{ "TINI_SUBREAPER", "-s", K_ANY, true },
	{ "TINI_KILL_PROCESS_GROUP", "-g", K_ANY, true },
	{ "TINI_VERBOSITY", "-v", K_ANY, true },
};
#define N_VARS (sizeof(vars) / sizeof(vars[0]))

static int check(enum kind k, const char *v, int64_t *num, char *err)
{
	char host[256];
	const char *path;
	int port;
	unsigned long n;
	int64_t ms = 0;

	switch (k) {
	case K_ANY:
		return 0;
	case K_DURATION:
	case K_DURATION_POS:
		if (parse_duration_ms(v, &ms, err) < 0)
			return -1;
		if (k == K_DURATION_POS && ms <= 0) {
			snprintf(err, INIT_ERRLEN, "invalid duration `%s`: must be more than 0", v);
			return -1;
		}
		if (num)
			*num = ms;
		return 0;
	case K_COUNT:
		if (parse_uint(v, 1000000, &n) < 0 || n == 0) {
			snprintf(err, INIT_ERRLEN, "invalid count `%s`: use a number >= 1", v);
			return -1;
		}
		if (num)
			*num = (int64_t)n;
		return 0;
	case K_UNHEALTHY:
		if (strcmp(v, "exit") && strcmp(v, "none")) {
			snprintf(err, INIT_ERRLEN, "invalid value `%s`: use exit or none", v);
			return -1;
		}
		return 0;
	case K_URL:
		return health_parse_url(v, host, sizeof host, &port, &path, err);
	case K_HOSTPORT:
		return health_parse_hostport(v, host, sizeof host, &port, err);
	case K_COMMAND:
		if (!v[strspn(v, " \t")]) {
			snprintf(err, INIT_ERRLEN, "empty command");
			return -1;
		}
		return 0;
	case K_POLICY:
		if (!filter_policy_name_ok(v)) {
			snprintf(err, INIT_ERRLEN, "invalid policy name `%.100s`: use a plain name like "
			         "`service` (a-z, 0-9, `-`, `_`), not a path", v);
			return -1;
		}
		return 0;
	case K_SERVICE: /* a gRPC service name: it goes into the probe's detail */
		for (n = 0; v[n] > ' ' && v[n] < 127; n++)
			;
		if (v[n] || n > GRPC_SERVICE_MAX) {
			snprintf(err, INIT_ERRLEN, "invalid service name `%.100s`: use at most %d "
			         "printable characters, no spaces", v, GRPC_SERVICE_MAX);
			return -1;
		}
		return 0;
	case K_CAPS: {
		uint64_t keep;
		return grammar_caps(v, &keep, err);
	}
	}
	return 0;
}

int grammar_option(const char *opt, const char *v, int64_t *num, char *err)
{
	for (size_t i = 0; i < N_VARS; i++)
		if (!strcmp(vars[i].opt, opt))
			return check(vars[i].kind, v, num, err);
	snprintf(err, INIT_ERRLEN, "no option `%s`", opt);
	return -1;
}

int grammar_env(const char *name, const char *v, char *err)
{
	for (size_t i = 0; i < N_VARS; i++) {
		if (strcmp(vars[i].env, name))
			continue;
		if (!*v && vars[i].empty_ok)
			return 0;
		return check(vars[i].kind, v, NULL, err) < 0 ? -1 : 0;
	}
	return 1;
}

const char *grammar_env_option(const char *name)
{
	for (size_t i = 0; i < N_VARS; i++)
		if (!strcmp(vars[i].env, name))
			return vars[i].opt;
	return NULL;
}
