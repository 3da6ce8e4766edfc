/* images registry: the HTTP layer of the registry client (libcurl).
 *
 * One struct reg per operation: the reference, the base URL chosen by a
 * ping of /v2/ (https unless the host is loopback or --insecure-registry
 * and does not speak TLS), the credentials and the current Authorization.
 * reg_do sends one request and takes care of what every request shares:
 *  - authentication: a 401 challenge is answered (Bearer: a token from the
 *    realm for the operation's scopes plus any the challenge asks for;
 *    Basic: the stored credentials) and the request sent again;
 *  - retries of idempotent requests on connection errors, 429 and 5xx,
 *    with exponential backoff or the server's Retry-After, until the
 *    operation's deadline (--retry-time);
 *  - bodies streamed from a file region and responses streamed to a file
 *    (hashed on the way), so no blob is ever held in memory.
 * Worker threads (reg_parallel) each have their own curl handle and share
 * the struct under its mutex. */
#include "registry_priv.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SMALL_BODY (64u << 10) /* error bodies, token answers */

double reg_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void reg_event(struct reg *r, const struct image_remote_event *ev)
{
	if (!r->o || !r->o->event)
		return;
	pthread_mutex_lock(&r->mu);
	r->o->event(r->o->event_ctx, ev);
	pthread_mutex_unlock(&r->mu);
}

bool reg_backoff(struct reg *r, int attempt, double retry_after)
{
	double d = retry_after > 0 ? retry_after : 0.25 * (double)(1u << (attempt < 6 ? attempt : 6));
	if (d > 10 && retry_after <= 0)
		d = 10;
	if (reg_now() + d > r->deadline || r->cancel)
		return false;
	struct timespec ts = { (time_t)d, (long)((d - (double)(time_t)d) * 1e9) };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	return true;
}

void reg_resp_free(struct reg_resp *p)
{
	free(p->body);
	free(p->location);
	free(p->digest);
	free(p->content_type);
	free(p->www_auth);
	memset(p, 0, sizeof(*p));
}

/* Docker allows plain http to loopback registries without being told. */
static bool host_is_loopback(const char *hostport)
{
	char h[256];
	const char *end;

	if (hostport[0] == '[') {
		end = strchr(hostport, ']');
		if (!end)
			return false;
		snprintf(h, sizeof(h), "%.*s", (int)(end - hostport - 1), hostport + 1);
	} else {
		snprintf(h, sizeof(h), "%.*s", (int)strcspn(hostport, ":"), hostport);
	}
	if (!strcasecmp(h, "localhost"))
		return true;
	struct in_addr a4;
	struct in6_addr a6;
	if (inet_pton(AF_INET, h, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return inet_pton(AF_INET6, h, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

static bool host_is_insecure(const struct reg *r)
{
	for (char **p = r->o ? r->o->insecure : NULL; p && *p; p++) {
		const char *h = *p;
		if (!strncmp(h, "http://", 7))
			h += 7;
		else if (!strncmp(h, "https://", 8))
			h += 8;
		size_t l = strcspn(h, "/");
		/* HOST matches HOST:ANYPORT too, as docker's list does not */
		if ((strlen(r->ref.host) == l && !strncmp(r->ref.host, h, l)) ||
		    (!memchr(h, ':', l) && !strncmp(r->ref.host, h, l) && r->ref.host[l] == ':'))
			return true;
	}
	return false;
}

/* ---- curl callbacks ----------------------------------------------------- */

struct xfer {
	struct reg *r;
	const struct reg_req *q;
	struct reg_resp *p;
	CURL *h;
	uint64_t sent;
	size_t cap;
	EVP_MD_CTX *md;
	int write_errno;
};

static char *hdr_value(const char *line, size_t n, const char *name)
{
	size_t nl = strlen(name);
	if (n <= nl || strncasecmp(line, name, nl) || line[nl] != ':')
		return NULL;
	const char *v = line + nl + 1;
	size_t vl = n - nl - 1;
	while (vl && (*v == ' ' || *v == '\t'))
		v++, vl--;
	while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
		vl--;
	return strndup(v, vl);
}

static size_t on_header(char *buf, size_t sz, size_t n, void *ud)
{
	struct xfer *x = ud;
	struct reg_resp *p = x->p;
	size_t len = sz * n;
	char *v;

	if (len > 5 && !strncmp(buf, "HTTP/", 5)) {
		/* a new response (after a redirect or a 100): forget the last */
		free(p->location);
		free(p->digest);
		free(p->content_type);
		free(p->www_auth);
		p->location = p->digest = p->content_type = p->www_auth = NULL;
		p->content_length = -1;
		p->range_end = -2;
		return len;
	}
#define TAKE(field, name) \
	if ((v = hdr_value(buf, len, name))) { free(p->field); p->field = v; return len; }
	TAKE(location, "Location")
	TAKE(digest, "Docker-Content-Digest")
	TAKE(content_type, "Content-Type")
	TAKE(www_auth, "WWW-Authenticate")
#undef TAKE
	if ((v = hdr_value(buf, len, "Content-Length"))) {
		p->content_length = strtoll(v, NULL, 10);
		free(v);
	} else if ((v = hdr_value(buf, len, "Range"))) {
		/* "0-N" of an upload session (distribution sends "0--1" for none) */
		char *end;
		if (!strncmp(v, "0-", 2)) {
			long long e = strtoll(v + 2, &end, 10);
			if (end != v + 2 && !*end && e >= -1)
				p->range_end = e;
		}
		free(v);
	} else if ((v = hdr_value(buf, len, "Retry-After"))) {
		/* seconds; an HTTP-date is left to our own backoff */
		char *end;
		long sec = strtol(v, &end, 10);
		if (end != v && !*end && sec >= 0 && sec < 3600)
			p->retry_after = (double)sec;
		free(v);
	}
	return len;
}

static size_t on_write(char *buf, size_t sz, size_t n, void *ud)
{
	struct xfer *x = ud;
	struct reg_resp *p = x->p;
	size_t len = sz * n;
	long code = 0;

	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &code);
	if (x->q->out_fd >= 0 && code >= 200 && code < 300) {
		if (x->q->out_max && p->written + len > x->q->out_max) {
			p->too_big = true;
			return 0;
		}
		EVP_DigestUpdate(x->md, buf, len);
		if (rootfs_write_all(x->q->out_fd, buf, len) < 0) {
			x->write_errno = errno;
			return 0;
		}
		p->written += len;
		return len;
	}
	size_t max = x->q->out_max && code >= 200 && code < 300 ? x->q->out_max : SMALL_BODY;
	if (p->len + len > max) {
		p->too_big = true;
		return 0;
	}
	if (p->len + len + 1 > x->cap) {
		size_t nc = (p->len + len + 1) * 2;
		char *nb = realloc(p->body, nc);
		if (!nb)
			return 0;
		p->body = nb;
		x->cap = nc;
	}
	memcpy(p->body + p->len, buf, len);
	p->len += len;
	p->body[p->len] = '\0';
	return len;
}

static size_t on_read(char *buf, size_t sz, size_t n, void *ud)
{
	struct xfer *x = ud;
	const struct reg_req *q = x->q;
	size_t want = sz * n;

	if (q->body_fd >= 0) {
		uint64_t left = q->body_size - x->sent;
		if (want > left)
			want = (size_t)left;
		if (!want)
			return 0;
		ssize_t r;
		do
			r = pread(q->body_fd, buf, want, (off_t)(q->body_off + x->sent));
		while (r < 0 && errno == EINTR);
		if (r <= 0)
			return CURL_READFUNC_ABORT; /* the file shrank or failed */
		x->sent += (uint64_t)r;
		return (size_t)r;
	}
	size_t left = q->body_len - (size_t)x->sent;
	if (want > left)
		want = left;
	memcpy(buf, (const char *)q->body + x->sent, want);
	x->sent += want;
	return want;
}

/* curl sends a request again on a fresh connection when a reused one turns
 * out dead after the body went (a registry or balancer closing kept-alive
 * connections).  Without a way back to the start of the body an idempotent
 * PUT (a manifest, a tag) ended the push with "necessary data rewind wasn't
 * possible".  An upload's PATCH or PUT is not sent again blindly: it fails
 * here, and the upload asks its session where it is (registry_push.c). */
static int on_seek(void *ud, curl_off_t off, int origin)
{
	struct xfer *x = ud;
	const struct reg_req *q = x->q;
	uint64_t size = q->body_fd >= 0 ? q->body_size : q->body_len;

	if (!q->idempotent || origin != SEEK_SET || off < 0 || (uint64_t)off > size)
		return CURL_SEEKFUNC_CANTSEEK;
	x->sent = (uint64_t)off;
	return CURL_SEEKFUNC_OK;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct xfer *x = ud;
	if (x->r->cancel)
		return 1;
	if (x->q->progress)
		x->q->progress(x->q->progress_ctx, (uint64_t)(x->q->out_fd >= 0 ? dn : un));
	return 0;
}

/* ---- one attempt -------------------------------------------------------- */

static CURLcode perform(struct reg *r, CURL *h, const struct reg_req *q, const char *authz,
                        struct reg_resp *p, char *ebuf)
{
	struct curl_slist *hd = NULL;
	char url[4096], line[512];
	struct xfer x = { .r = r, .q = q, .p = p, .h = h };
	CURLcode rc;

	reg_resp_free(p);
	p->content_length = -1;
	p->range_end = -2;
	if (q->url[0] == '/')
		snprintf(url, sizeof(url), "%s%s", r->base, q->url);
	else
		snprintf(url, sizeof(url), "%s", q->url);
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, strncmp(r->base, "https:", 6) ? "http,https" : "https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, !strcmp(q->method, "GET") ? 1L : 0L);
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 15L);
	/* a transfer that moves nothing for 60 s is a broken connection */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "minbase-mkimage/" MINBASE_VERSION);
	if (r->o && r->o->ca_file) {
		curl_easy_setopt(h, CURLOPT_CAINFO, r->o->ca_file);
		curl_easy_setopt(h, CURLOPT_CAPATH, "/etc/ssl/certs");
	}
	if (!r->verify_tls) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, &x);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);

	/* Expect: 100-continue would cost a round trip per upload */
	hd = curl_slist_append(hd, "Expect:");
	if (authz)
		hd = curl_slist_append(hd, authz);
	if (q->content_type) {
		snprintf(line, sizeof(line), "Content-Type: %s", q->content_type);
		hd = curl_slist_append(hd, line);
	}
	if (q->accept) {
		snprintf(line, sizeof(line), "Accept: %s", q->accept);
		hd = curl_slist_append(hd, line);
	}
	if (q->content_range) {
		snprintf(line, sizeof(line), "Content-Range: %s", q->content_range);
		hd = curl_slist_append(hd, line);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);

	bool has_body = q->body || q->body_fd >= 0;
	if (!strcmp(q->method, "HEAD")) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (!strcmp(q->method, "GET")) {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	} else {
		/* PUT, POST and PATCH alike: an upload of a known size (0 when
		 * there is no body), under the method's own name */
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(h, CURLOPT_READDATA, &x);
		curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(h, CURLOPT_SEEKDATA, &x);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE,
		                 (curl_off_t)(!has_body ? 0 : q->body_fd >= 0 ? q->body_size : q->body_len));
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, q->method);
	}
	if (q->out_fd >= 0) {
		if (lseek(q->out_fd, 0, SEEK_SET) < 0 || ftruncate(q->out_fd, 0) < 0) {
			snprintf(ebuf, CURL_ERROR_SIZE, "cannot reset the download file: %s", strerror(errno));
			curl_slist_free_all(hd);
			return CURLE_WRITE_ERROR;
		}
		x.md = EVP_MD_CTX_new();
		if (!x.md || EVP_DigestInit_ex(x.md, EVP_sha256(), NULL) != 1) {
			snprintf(ebuf, CURL_ERROR_SIZE, "out of memory");
			EVP_MD_CTX_free(x.md);
			curl_slist_free_all(hd);
			return CURLE_OUT_OF_MEMORY;
		}
	}
	ebuf[0] = '\0';
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &p->status);
	if (x.md) {
		unsigned int l = 0;
		EVP_DigestFinal_ex(x.md, p->sha, &l);
		EVP_MD_CTX_free(x.md);
	}
	if (rc == CURLE_WRITE_ERROR && p->too_big)
		snprintf(ebuf, CURL_ERROR_SIZE, "the response is larger than allowed");
	else if (rc == CURLE_WRITE_ERROR && x.write_errno)
		snprintf(ebuf, CURL_ERROR_SIZE, "cannot write the download: %s", strerror(x.write_errno));
	curl_slist_free_all(hd);
	return rc;
}

/* Transport failures worth another try: the network, not our request. */
static bool transient(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_CONNECT: case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_OPERATION_TIMEDOUT: case CURLE_SEND_ERROR: case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING: case CURLE_PARTIAL_FILE: case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

/* ---- authentication ----------------------------------------------------- */

static void append_scope_params(char **url, const char *scopes, CURL *h)
{
	const char *p = scopes;
	while (p && *p) {
		size_t l = strcspn(p, " ");
		if (l) {
			char *one = strndup(p, l), *enc = one ? curl_easy_escape(h, one, 0) : NULL, *n;
			if (enc && asprintf(&n, "%s&scope=%s", *url, enc) >= 0) {
				free(*url);
				*url = n;
			}
			curl_free(enc);
			free(one);
		}
		p += l + strspn(p + l, " ");
	}
}

/* The operation's scopes plus one the registry asks for, without repeats. */
static char *scope_union(const char *a, const char *b)
{
	char *s;
	if (!b || !*b || (a && strstr(a, b)))
		return strdup(a ? a : "");
	if (asprintf(&s, "%s%s%s", a && *a ? a : "", a && *a ? " " : "", b) < 0)
		return NULL;
	return s;
}

/* GET realm?service=S&scope=... (Basic credentials, or none for an
 * anonymous token); an identity token goes as an OAuth2 refresh token.
 * Called with r->mu held. */
static int fetch_token(struct reg *r, CURL *h, const char *scope, struct mb_err *err)
{
	struct { char *url; } u = { NULL };
	char *svc = r->ch.service ? curl_easy_escape(h, r->ch.service, 0) : NULL;
	struct reg_resp p = { 0 };
	char ebuf[CURL_ERROR_SIZE], *basic = NULL, *authz = NULL, *form = NULL, *tok = NULL;
	int ret = -1;

	if (!r->ch.realm || strncmp(r->ch.realm, "http", 4)) {
		mb_error(err, 0, "registry %s: its Bearer challenge names no usable token realm",
		         r->ref.domain);
		goto out;
	}
	if (asprintf(&u.url, "%s%sservice=%s", r->ch.realm, strchr(r->ch.realm, '?') ? "&" : "?",
	             svc ? svc : "") < 0)
		goto nomem;
	append_scope_params(&u.url, scope, h);
	struct reg_req q = { .method = "GET", .url = u.url, .body_fd = -1, .out_fd = -1 };
	if (r->creds.identity_token) {
		char *it = curl_easy_escape(h, r->creds.identity_token, 0), *sc = curl_easy_escape(h, scope, 0);
		int n = asprintf(&form, "grant_type=refresh_token&client_id=minbase&refresh_token=%s"
		                 "&service=%s&scope=%s", it ? it : "", svc ? svc : "", sc ? sc : "");
		curl_free(it);
		curl_free(sc);
		if (n < 0)
			goto nomem;
		q.method = "POST";
		q.url = r->ch.realm;
		q.body = form;
		q.body_len = strlen(form);
		q.content_type = "application/x-www-form-urlencoded";
	} else if (r->creds.user) {
		if (!(basic = reg_basic(r->creds.user, r->creds.secret)) ||
		    asprintf(&authz, "Authorization: Basic %s", basic) < 0)
			goto nomem;
	}
	for (int attempt = 0;; attempt++) {
		CURLcode c = perform(r, h, &q, authz, &p, ebuf);
		if (c == CURLE_OK && p.status != 429 && p.status < 500)
			break;
		if (!(c == CURLE_OK || transient(c)) || !reg_backoff(r, attempt, 0)) {
			if (c != CURLE_OK)
				mb_error(err, 0, "registry %s: cannot get a token from %s: %s", r->ref.domain,
				         r->ch.realm, ebuf[0] ? ebuf : curl_easy_strerror(c));
			else
				mb_error(err, 0, "registry %s: token service %s: HTTP %ld", r->ref.domain,
				         r->ch.realm, p.status);
			goto out;
		}
	}
	if (p.status == 401 || p.status == 403) {
		if (r->creds.user || r->creds.identity_token)
			mb_error(err, 0, "registry %s: the token service refused the credentials from %s "
			         "(HTTP %ld UNAUTHORIZED): check the user and password, log in again",
			         r->ref.domain, r->creds.source, p.status);
		else
			mb_error(err, 0, "registry %s: the token service refused anonymous access (HTTP %ld "
			         "UNAUTHORIZED): log in first (docker login %s)", r->ref.domain,
			         p.status, r->ref.domain);
		goto out;
	}
	tok = p.status == 200 && p.body ? reg_token_parse(p.body, p.len) : NULL;
	if (!tok) {
		mb_error(err, 0, "registry %s: the token service %s gave no token (HTTP %ld)",
		         r->ref.domain, r->ch.realm, p.status);
		goto out;
	}
	char *nz;
	if (asprintf(&nz, "Authorization: Bearer %s", tok) < 0)
		goto nomem;
	if (r->authz)
		explicit_bzero(r->authz, strlen(r->authz));
	free(r->authz);
	r->authz = nz;
	r->auth_gen++;
	ret = 0;
	goto out;
nomem:
	mb_error(err, 0, "registry %s: out of memory", r->ref.domain);
out:
	if (p.body)
		explicit_bzero(p.body, p.len);
	reg_resp_free(&p);
	if (tok)
		explicit_bzero(tok, strlen(tok));
	free(tok);
	curl_free(svc);
	free(u.url);
	free(basic);
	if (authz)
		explicit_bzero(authz, strlen(authz));
	free(authz);
	free(form);
	return ret;
}

/* Answers the challenge of a 401.  gen is the auth generation the failed
 * request was sent with: when another thread has renewed it since, just
 * try again.  1: try again; 0: give up (the 401 is the answer); -1: error. */
static int answer_challenge(struct reg *r, CURL *h, const char *hdr, unsigned gen, struct mb_err *err)
{
	int ret = 0;

	pthread_mutex_lock(&r->mu);
	if (gen != r->auth_gen) {
		pthread_mutex_unlock(&r->mu);
		return 1;
	}
	if (!r->creds_loaded) {
		if (reg_creds_lookup(r->ref.cred_key, &r->creds, err) < 0) {
			pthread_mutex_unlock(&r->mu);
			return -1;
		}
		r->creds_loaded = true;
	}
	reg_challenge_parse(hdr, &r->ch);
	if (!strcmp(r->ch.scheme, "bearer")) {
		char *sc = scope_union(r->scope, r->ch.scope);
		if (!sc) {
			ret = mb_error(err, 0, "out of memory");
		} else if (fetch_token(r, h, sc, err) < 0) {
			ret = -1;
		} else {
			free(r->scope);
			r->scope = sc;
			sc = NULL;
			ret = 1;
		}
		free(sc);
	} else if (!strcmp(r->ch.scheme, "basic") && r->creds.user &&
	           !(r->authz && !strncmp(r->authz, "Authorization: Basic", 20))) {
		char *b = reg_basic(r->creds.user, r->creds.secret), *nz = NULL;
		if (!b || asprintf(&nz, "Authorization: Basic %s", b) < 0) {
			ret = mb_error(err, 0, "out of memory");
		} else {
			free(r->authz);
			r->authz = nz;
			r->auth_gen++;
			ret = 1;
		}
		free(b);
	}
	pthread_mutex_unlock(&r->mu);
	return ret;
}

int reg_do(struct reg *r, CURL *h, const struct reg_req *q, struct reg_resp *p, struct mb_err *err)
{
	char ebuf[CURL_ERROR_SIZE];
	int auth_tries = 0;

	for (int attempt = 0;; attempt++) {
		/* an upload Location on another host (a storage redirect) must not
		 * see our credentials or token */
		size_t bl = strlen(r->base);
		bool ours = q->url[0] == '/' || (!strncmp(q->url, r->base, bl) && q->url[bl] == '/');
		pthread_mutex_lock(&r->mu);
		char *authz = r->authz && ours ? strdup(r->authz) : NULL;
		unsigned gen = r->auth_gen;
		pthread_mutex_unlock(&r->mu);
		if (r->cancel) {
			free(authz);
			return mb_error(err, 0, "cancelled");
		}
		CURLcode c = perform(r, h, q, authz, p, ebuf);
		if (authz)
			explicit_bzero(authz, strlen(authz));
		free(authz);
		if (c != CURLE_OK) {
			if (q->idempotent && transient(c) && reg_backoff(r, attempt, 0)) {
				struct image_remote_event ev = { .kind = IMAGE_EV_RETRY, .msg = ebuf };
				reg_event(r, &ev);
				continue;
			}
			return mb_error(err, 0, "registry %s: %s %s: %s", r->ref.domain, q->method,
			                q->url[0] == '/' ? q->url : "(upload)",
			                p->too_big ? "the answer is larger than allowed" :
			                ebuf[0] ? ebuf : curl_easy_strerror(c));
		}
		if (p->status == 401 && !q->no_auth && auth_tries++ < 2) {
			int a = answer_challenge(r, h, p->www_auth, gen, err);
			if (a < 0)
				return -1;
			if (a > 0)
				continue; /* bodies are re-read from memory or their file */
			return 0;
		}
		if ((p->status == 429 || p->status >= 500) && q->idempotent) {
			/* Retry-After (seconds) is honoured as the registry asks */
			if (reg_backoff(r, attempt, p->retry_after)) {
				char m[96];
				snprintf(m, sizeof(m), "HTTP %ld from %s", p->status, r->ref.domain);
				struct image_remote_event ev = { .kind = IMAGE_EV_RETRY, .msg = m };
				reg_event(r, &ev);
				continue;
			}
		}
		return 0;
	}
}

void reg_http_error(struct reg *r, const char *what, const struct reg_resp *p, struct mb_err *err)
{
	json_error_t je;
	json_t *j = p->body && p->len ? json_loadb(p->body, p->len, 0, &je) : NULL;
	json_t *e0 = json_array_get(json_object_get(j, "errors"), 0);
	const char *code = json_string_value(json_object_get(e0, "code"));
	const char *msg = json_string_value(json_object_get(e0, "message"));
	/* a HEAD has no body: the status's usual code stands in */
	if (!code)
		code = p->status == 401 ? "UNAUTHORIZED" : p->status == 403 ? "DENIED" :
		       p->status == 429 ? "TOOMANYREQUESTS" : NULL;
	char hint[300] = "";

	if (p->status == 401 || p->status == 403) {
		if (r->creds.user || r->creds.identity_token)
			snprintf(hint, sizeof(hint), " (credentials from %s: check them, log in again)",
			         r->creds.source);
		else
			snprintf(hint, sizeof(hint), " (no credentials for %s: docker login %s, or "
			         "REGISTRY_AUTH_FILE)", r->ref.cred_key, r->ref.domain);
	}
	mb_error(err, 0, "registry %s: %s: HTTP %ld%s%s%s%.200s%s", r->ref.domain, what, p->status,
	         code ? " " : "", code ? code : "", msg ? ": " : "", msg ? msg : "", hint);
	json_decref(j);
}

CURL *reg_handle(struct reg *r)
{
	return curl_easy_init();
}

/* GET /v2/: which scheme, and which authentication, before any real
 * request (docker's "ping"); a Bearer registry gets its token here once,
 * not from three workers at the same time. */
static int ping(struct reg *r, CURL *h, struct mb_err *err)
{
	struct reg_resp p = { 0 };
	struct reg_req q = { .method = "GET", .url = "/v2/", .body_fd = -1, .out_fd = -1,
	                     .idempotent = true, .no_auth = true };
	bool loop = host_is_loopback(r->ref.host), insecure = host_is_insecure(r);
	struct mb_err e1 = {0};
	int ret = -1;

	r->verify_tls = !insecure;
	/* Plain http is tried first only where it is allowed (loopback, as
	 * docker does, or --insecure-registry): a TLS server answers it with
	 * 400 "Client sent an HTTP request to an HTTPS server" (Go) or closes,
	 * and then it is https, verified unless the host is --insecure.  Over
	 * plain http the ping carries no credentials. */
	if (loop || insecure) {
		struct reg_req probe = q;
		probe.idempotent = false; /* a TLS server that closes is no reason to wait */
		snprintf(r->base, sizeof(r->base), "http://%s", r->ref.host);
		if (reg_do(r, h, &probe, &p, &e1) == 0 &&
		    !(p.status == 400 && p.body && strstr(p.body, "HTTPS")))
			goto answered;
	}
	snprintf(r->base, sizeof(r->base), "https://%s", r->ref.host);
	if (reg_do(r, h, &q, &p, err) < 0) {
		if (strstr(err->msg, "certificate") && !(r->o && r->o->ca_file)) {
			size_t l = strlen(err->msg);
			snprintf(err->msg + l, MB_ERRLEN - l, " (a private CA: --registry-ca FILE)");
		}
		goto out;
	}
answered:
	/* a busy registry is waited for, within the retry time */
	if ((p.status == 429 || p.status >= 500) && reg_do(r, h, &q, &p, err) < 0)
		goto out;
	if (p.status == 401) {
		int a = answer_challenge(r, h, p.www_auth, r->auth_gen, err);
		if (a < 0)
			goto out;
		if (a == 0 && !strcmp(r->ch.scheme, "basic") && !r->creds.user) {
			reg_http_error(r, "GET /v2/", &p, err);
			goto out;
		}
		/* Basic credentials are checked here, once, rather than by the
		 * first blob request (a HEAD, whose 401 has no error body) */
		if (a > 0 && !strcmp(r->ch.scheme, "basic")) {
			if (reg_do(r, h, &q, &p, err) < 0)
				goto out;
			if (p.status == 401 || p.status == 403) {
				reg_http_error(r, "GET /v2/", &p, err);
				goto out;
			}
		}
	} else if (p.status != 200 && p.status != 404) {
		reg_http_error(r, p.status >= 429 ? "GET /v2/" : "GET /v2/ (is this a registry?)", &p, err);
		goto out;
	}
	ret = 0;
out:
	reg_resp_free(&p);
	return ret;
}

static void global_init(void)
{
	curl_global_init(CURL_GLOBAL_ALL);
}

int reg_open(struct reg *r, const char *ref, const struct image_remote_opts *o, bool push,
             const char *extra_scopes, struct mb_err *err)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, global_init);

	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->mu, NULL);
	r->o = o;
	if (reg_ref_parse(ref, &r->ref, err) < 0)
		return -1;
	r->deadline = reg_now() + (o && o->retry_time > 0 ? o->retry_time : 120);
	if (asprintf(&r->scope, "repository:%s:%s%s%s", r->ref.repo, push ? "pull,push" : "pull",
	             extra_scopes && *extra_scopes ? " " : "", extra_scopes ? extra_scopes : "") < 0) {
		r->scope = NULL;
		return mb_error(err, 0, "out of memory");
	}
	CURL *h = curl_easy_init();
	if (!h)
		return mb_error(err, 0, "cannot start libcurl");
	int rc = ping(r, h, err);
	curl_easy_cleanup(h);
	return rc;
}

void reg_close(struct reg *r)
{
	reg_ref_free(&r->ref);
	reg_creds_free(&r->creds);
	reg_challenge_free(&r->ch);
	if (r->authz)
		explicit_bzero(r->authz, strlen(r->authz));
	free(r->authz);
	free(r->scope);
	pthread_mutex_destroy(&r->mu);
}

/* ---- workers ------------------------------------------------------------ */

struct par {
	struct reg *r;
	size_t n, next;
	int (*fn)(struct reg *, CURL *, void *, size_t, struct mb_err *);
	void *ctx;
	int failed;
	struct mb_err err; /* the first failure, as its worker left it */
	pthread_mutex_t mu;
};

static void *worker(void *arg)
{
	struct par *pa = arg;
	CURL *h = curl_easy_init();
	struct mb_err err = {0};

	for (;;) {
		pthread_mutex_lock(&pa->mu);
		size_t i = pa->next++;
		bool stop = pa->failed || i >= pa->n || !h;
		if (!h && !pa->failed) {
			pa->failed = 1;
			mb_error(&pa->err, 0, "cannot start libcurl");
		}
		pthread_mutex_unlock(&pa->mu);
		if (stop)
			break;
		if (pa->fn(pa->r, h, pa->ctx, i, &err) < 0) {
			pthread_mutex_lock(&pa->mu);
			if (!pa->failed) {
				pa->failed = 1;
				pa->err = err;
			}
			pa->r->cancel = true;
			pthread_mutex_unlock(&pa->mu);
			break;
		}
	}
	if (h)
		curl_easy_cleanup(h);
	return NULL;
}

int reg_parallel(struct reg *r, size_t n, int threads,
                 int (*fn)(struct reg *, CURL *, void *, size_t, struct mb_err *), void *ctx, struct mb_err *err)
{
	struct par pa = { .r = r, .n = n, .fn = fn, .ctx = ctx };
	pthread_t t[8];
	int nt = threads < 1 ? 1 : threads > 8 ? 8 : threads, started = 0;

	if ((size_t)nt > n)
		nt = (int)(n ? n : 1);
	pthread_mutex_init(&pa.mu, NULL);
	for (int i = 0; i < nt; i++)
		if (pthread_create(&t[i], NULL, worker, &pa) == 0)
			started++;
	if (!started)
		worker(&pa);
	for (int i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	pthread_mutex_destroy(&pa.mu);
	if (pa.failed) {
		if (err)
			*err = pa.err;
		return -1;
	}
	return 0;
}
