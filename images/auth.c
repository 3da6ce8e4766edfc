/* images auth: where registry credentials are kept, as docker's and the
 * containers tools' clients read them, and the WWW-Authenticate challenge.
 *
 * Stores, first match wins: REGISTRY_AUTH_FILE (podman, skopeo, buildah),
 * $DOCKER_CONFIG/config.json or ~/.docker/config.json (docker), then
 * ${XDG_RUNTIME_DIR}/containers/auth.json (podman's default).  In a docker
 * config, credHelpers[host] beats credsStore, which beats auths (docker's
 * order, cli/config/configfile).  A helper is `docker-credential-NAME get`
 * with the server URL on stdin and {"Username","Secret"} on stdout; the
 * user `<token>` means the secret is an identity (refresh) token.
 *
 * No secret ever goes into err: messages name the store, not the value. */
#include "registry_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

void reg_creds_free(struct reg_creds *c)
{
	/* wiped before free: a core dump should not hold them either */
	if (c->secret)
		explicit_bzero(c->secret, strlen(c->secret));
	if (c->identity_token)
		explicit_bzero(c->identity_token, strlen(c->identity_token));
	free(c->user);
	free(c->secret);
	free(c->identity_token);
	c->user = c->secret = c->identity_token = NULL;
}

char *reg_basic(const char *user, const char *secret)
{
	char *plain, *out;
	int n = asprintf(&plain, "%s:%s", user ? user : "", secret ? secret : "");

	if (n < 0)
		return NULL;
	out = malloc(4 * ((size_t)n / 3 + 1) + 1);
	if (out)
		EVP_EncodeBlock((unsigned char *)out, (unsigned char *)plain, n);
	explicit_bzero(plain, (size_t)n);
	free(plain);
	return out;
}

/* The server part of a store key: "https://host/v1/" -> "host". */
static size_t key_host(const char *k, const char **start)
{
	if (!strncmp(k, "https://", 8))
		k += 8;
	else if (!strncmp(k, "http://", 7))
		k += 7;
	*start = k;
	return strcspn(k, "/");
}

static bool key_matches(const char *key, const char *want)
{
	const char *a, *b;
	size_t la = key_host(key, &a), lb = key_host(want, &b);
	return la == lb && !strncmp(a, b, la);
}

/* The entry of obj whose key names the same server as want. */
static json_t *find_key(json_t *obj, const char *want, const char **found)
{
	const char *k;
	json_t *v;

	if (!json_is_object(obj))
		return NULL;
	if ((v = json_object_get(obj, want))) {
		*found = want;
		return v;
	}
	json_object_foreach(obj, k, v)
		if (key_matches(k, want)) {
			*found = k;
			return v;
		}
	return NULL;
}

/* Reads all of fd (at most max bytes) into a NUL-terminated buffer. */
static char *read_all(int fd, size_t max, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);

	while (buf) {
		if (n + 1 >= cap) {
			if (cap >= max) {
				free(buf);
				errno = EFBIG;
				return NULL;
			}
			char *nb = realloc(buf, cap * 2);
			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
		ssize_t r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		if (r == 0) {
			buf[n] = '\0';
			*len = n;
			return buf;
		}
		n += (size_t)r;
	}
	free(buf);
	return NULL;
}

/* What `docker-credential-NAME get` printed: {"Username": U, "Secret": S};
 * a Username of "<token>" makes the secret an identity token. */
int reg_creds_helper_answer(const char *buf, size_t len, const char *prog, const char *url,
                            struct reg_creds *c, struct mb_err *err)
{
	json_error_t je;
	json_t *j = json_loadb(buf, len, 0, &je);
	const char *u = json_string_value(json_object_get(j, "Username"));
	const char *s = json_string_value(json_object_get(j, "Secret"));
	int ret = -1;

	if (!j || !s) {
		mb_error(err, 0, "credential helper `%s` gave no JSON with a Secret for %s", prog, url);
		goto out;
	}
	if (u && !strcmp(u, "<token>")) {
		if (!(c->identity_token = strdup(s)))
			goto nomem;
	} else {
		c->user = strdup(u ? u : "");
		c->secret = strdup(s);
		if (!c->user || !c->secret)
			goto nomem;
	}
	snprintf(c->source, sizeof(c->source), "credential helper %.120s", prog);
	ret = 0;
	goto out;
nomem:
	mb_error(err, 0, "cannot read credentials: out of memory");
out:
	json_decref(j); /* jansson does not wipe; the copy is short-lived */
	return ret;
}

/* docker-credential-NAME get: URL in, JSON out.  A helper that knows no
 * credentials for the server exits non-zero with "credentials not found"
 * on stdout; that is anonymous access, not a failure. */
static int run_helper(const char *name, const char *url, struct reg_creds *c, struct mb_err *err)
{
	char prog[160];
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, ret = -1, st = 0;
	pid_t pid = -1;
	char *buf = NULL;
	size_t len = 0;

	snprintf(prog, sizeof(prog), "docker-credential-%s", name);
	if (strchr(name, '/') || !*name)
		return mb_error(err, 0, "invalid credential helper name `%s` in the docker config", name);
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) {
		mb_error(err, errno, "cannot run `%s`", prog);
		goto out;
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	char *argv[] = { prog, "get", NULL };
	int e = posix_spawnp(&pid, prog, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (e) {
		pid = -1;
		mb_error(err, 0, "cannot run credential helper `%s`: %s (install it, or remove it from "
		         "the docker config)", prog, strerror(e));
		goto out;
	}
	close(in[0]);
	close(out[1]);
	in[0] = out[1] = -1;
	/* A helper that exits before reading must not kill us with SIGPIPE. */
	struct sigaction ign = { .sa_handler = SIG_IGN }, old;
	sigaction(SIGPIPE, &ign, &old);
	ssize_t w = write(in[1], url, strlen(url));
	(void)w;
	sigaction(SIGPIPE, &old, NULL);
	close(in[1]);
	in[1] = -1;
	buf = read_all(out[0], 1 << 20, &len);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	pid = -1;
	if (!buf) {
		mb_error(err, errno, "cannot read the answer of credential helper `%s`", prog);
		goto out;
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		if (strstr(buf, "credentials not found")) {
			ret = 0;
			goto out;
		}
		mb_error(err, 0, "credential helper `%s` failed for %s (exit %d)", prog, url,
		         WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
		goto out;
	}
	if (reg_creds_helper_answer(buf, len, prog, url, c, err) < 0)
		goto out;
	ret = 0;
out:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
	if (buf) {
		explicit_bzero(buf, len);
		free(buf);
	}
	return ret;
}

/* An `auths` entry: {"auth": base64(user:pass)} or username/password,
 * and/or identitytoken. */
static int from_entry(json_t *e, const char *path, const char *key, struct reg_creds *c, struct mb_err *err)
{
	const char *auth = json_string_value(json_object_get(e, "auth"));
	const char *user = json_string_value(json_object_get(e, "username"));
	const char *pass = json_string_value(json_object_get(e, "password"));
	const char *idt = json_string_value(json_object_get(e, "identitytoken"));

	if (idt && *idt && !(c->identity_token = strdup(idt)))
		goto nomem;
	if (auth && *auth) {
		size_t al = strlen(auth);
		unsigned char *dec = malloc(al + 4);
		if (!dec)
			goto nomem;
		int n = EVP_DecodeBlock(dec, (const unsigned char *)auth, (int)al);
		/* EVP_DecodeBlock counts the padding's zero bytes in */
		while (n > 0 && al && auth[--al] == '=')
			n--;
		char *colon = n > 0 ? memchr(dec, ':', (size_t)n) : NULL;
		if (!colon) {
			free(dec);
			return mb_error(err, 0, "invalid `auth` for %s in `%s`: not base64 of user:password "
			                "(log in again)", key, path);
		}
		c->user = strndup((char *)dec, (size_t)(colon - (char *)dec));
		c->secret = strndup(colon + 1, (size_t)((char *)dec + n - colon - 1));
		explicit_bzero(dec, al + 4);
		free(dec);
	} else if (user && pass) {
		c->user = strdup(user);
		c->secret = strdup(pass);
	}
	if ((auth && *auth && (!c->user || !c->secret)))
		goto nomem;
	snprintf(c->source, sizeof(c->source), "`%.150s`", path);
	return 0;
nomem:
	return mb_error(err, 0, "cannot read credentials: out of memory");
}

/* 1 when path had an entry for key (c filled), 0 when not, -1 on error. */
static int from_file(const char *path, const char *key, bool docker, struct reg_creds *c,
                     struct mb_err *err)
{
	json_error_t je;
	struct stat st;

	if (stat(path, &st) < 0)
		return 0;
	json_t *j = json_load_file(path, 0, &je);
	if (!j)
		return mb_error(err, 0, "cannot read credentials from `%s`: %s (line %d)", path, je.text, je.line);
	int ret = 0;
	const char *found = key, *helper = NULL;
	/* A helper is run with the key as the store spells it (docker passes
	 * the registry's host; for the Hub its v1 URL). */
	if (docker) {
		json_t *h = find_key(json_object_get(j, "credHelpers"), key, &found);
		helper = json_string_value(h);
		if (!helper)
			helper = json_string_value(json_object_get(j, "credsStore"));
		if (helper && *helper) {
			ret = run_helper(helper, helper == json_string_value(h) ? found : key, c, err);
			if (ret == 0 && (c->user || c->identity_token))
				ret = 1;
			if (ret != 0)
				goto out;
		}
	}
	json_t *e = find_key(json_object_get(j, "auths"), key, &found);
	if (json_is_object(e)) {
		if (from_entry(e, path, found, c, err) < 0)
			ret = -1;
		else
			ret = c->user || c->identity_token ? 1 : 0;
	}
out:
	json_decref(j);
	return ret;
}

int reg_creds_lookup(const char *key, struct reg_creds *c, struct mb_err *err)
{
	char path[4096];
	const char *v;
	int r;

	memset(c, 0, sizeof(*c));
	if ((v = getenv("REGISTRY_AUTH_FILE")) && *v) {
		if ((r = from_file(v, key, false, c, err)) != 0)
			return r < 0 ? -1 : 0;
	}
	if ((v = getenv("DOCKER_CONFIG")) && *v)
		snprintf(path, sizeof(path), "%s/config.json", v);
	else if ((v = getenv("HOME")) && *v)
		snprintf(path, sizeof(path), "%s/.docker/config.json", v);
	else
		path[0] = '\0';
	if (path[0] && (r = from_file(path, key, true, c, err)) != 0)
		return r < 0 ? -1 : 0;
	if ((v = getenv("XDG_RUNTIME_DIR")) && *v) {
		snprintf(path, sizeof(path), "%s/containers/auth.json", v);
		if ((r = from_file(path, key, false, c, err)) != 0)
			return r < 0 ? -1 : 0;
	}
	reg_creds_free(c);
	c->source[0] = '\0';
	return 0;
}

void reg_challenge_free(struct reg_challenge *ch)
{
	free(ch->realm);
	free(ch->service);
	free(ch->scope);
	free(ch->error);
	memset(ch, 0, sizeof(*ch));
}

/* RFC 7235: scheme then auth-params, name=value or name="quoted"; the
 * first challenge is the one we answer (registries send one). */
void reg_challenge_parse(const char *h, struct reg_challenge *ch)
{
	reg_challenge_free(ch);
	if (!h)
		return;
	h += strspn(h, " \t");
	size_t sl = strcspn(h, " \t,");
	if (sl >= sizeof(ch->scheme))
		return;
	for (size_t i = 0; i < sl; i++)
		ch->scheme[i] = (char)(h[i] >= 'A' && h[i] <= 'Z' ? h[i] + 32 : h[i]);
	ch->scheme[sl] = '\0';
	const char *p = h + sl;
	while (*p) {
		p += strspn(p, " \t,");
		size_t nl = strcspn(p, "= \t,");
		if (!nl || p[nl] != '=')
			break;
		const char *name = p;
		p += nl + 1;
		char val[2048];
		size_t vl = 0;
		if (*p == '"') {
			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' && p[1])
					p++;
				if (vl + 1 < sizeof(val))
					val[vl++] = *p;
			}
			if (*p == '"')
				p++;
		} else {
			while (*p && *p != ',' && *p != ' ' && vl + 1 < sizeof(val))
				val[vl++] = *p++;
		}
		val[vl] = '\0';
		char **dst = nl == 5 && !strncasecmp(name, "realm", 5) ? &ch->realm :
		             nl == 7 && !strncasecmp(name, "service", 7) ? &ch->service :
		             nl == 5 && !strncasecmp(name, "scope", 5) ? &ch->scope :
		             nl == 5 && !strncasecmp(name, "error", 5) ? &ch->error : NULL;
		if (dst) {
			free(*dst);
			*dst = strdup(val);
		}
	}
}
