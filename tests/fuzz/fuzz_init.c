/* libFuzzer target: what minbase-init reads from the image and its
 * environment (init/grammar.c, init/parse.c, init/privs.c, init/health.c,
 * init/seccomp.c), built with the host's clang.  The first byte picks the
 * parser, the rest is its input:
 *   0 an option's value (the next byte picks the option)   5 an HTTP probe answer
 *   1 an environment variable's value (likewise)           6 the health state file
 *   2 a duration, a signal, a number                       7 a seccomp file v1 as it is
 *   3 a capability list, a policy name                     8 one with its crc32 fixed
 *   4 a probe URL and HOST:PORT                            9 /etc/passwd + /etc/group + a user
 * For 9 the input is split at "\n--\n" into the passwd file, the group file
 * and the --user spec, written under a root directory of the harness's. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../init/init.h"
#include "fuzz_files.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const OPTS[] = {
	"--user", "--caps", "--seccomp", "--policy", "--no-new-privs", "--grace", "--health-http",
	"--health-tcp", "--health-exec", "--health-grpc", "--health-grpc-service",
	"--health-interval", "--health-timeout", "--health-start-period", "--health-retries",
	"--on-unhealthy", "--health-file", "--nope",
};
static const char *const ENVS[] = {
	"MINBASE_USER", "MINBASE_CAPS", "MINBASE_SECCOMP", "MINBASE_POLICY", "MINBASE_NO_NEW_PRIVS",
	"MINBASE_GRACE", "MINBASE_HEALTH_HTTP", "MINBASE_HEALTH_TCP", "MINBASE_HEALTH_EXEC",
	"MINBASE_HEALTH_GRPC", "MINBASE_HEALTH_GRPC_SERVICE", "MINBASE_HEALTH_INTERVAL",
	"MINBASE_HEALTH_TIMEOUT", "MINBASE_HEALTH_START_PERIOD", "MINBASE_HEALTH_RETRIES",
	"MINBASE_ON_UNHEALTHY", "MINBASE_HEALTH_FILE", "TINI_SUBREAPER", "MINBASE_NOPE",
};
#define N(a) (sizeof(a) / sizeof((a)[0]))

static char root[64], state[96];

static void setup_once(void)
{
	if (root[0])
		return;
	fuzz_dir(root, sizeof(root), "fuzz_init");
	char etc[96];
	snprintf(etc, sizeof(etc), "%s/etc", root);
	mkdir(etc, 0755);
	snprintf(state, sizeof(state), "%s/health", root);
	/* health_cmd prints its answer: keep libFuzzer's own output readable */
	if (!freopen("/dev/null", "w", stdout))
		abort();
}

static void put(const char *name, const char *d, size_t n)
{
	char path[160];
	snprintf(path, sizeof(path), "%s/%s", root, name);
	fuzz_put(path, d, n);
}

/* The part of s up to sep (NUL-terminated in place), s moved past it. */
static char *part(char **s, const char *sep)
{
	char *p = *s, *e = p ? strstr(p, sep) : NULL;
	if (e) {
		*e = '\0';
		*s = e + strlen(sep);
	} else {
		*s = NULL;
	}
	return p ? p : (char *)"";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[INIT_ERRLEN], host[256];
	int64_t num, ms;
	int sig, port;
	unsigned long ul;
	uint64_t keep;
	const char *path;

	if (size < 2)
		return 0;
	setup_once();
	unsigned mode = data[0] % 10, pick = data[1];
	data += 2, size -= 2;
	char *s = fuzz_cstr(data, size);
	if (!s)
		return 0;

	switch (mode) {
	case 0:
		grammar_option(OPTS[pick % N(OPTS)], s, &num, err);
		break;
	case 1:
		grammar_env(ENVS[pick % N(ENVS)], s, err);
		grammar_env_option(ENVS[pick % N(ENVS)]);
		break;
	case 2:
		if (parse_duration_ms(s, &ms, err) == 0 && ms < 0)
			abort(); /* a duration is never negative */
		parse_signal(s, &sig, err);
		parse_uint(s, pick ? 0xfffffffeul : 0, &ul);
		break;
	case 3:
		grammar_caps(s, &keep, err);
		filter_policy_name_ok(s);
		break;
	case 4:
		if (health_parse_url(s, host, sizeof(host), &port, &path, err) == 0 &&
		    (port < 1 || port > 65535 || strlen(host) >= sizeof(host)))
			abort();
		if (health_parse_hostport(s, host, sizeof(host), &port, err) == 0 &&
		    (port < 1 || port > 65535))
			abort();
		break;
	case 5:
		health_parse_http_status((const char *)data, size);
		break;
	case 6:
		put("health", (const char *)data, size);
		health_cmd(state, pick * 10);
		break;
	case 7:
	case 8: {
		const struct sock_filter *insns;
		unsigned short n;
		unsigned char *b = malloc(size + 4);
		if (!b)
			break;
		memcpy(b, data, size);
		size_t bl = size;
		if (mode == 8 && size >= FILTER_FILE_HDR) {
			/* the crc the writer appends, so the checks after it are reached */
			uint32_t c = filter_crc32(b, size);
			for (int i = 0; i < 4; i++)
				b[bl++] = (unsigned char)(c >> (8 * i));
		}
		if (filter_parse(b, bl, filter_native_arch(), &insns, &n, err) == 0 &&
		    (n < 1 || n > FILTER_FILE_MAXINSNS || FILTER_FILE_SIZE(n) != bl))
			abort();
		free(b);
		break;
	}
	case 9: {
		char *rest = s;
		char *pw = part(&rest, "\n--\n"), *gr = part(&rest, "\n--\n"), *spec = rest ? rest : "";
		put("etc/passwd", pw, strlen(pw));
		put("etc/group", gr, strlen(gr));
		struct privs_cfg p;
		memset(&p, 0, sizeof(p));
		if (privs_resolve_user(&p, root, spec, err) == 0 &&
		    (p.ngroups < 1 || p.ngroups > INIT_MAX_GROUPS))
			abort();
		break;
	}
	}
	free(s);
	return 0;
}
