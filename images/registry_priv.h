/* images registry: private declarations of the registry client (ref.c,
 * auth.c, registry.c, registry_src.c, registry_push.c, registry_pull.c).
 * The client speaks the OCI distribution API over libcurl; builder/ only
 * sees image_push and image_pull in images.h. */
#ifndef MINBASE_REGISTRY_PRIV_H
#define MINBASE_REGISTRY_PRIV_H

#include "images_priv.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>

#define REG_MANIFEST_MAX (4u << 20) /* manifests and indexes over 4 MiB are refused */
#define REG_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define REG_MT_DOCKER_LIST     "application/vnd.docker.distribution.manifest.list.v2+json"

/* ---- references (ref.c) ------------------------------------------------ */

/* A parsed image reference, normalised as docker does: `nginx` is
 * docker.io/library/nginx:latest, served by registry-1.docker.io, its
 * credentials kept under https://index.docker.io/v1/. */
struct reg_ref {
	char *domain;       /* "docker.io", "127.0.0.1:5000" */
	char *host;         /* what we connect to: "registry-1.docker.io", else domain */
	char *repo;         /* "library/nginx" */
	char *tag;          /* "latest" unless a digest alone was given (then NULL) */
	char *digest;       /* "sha256:..." or NULL */
	char *cred_key;     /* key of the credential stores: "https://index.docker.io/v1/" or domain */
};
int reg_ref_parse(const char *s, struct reg_ref *r, struct mb_err *err);
void reg_ref_free(struct reg_ref *r);
/* A digest we can check: sha256: and 64 lowercase hex digits. */
bool reg_digest_ok(const char *d);

/* ---- credentials and the auth challenge (auth.c) ----------------------- */

struct reg_creds {
	char *user, *secret;  /* Basic credentials, or NULL */
	char *identity_token; /* an OAuth2 refresh token (identitytoken / `<token>` user) */
	char source[160];     /* where they came from, for messages (never their value) */
};
/* Looks cred_key (and the spellings docker accepts for it) up in
 * REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json or ~/.docker/config.json
 * (auths, credHelpers, credsStore) and podman's auth.json.  No entry is not
 * an error (anonymous); a broken store or helper is. */
int reg_creds_lookup(const char *cred_key, struct reg_creds *c, struct mb_err *err);
void reg_creds_free(struct reg_creds *c);
/* A credential helper's answer (JSON on its stdout) into c. */
int reg_creds_helper_answer(const char *buf, size_t len, const char *prog, const char *url,
                            struct reg_creds *c, struct mb_err *err);

struct reg_challenge {
	char scheme[16];      /* "bearer", "basic" or "" */
	char *realm, *service, *scope, *error;
};
void reg_challenge_parse(const char *hdr, struct reg_challenge *ch);
void reg_challenge_free(struct reg_challenge *ch);
/* "user:secret" in base64 (RFC 7617), malloc'd. */
char *reg_basic(const char *user, const char *secret);

/* ---- the HTTP layer (registry.c) ---------------------------------------- */

struct reg {
	struct reg_ref ref;
	const struct image_remote_opts *o;
	char base[300];         /* "https://host" or "http://host" */
	bool verify_tls;        /* false only for --insecure-registry hosts */
	double deadline;        /* monotonic seconds: retries stop here */
	char *scope;            /* the scopes this operation needs, space-separated */
	pthread_mutex_t mu;     /* guards what follows (worker threads share it) */
	struct reg_creds creds;
	bool creds_loaded;
	struct reg_challenge ch;
	char *authz;            /* "Authorization: ..." header, or NULL */
	unsigned auth_gen;      /* bumped at every new authz */
	bool cancel;            /* a worker failed: the others stop */
};

struct reg_req {
	const char *method;     /* GET HEAD POST PUT PATCH */
	const char *url;        /* absolute, or a path under base */
	const char *content_type, *accept, *content_range;
	const void *body;       /* body from memory ... */
	size_t body_len;
	int body_fd;            /* ... or from a file (-1: none) */
	uint64_t body_off, body_size;
	int out_fd;             /* response body to a file (-1: to memory, capped) */
	uint64_t out_max;       /* refuse a bigger body */
	bool idempotent;        /* retried on connection errors, 429 and 5xx */
	bool no_auth;           /* a 401 is the answer, no challenge is taken up */
	void (*progress)(void *ctx, uint64_t now);
	void *progress_ctx;
};

struct reg_resp {
	long status;
	char *body;             /* NUL-terminated (memory sink) */
	size_t len;
	uint64_t written;       /* bytes sent to out_fd */
	char *location, *digest, *content_type, *www_auth;
	long long content_length;
	long long range_end;    /* upload status: last byte the registry has (-1: none yet), -2 no Range */
	double retry_after;     /* Retry-After in seconds, 0 if none */
	unsigned char sha[32];  /* sha256 of the body (file sink) */
	bool too_big;
};
void reg_resp_free(struct reg_resp *r);

/* Parses ref, pings the registry (scheme, authentication).  The token asked
 * for covers repository:REPO:pull (push: pull,push) and extra_scopes. */
int reg_open(struct reg *r, const char *ref, const struct image_remote_opts *o, bool push,
             const char *extra_scopes, struct mb_err *err);
void reg_close(struct reg *r);
CURL *reg_handle(struct reg *r);
/* One request, with authentication (a challenge answered once), and for
 * idempotent requests the retries.  A response with any status is 0; -1 is a
 * transport failure or a refused response (err filled). */
int reg_do(struct reg *r, CURL *h, const struct reg_req *q, struct reg_resp *resp, struct mb_err *err);
/* "registry HOST: WHAT: HTTP 404 NAME_UNKNOWN: repository name not known". */
void reg_http_error(struct reg *r, const char *what, const struct reg_resp *resp, struct mb_err *err);
/* Sleeps a backoff step; false when the deadline has passed. */
bool reg_backoff(struct reg *r, int attempt, double retry_after);
double reg_now(void);
/* Runs fn(ctx, i, h) for i in [0, n) on up to `threads` workers, each with
 * its own curl handle; stops at the first failure (its err is kept). */
int reg_parallel(struct reg *r, size_t n, int threads,
                 int (*fn)(struct reg *r, CURL *h, void *ctx, size_t i, struct mb_err *err),
                 void *ctx, struct mb_err *err);
/* Emits one progress event to the caller's callback, if any. */
void reg_event(struct reg *r, const struct image_remote_event *ev);

/* Makes the artifact manifest (digest, PUT already) findable from its
 * subject: nothing on a registry with the referrers API, else the
 * `sha256-<hex>` referrers tag's index gets it (registry_referrers.c). */
/* The digest of subject's first referrer of artifactType type, by the
 * referrers API or else the referrers tag: 1 found, 0 none, -1 error. */
int reg_referrers_find(struct reg *r, CURL *h, const char *subject, const char *type,
                       char out[ROOTFS_DIGEST_LEN], struct mb_err *err);
int reg_referrers_attach(struct reg *r, const char *digest, const char *artifact, size_t len,
                         struct mb_err *err);

/* ---- what an image on disk holds (registry_src.c) ---------------------- */

/* An image written before: our archive (any tar holding an OCI layout) or
 * an OCI layout directory.  Blobs are read in place: a tar member by its
 * offset in the archive, a layout blob from its file. */
struct reg_src {
	const char *path;
	int fd;                  /* the archive, or -1 */
	int dfd;                 /* the layout directory, or -1 */
	struct reg_member { char *name; uint64_t off, size; } *m;
	size_t n;
};
int reg_src_open(const char *path, struct reg_src *s, struct mb_err *err);
void reg_src_close(struct reg_src *s);
/* A blob: an fd to read it from (owned by the caller), its offset and size. */
int reg_src_blob(struct reg_src *s, const char *digest, int *fd, uint64_t *off,
                 uint64_t *size, struct mb_err *err);
/* A small file (index.json) or blob (manifest, config), NUL-terminated;
 * blobs are checked against their digest. */
int reg_src_read(struct reg_src *s, const char *name, size_t max, char **data, size_t *len,
                 struct mb_err *err);
int reg_src_read_blob(struct reg_src *s, const char *digest, size_t max, char **data,
                      size_t *len, struct mb_err *err);

/* ---- what a registry answers (registry_parse.c): pure, fuzzed -------- */

struct reg_blob {
	char digest[ROOTFS_DIGEST_LEN];
	uint64_t size;
};
/* The config and the distinct layers of an image manifest (malloc'd into
 * *b, *nb of them, config first); a manifest that is not one, a bad digest
 * or a foreign layer is refused.  domain and mdig are for messages. */
int reg_manifest_blobs(const char *man, size_t len, const char *domain, const char *mdig,
                       const char *mt, struct reg_blob **b, size_t *nb, struct mb_err *err);
/* The digest of the platform's manifest in an index (platform "OS/ARCH[/VAR]"
 * or NULL: the host's). */
int reg_pick_platform(json_t *idx, const char *platform, char out[ROOTFS_DIGEST_LEN], struct mb_err *err);
/* The token of a token service's JSON answer (token, else access_token),
 * malloc'd, or NULL when it has none usable in a header. */
char *reg_token_parse(const char *body, size_t len);

/* ---- an image assembled beside its output (registry_out.c) ------------- */

struct reg_out {
	char out[4096], dir[4096], base[256];
	char tmp[4400], tmptar[4400];
	int pdfd;               /* the output's directory */
	int dfd;                /* the temporary layout: blobs go to blobs/sha256/HEX */
	char sbom[ROOTFS_DIGEST_LEN]; /* the image's SBOM artifact (in blobs/), or "" */
};
int reg_out_begin(const char *out, struct reg_out *w, struct mb_err *err);
/* Writes the manifest, index.json (named name, else dflt_name), oci-layout
 * and for an archive manifest.json and the tar; renames into place. */
int reg_out_finish(struct reg_out *w, enum image_format fmt, const char *mdig, const char *mt,
                   const char *man, size_t mlen, const char *name, const char *dflt_name,
                   struct mb_err *err);
void reg_out_abort(struct reg_out *w);
int reg_put_file(int dfd, const char *name, const void *data, size_t len);

/* ---- where we pushed blobs before (registry_push.c) -------------------- */

/* Another repository of the same registry that holds digest, from our own
 * record of pushes (cache_dir/registry-blobs), or NULL. */
char *reg_mount_source(const char *cache_dir, const char *domain, const char *repo,
                       const char *digest);
/* Adds "domain repo digest" records (best effort). */
void reg_mount_record(const char *cache_dir, const char *domain, const char *repo,
                      char (*digests)[ROOTFS_DIGEST_LEN], size_t n);

#endif
