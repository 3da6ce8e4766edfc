/* `--env` entries meant for minbase-init (MINBASE_*, TINI_*), checked
 * before anything is built: with the init's own grammar (init/grammar.c,
 * linked into mkimage), so that an image the init would refuse to start is
 * refused here; and against the options, because an --env is applied
 * after what mkimage writes for them and would silently win (`--policy
 * strict -e MINBASE_SECCOMP=` made an image without its filter).  An --env
 * that agrees with what mkimage writes is accepted (it changes nothing). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder.h"
#include "../init/init.h"

/* A value known only later (a policy's own capabilities): never equal. */
static const char UNKNOWN[] = "";

/* What the options make mkimage write for NAME into the image's ENV, or
 * NULL when no option decides it.  *opt names the option to use instead;
 * buf holds a formatted value. */
static const char *decided(const struct mk_opts *o, const char *name, const char **opt,
                           char *buf, size_t len)
{
	const struct mk_health *h = &o->health;
	bool probe = h->http || h->tcp || h->exec || h->grpc;
	/* The one probe given decides the four variables (the init takes one). */
	const char *popt = h->http ? "--health-http" : h->tcp ? "--health-tcp" :
	                   h->exec ? "--health-exec" : "--health-grpc";

	/* Always written: the capabilities kept (none by default; a policy
	 * may name some, so only an equal --caps agrees) and no-new-privs. */
	if (!strcmp(name, "MINBASE_CAPS")) {
		*opt = o->caps_set ? "--caps" : o->policy ? "--policy (its minbase.caps)" :
		       "the default (keep none; use --caps)";
		return o->caps_set ? o->caps : o->policy ? UNKNOWN : "";
	}
	if (!strcmp(name, "MINBASE_NO_NEW_PRIVS"))
		return *opt = "no-new-privileges, which mkimage always sets", "1";
	/* The user is the config's User, or MINBASE_USER with a root start
	 * when capabilities are kept: --user decides both. */
	if (!strcmp(name, "MINBASE_USER"))
		return *opt = "--user (default 65532:65532)", o->user;
	/* --policy puts its filter at SECCOMP_PATH; the init takes one
	 * filter only, so a MINBASE_POLICY beside it would stop the start. */
	if (!strcmp(name, "MINBASE_SECCOMP") && o->policy)
		return *opt = "--policy", SECCOMP_PATH;
	if (!strcmp(name, "MINBASE_POLICY") && o->policy)
		return *opt = "--policy", "";
	if (probe && !strcmp(name, "MINBASE_HEALTH_HTTP"))
		return *opt = popt, h->http ? h->http : "";
	if (probe && !strcmp(name, "MINBASE_HEALTH_TCP"))
		return *opt = popt, h->tcp ? h->tcp : "";
	if (probe && !strcmp(name, "MINBASE_HEALTH_EXEC"))
		return *opt = popt, h->exec ? h->exec : "";
	if (probe && !strcmp(name, "MINBASE_HEALTH_GRPC"))
		return *opt = popt, h->grpc ? h->grpc : "";
	if (h->grpc_service && !strcmp(name, "MINBASE_HEALTH_GRPC_SERVICE"))
		return *opt = "--health-grpc-service", h->grpc_service;
	if (h->interval && !strcmp(name, "MINBASE_HEALTH_INTERVAL"))
		return *opt = "--health-interval", h->interval;
	if (h->timeout && !strcmp(name, "MINBASE_HEALTH_TIMEOUT"))
		return *opt = "--health-timeout", h->timeout;
	if (h->start_period && !strcmp(name, "MINBASE_HEALTH_START_PERIOD"))
		return *opt = "--health-start-period", h->start_period;
	if (h->retries >= 0 && !strcmp(name, "MINBASE_HEALTH_RETRIES")) {
		snprintf(buf, len, "%d", h->retries);
		return *opt = "--health-retries", buf;
	}
	return NULL;
}

int mk_env_check(const struct mk_opts *o, struct mb_err *err)
{
	if (o->no_init)
		return 0;  /* no init in the image reads them: the service's own */
	for (size_t i = 0; i < o->nenv; i++) {
		const char *e = o->env[i], *eq = strchr(e, '=');
		if (!eq || (strncmp(e, "MINBASE_", 8) && strncmp(e, "TINI_", 5)))
			continue;
		char name[128], ierr[INIT_ERRLEN], buf[32];
		const char *opt = NULL, *v = eq + 1;
		snprintf(name, sizeof(name), "%.*s", (int)(eq - e), e);
		int r = grammar_env(name, v, ierr);
		if (r == 1)
			return mb_usage(err, "invalid --env `%s`: minbase-init reads no variable `%s` (a typo? "
			                "the init's README lists them)", e, name);
		if (r < 0)
			return mb_usage(err, "invalid --env `%s`: %s (minbase-init would refuse to start)",
			                e, ierr);
		const char *want = decided(o, name, &opt, buf, sizeof(buf));
		if (want && (want == UNKNOWN || strcmp(want, v)))
			return mb_usage(err, "--env `%s` contradicts %s: it would silently override what "
			                "mkimage writes for it; drop the --env%s", e, opt,
			                opt[0] == '-' ? " and use the option" : "");
	}
	return 0;
}
