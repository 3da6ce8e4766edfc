/* minbase-init: a tini-compatible PID 1 that drops privileges, loads a
 * precompiled seccomp filter and runs health probes.  One header for the
 * folder; every module below returns negative and fills err[INIT_ERRLEN] on
 * failure and never prints, except main.c and the log helper. */
#ifndef MINBASE_INIT_H
#define MINBASE_INIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/filter.h>

#define INIT_ERRLEN 512
#define INIT_MAX_GROUPS 64
#define INIT_MAX_EXPECT 256
#define INIT_DEFAULT_HEALTH_FILE "/tmp/.minbase-health"

/* ---- configuration (main.c fills it from options, then env) -------------- */
enum health_kind { HEALTH_NONE = 0, HEALTH_HTTP, HEALTH_TCP, HEALTH_EXEC, HEALTH_GRPC };

struct health_cfg {
	enum health_kind kind;
	const char *target;        /* URL, host:port, or the exec command line */
	const char *grpc_service;  /* --health-grpc-service; NULL or "" = the server's */
	int64_t interval_ms;       /* Docker defaults: 30 s, 30 s, 0, 3 */
	int64_t timeout_ms;
	int64_t start_period_ms;
	int retries;
	int exit_on_unhealthy;     /* --on-unhealthy exit */
	const char *state_file;
};

/* The credentials and capabilities to give the service. */
struct privs_cfg {
	int change_user;                  /* --user given */
	uid_t uid;
	gid_t gid;
	size_t ngroups;
	gid_t groups[INIT_MAX_GROUPS];
	int drop_caps;                    /* caps step runs (keep = `keep`) */
	uint64_t keep;                    /* bit n = capability n kept */
	int no_new_privs;
	const struct sock_filter *filter; /* seccomp program, NULL = none */
	unsigned short filter_len;
};

struct init_cfg {
	int subreaper;             /* -s, TINI_SUBREAPER */
	int pdeath_signal;         /* -p */
	int verbosity;             /* -v, TINI_VERBOSITY; 1 = warnings */
	int warn_on_reap;          /* -w */
	int kill_group;            /* -g, TINI_KILL_PROCESS_GROUP */
	unsigned char expect[INIT_MAX_EXPECT]; /* -e CODE: expect[CODE] = 1 */
	int64_t grace_ms;          /* --grace, MINBASE_GRACE; -1 = none */
	struct privs_cfg privs;
	struct health_cfg health;
	char **argv;               /* the service's argv */
};

/* ---- log (main.c) -------------------------------------------------------- */
enum { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };
extern int init_verbosity;
void init_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- parsing helpers (parse.c) ------------------------------------------- */
/* "30s", "500ms", "1m30s", "2h", or plain (possibly fractional) seconds. */
int parse_duration_ms(const char *s, int64_t *ms, char *err);
/* "SIGTERM", "TERM", "term", "15", "SIGRTMIN+3". */
int parse_signal(const char *s, int *sig, char *err);
int parse_uint(const char *s, unsigned long max, unsigned long *out);
int64_t init_now_ms(void); /* CLOCK_MONOTONIC */

/* ---- the values' grammar (grammar.c, also linked into mkimage) ----------- */
/* Capability names ("net_bind_service,CAP_CHOWN"; "" = none) to a bit set. */
int grammar_caps(const char *list, uint64_t *keep, char *err);
/* Check V for the init's option OPT ("--health-interval"): 0, with *num (if
 * not NULL) the duration in ms or the count the option takes; -1 and err. */
int grammar_option(const char *opt, const char *v, int64_t *num, char *err);
/* Check V for the variable NAME the way the init reads it: 0 valid, -1
 * invalid (err set), 1 when NAME is no variable the init reads. */
int grammar_env(const char *name, const char *v, char *err);
/* The option a variable stands for ("--caps" for MINBASE_CAPS), or NULL. */
const char *grammar_env_option(const char *name);

/* ---- privileges (privs.c) ------------------------------------------------ */
/* Resolve "UID[:GID]" or "name[:group]" against ROOT/etc/passwd and
 * ROOT/etc/group (no NSS); sets uid, gid and the supplementary groups. */
int privs_resolve_user(struct privs_cfg *p, const char *root, const char *spec, char *err);
/* Parse "net_bind_service,CAP_CHOWN" into p->keep (empty string = none). */
int privs_parse_caps(struct privs_cfg *p, const char *list, char *err);
/* Apply everything in the fixed order: bounding set, keep-caps, groups, gid,
 * uid, capset, ambient, no-new-privs, seccomp.  Called in the service child
 * right before execve, and (without seccomp, keeping nothing) by the init on
 * itself once the service runs. */
int privs_apply(const struct privs_cfg *p, char *err);

/* ---- seccomp file v1 (seccomp.c) -----------------------------------------
 * filter_*, not seccomp_*: that prefix is libseccomp's, which the init does
 * not link (mkimage does). */
#include "seccomp_file.h"   /* the format, shared with policies/ */
/* Validate a whole file image; on success *insns points into buf. */
int filter_parse(const unsigned char *buf, size_t len, uint32_t want_arch,
                  const struct sock_filter **insns, unsigned short *n, char *err);
/* Read and validate PATH; *buf is malloc'd and owns *insns. */
int filter_read_file(const char *path, unsigned char **buf,
                      const struct sock_filter **insns, unsigned short *n, char *err);
uint32_t filter_crc32(const unsigned char *buf, size_t len);
uint32_t filter_native_arch(void);
/* sys_seccomp_load, with a message that says why it failed (the kernel
 * refused the program; seccomp missing, as under qemu-user). */
int filter_load(const struct sock_filter *f, unsigned short n, char *err);
/* Before anything starts: -1 and the same message when this platform has no
 * seccomp filter mode (under qemu-user the service child, a vfork there
 * emulated by a fork, could not hand its message back). */
int filter_check_available(char *err);
/* Policies by name: DIR/NAME.bpf (DIR is INIT_POLICY_DIR in images); NAME
 * is [a-z0-9_-]{1,64}, never a path.  A missing file's message lists the
 * policies DIR has. */
#define INIT_POLICY_DIR "/etc/minbase/policies"
int filter_policy_name_ok(const char *name);   /* grammar.c */
int filter_read_policy(const char *dir, const char *name, unsigned char **buf,
                       const struct sock_filter **insns, unsigned short *n, char *err);

/* ---- health (health.c) --------------------------------------------------- */
enum health_status { HS_STARTING = 0, HS_HEALTHY, HS_UNHEALTHY };
struct health_state {
	enum health_status status;
	int streak;                /* consecutive counted failures */
	int64_t started_ms;        /* monotonic time the service started */
	int had_success;
};
/* Docker's rule: failures before the first success inside the start period
 * do not count.  Returns 1 when the status changed. */
int health_update(struct health_state *st, const struct health_cfg *c,
                  int ok, int64_t probe_start_ms);
const char *health_status_name(enum health_status s);
/* valid_s: how long the state holds if no new one is written (the init
 * writes one after every probe); `health` calls an older one stale. */
/* How long a state written now holds: 2 x (interval + timeout) + 5 s. */
int64_t health_valid_s(const struct health_cfg *c);
/* Through an unpredictable O_EXCL temporary name and rename(); on failure
 * the old state is removed too (it would read as current). */
int health_write_state(const char *path, const struct health_state *st,
                       const char *detail, int64_t valid_s, char *err);
/* `minbase-init health`: print one line, return 0 healthy, 1 otherwise; a
 * state claiming to hold longer than MAX_VALID_S is not the init's. */
int health_cmd(const char *path, int64_t max_valid_s);
/* Fork a probe child (own process group, output on *out_fd).  The child
 * exits 0 on success.  Returns the pid or -1. */
pid_t health_spawn_probe(const struct health_cfg *c, const struct privs_cfg *p,
                         const uint64_t *sigmask, int *out_fd, char *err);
/* Status of an HTTP response's first line, or -1 if it is not one. */
int health_parse_http_status(const char *buf, size_t len);
/* Split "host:port" / "[v6]:port" / URL into a sockaddr; returns 0 or -1
 * (grammar.c). */
int health_parse_url(const char *url, char *host, size_t hostlen, int *port,
                     const char **path, char *err);
int health_parse_hostport(const char *s, char *host, size_t hostlen, int *port, char *err);
/* A probe's output: its first HEALTH_OUTPUT_MAX bytes, as Docker keeps
 * (maxOutputLen); the rest is read and dropped (cut = 1). */
#define HEALTH_OUTPUT_MAX 4096
struct probe_out {
	char buf[HEALTH_OUTPUT_MAX + 1];
	size_t len;
	int cut;
};
/* Read what the probe wrote so far from FD without blocking. */
void health_drain(int fd, struct probe_out *o);
/* After the probe child exited with STATUS: fill DETAIL from the first line
 * of its output; returns 0 when the probe succeeded. */
int health_collect(const struct health_cfg *c, int fd, struct probe_out *o, int status,
                   char *detail, size_t dlen);
/* `minbase-init probe`: run the probe once, wait up to its timeout; an exec
 * probe loads P's filter (the caller has applied the rest of P). */
int health_probe_once(const struct health_cfg *c, const struct privs_cfg *p, char *detail,
                      size_t dlen);

/* Connect to a numeric host (or localhost); fills DETAIL and returns -1. */
int health_connect(const char *host, int port, char *detail, size_t dl);

/* ---- HPACK, RFC 7541 (hpack.c) ------------------------------------------- */
#define HPACK_TABLE_MAX 4096  /* SETTINGS_HEADER_TABLE_SIZE: we keep the default */
#define HPACK_STR_MAX 4096    /* longest decoded name or value */
struct hpack_entry { uint16_t off, nl, vl; };
struct hpack {                /* the decoder's dynamic table, oldest entry first */
	size_t size, max;
	int n;
	struct hpack_entry ent[HPACK_TABLE_MAX / 32];
	char buf[HPACK_TABLE_MAX];
	char nbuf[HPACK_STR_MAX], vbuf[HPACK_STR_MAX]; /* Huffman-decoded strings */
};
typedef void (*hpack_emit)(void *ctx, const char *name, size_t nl, const char *value, size_t vl);
void hpack_init(struct hpack *h);
/* Decode one header block, calling EMIT for each field in order. */
int hpack_decode(struct hpack *h, const uint8_t *p, size_t len, hpack_emit emit, void *ctx,
                 char *err);
int hpack_huffman_decode(const uint8_t *in, size_t len, char *out, size_t max, size_t *outlen);
/* A literal without indexing, its name by static index IDX (or NAME when
 * IDX is 0); returns the bytes written, 0 when ROOM is too small. */
size_t hpack_put(uint8_t *b, size_t room, unsigned idx, const char *name, const char *value);

/* ---- HTTP/2 client, one stream (h2.c) ------------------------------------ */
#define H2_FRAME_MAX 16384    /* SETTINGS_MAX_FRAME_SIZE: we keep the default */
#define H2_BODY_MAX 4096      /* response DATA kept (the rest is counted) */
struct h2_conn {
	int state;                /* 0 reading, 1 stream 1 ended, -1 failed: err */
	int settings, http1, in_block, block_end, nblocks;
	size_t flen, blen, bodylen, outlen;
	uint64_t body_total, received;
	int64_t window, swindow;  /* our receive windows, connection and stream */
	uint32_t credit;          /* DATA bytes to give back */
	hpack_emit emit;
	void *ctx;
	/* From here on h2_init leaves the bytes as they are; the buffers most
	 * used come first, to touch as few pages as possible. */
	uint8_t out[512];         /* frames to send: ACKs, WINDOW_UPDATEs */
	char err[INIT_ERRLEN];
	uint8_t body[H2_BODY_MAX];
	uint8_t frame[9 + H2_FRAME_MAX];
	uint8_t block[H2_FRAME_MAX];
	struct hpack hp;
};
void h2_init(struct h2_conn *c, hpack_emit emit, void *ctx);
/* Preface, SETTINGS, HEADERS (HDRS, a header block) and DATA ending
 * stream 1; returns the bytes written, 0 when ROOM is too small. */
size_t h2_start(uint8_t *b, size_t room, const uint8_t *hdrs, size_t hl, const uint8_t *data,
                size_t dl);
/* The server's next bytes: 1 once stream 1 ended, 0 for more, -1 with
 * c->err.  Send and clear c->out after each call. */
int h2_feed(struct h2_conn *c, const uint8_t *p, size_t n);
int h2_eof(struct h2_conn *c);          /* the server closed: -1 and why */
const char *h2_waiting(const struct h2_conn *c); /* "the response headers" */

/* ---- the gRPC health check (grpc_probe.c) -------------------------------- */
#define GRPC_SERVICE_MAX 200
struct grpc_call {
	int http_status, grpc_status; /* -1 until seen */
	char ctype[64], message[128];
	struct h2_conn h2;
};
void grpc_call_init(struct grpc_call *g);
/* The whole request for grpc.health.v1.Health/Check; 0 if it does not fit. */
size_t grpc_request(uint8_t *buf, size_t room, const char *authority, const char *service);
/* Once h2_feed returned 1: 0 for SERVING, 1 otherwise, DETAIL says which. */
int grpc_result(const struct grpc_call *g, char *detail, size_t dl);
/* The probe itself (in the probe child): 0 healthy, 1 not, DETAIL why. */
int grpc_probe(const struct health_cfg *c, char *detail, size_t dl);

/* ---- supervision (supervise.c) ------------------------------------------- */
int supervise_run(struct init_cfg *cfg);

/* ---- the thin system-call layer (sys.c; unit tests link a fake) ---------- */
int sys_drop_bound(int cap);             /* prctl(PR_CAPBSET_DROP) */
int sys_bound_has(int cap);              /* 1, 0, or -1 */
int sys_eff_has(int cap);                /* CAP in the effective set? */
int sys_keepcaps(int on);                /* prctl(PR_SET_KEEPCAPS) */
int sys_setgroups(size_t n, const gid_t *g);
int sys_groups_equal(size_t n, const gid_t *g, gid_t primary); /* same set? */
int sys_setresgid(gid_t g);
int sys_setresuid(uid_t u);
uid_t sys_geteuid(void);
gid_t sys_getegid(void);
int sys_capset(uint64_t eff, uint64_t prm, uint64_t inh);
int sys_ambient_clear(void);
int sys_ambient_raise(int cap);
int sys_no_new_privs(void);
int sys_seccomp_load(const struct sock_filter *f, unsigned short n);
int sys_seccomp_available(void);         /* 1 when filters can be loaded */
int sys_last_cap(void);
/* Raw 64-bit signal masks: musl's sigset helpers refuse its reserved
 * signals 32-34, and the init must block (and forward) those too. */
int sys_sigmask(int how, const uint64_t *set, uint64_t *old);

#endif
