/* Health probes with no curl and no shell: HTTP/1.0 GET, TCP connect, or a
 * program, each run in a forked child of its own process group so that a
 * hung probe never blocks signal handling or reaping and is killed whole at
 * its timeout.  The state is published in a small file written atomically,
 * which `minbase-init health` reads. */
#include "init.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *health_status_name(enum health_status s)
{
	return s == HS_HEALTHY ? "healthy" : s == HS_UNHEALTHY ? "unhealthy" : "starting";
}

int health_update(struct health_state *st, const struct health_cfg *c, int ok,
                  int64_t probe_start_ms)
{
	enum health_status old = st->status;
	if (ok) {
		st->streak = 0;
		st->status = HS_HEALTHY;
		st->had_success = 1;
	} else if (st->status != HS_STARTING ||
	           probe_start_ms - st->started_ms >= c->start_period_ms) {
		/* Docker: while still "starting" (no success yet), failures
		 * inside the start period do not count. */
		if (st->streak < INT_MAX) /* a service failing for ever */
			st->streak++;
		if (st->streak >= c->retries)
			st->status = HS_UNHEALTHY;
	}
	return st->status != old;
}

int64_t health_valid_s(const struct health_cfg *c)
{
	/* The next state is due one interval plus one timeout after this one;
	 * allow as much again, and 5 s, before `health` calls it stale. */
	return 2 * (c->interval_ms + c->timeout_ms) / 1000 + 5;
}

/* PATH.tmp-<16 hex digits from getrandom>: the directory (/tmp) is the
 * service's too, and a name it could guess it could also take first (a
 * directory there made every write fail, leaving a state it wrote itself). */
static int open_temp(const char *path, char *tmp, size_t tmplen)
{
	for (int tries = 0; tries < 4; tries++) {
		uint64_t r;
		if (syscall(SYS_getrandom, &r, sizeof r, 0) != (long)sizeof r)
			return -1;
		snprintf(tmp, tmplen, "%s.tmp-%016llx", path, (unsigned long long)r);
		int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
		if (fd >= 0 || errno != EEXIST)
			return fd;
	}
	return -1;
}

int health_write_state(const char *path, const struct health_state *st, const char *detail,
                       int64_t valid_s, char *err)
{
	char tmp[4200], line[600];
	long long now = (long long)time(NULL);
	int n = snprintf(line, sizeof line, "%s %d %lld %lld ", health_status_name(st->status),
	                 st->streak, now, now + (long long)valid_s);
	for (const char *d = detail; *d && n < (int)sizeof line - 2; d++)
		line[n++] = (*d == '\n' || *d == '\r') ? ' ' : *d;
	line[n++] = '\n';
	int fd = open_temp(path, tmp, sizeof tmp);
	ssize_t w = -1;
	if (fd >= 0) {
		do
			w = write(fd, line, (size_t)n);
		while (w < 0 && errno == EINTR);
	}
	if (fd < 0 || w != n || close(fd) < 0 || rename(tmp, path) < 0) {
		const char *why = w >= 0 && w != n ? "short write" : strerror(errno);
		if (fd >= 0)
			unlink(tmp);
		/* A state that cannot be refreshed must not go on reading as
		 * the last one written: remove it, so that `health` answers
		 * "unknown" (a directory put there already reads so). */
		unlink(path);
		snprintf(err, INIT_ERRLEN, "cannot write health state `%.300s`: %s (`minbase-init "
		         "health` reports unknown until a write succeeds)", path, why);
		return -1;
	}
	return 0;
}

/* A decimal time of at most 18 digits, nothing else. */
static int parse_time(const char *s, long long *t)
{
	size_t n = strspn(s, "0123456789");
	if (!n || n > 18 || s[n])
		return -1;
	*t = strtoll(s, NULL, 10);
	return 0;
}

int health_cmd(const char *path, int64_t max_valid_s)
{
	char line[700] = "", status[32] = "";
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		printf("unknown: no health state at %s (%s): no probe configured, the init is not "
		       "running yet, or it cannot write the state (see its log)\n", path,
		       strerror(errno));
		return 1;
	}
	ssize_t r = read(fd, line, sizeof line - 1);
	close(fd);
	line[r > 0 ? r : 0] = 0;
	line[strcspn(line, "\n")] = 0;
	/* "STATUS STREAK TIME VALID_UNTIL DETAIL" */
	char *f[4], *p = line;
	for (int i = 0; i < 4; i++) {
		f[i] = p;
		p += strcspn(p, " ");
		if (!*p || p == f[i] || (i && !isdigit((unsigned char)*f[i]))) {
			printf("unknown: unreadable health state in %s\n", path);
			return 1;
		}
		*p++ = 0;
	}
	/* A state the init did not write must not read as healthy: the init
	 * never makes one valid for longer than the probe timing allows (the
	 * same health_valid_s, from the same configuration), nor dates it
	 * ahead of the clock; a service that forges one can at most repeat
	 * the init's own answer for that long. */
	long long written, until, now = (long long)time(NULL);
	if (parse_time(f[2], &written) < 0 || parse_time(f[3], &until) < 0) {
		printf("unknown: unreadable health state in %s\n", path);
		return 1;
	}
	if (until - written > (long long)max_valid_s || written > now + 5) {
		printf("unknown: health state in %s not written by the init (written at %s, valid "
		       "until %s: more than the probe timing allows, %llds; give `health` the init's "
		       "--health-interval and --health-timeout)\n", path, f[2], f[3],
		       (long long)max_valid_s);
		return 1;
	}
	/* A state nobody refreshes (the init stopped probing, or could not
	 * replace the file) must not keep answering "healthy". */
	if (now > until) {
		printf("unknown: stale health state in %s (last written at %s, valid until %s): "
		       "the init is not probing\n", path, f[2], f[3]);
		return 1;
	}
	snprintf(status, sizeof status, "%s", f[0]);
	printf("%s: %s%s\n", status, p, strcmp(f[1], "0") ? " (failing)" : "");
	return strcmp(status, "healthy") ? 1 : 0;
}

int health_parse_http_status(const char *buf, size_t len)
{
	/* "HTTP/1.x NNN" then a space, CR or end of line. */
	if (len < 12 || memcmp(buf, "HTTP/1.", 7) || !isdigit((unsigned char)buf[7]) ||
	    buf[8] != ' ')
		return -1;
	int s = 0;
	for (int i = 9; i < 12; i++) {
		if (!isdigit((unsigned char)buf[i]))
			return -1;
		s = s * 10 + (buf[i] - '0');
	}
	if (len > 12 && buf[12] != ' ' && buf[12] != '\r' && buf[12] != '\n')
		return -1;
	return s >= 100 ? s : -1;
}

/* ---- the probes, run in the probe child ----------------------------------- */
int health_connect(const char *host, int port, char *detail, size_t dl)
{
	union { struct sockaddr sa; struct sockaddr_in in; struct sockaddr_in6 in6; } a;
	socklen_t al;
	memset(&a, 0, sizeof a);
	/* No resolver in the init: numeric addresses, and localhost. */
	const char *h = strcmp(host, "localhost") ? host : "127.0.0.1";
	if (inet_pton(AF_INET, h, &a.in.sin_addr) == 1) {
		a.in.sin_family = AF_INET;
		a.in.sin_port = htons((uint16_t)port);
		al = sizeof a.in;
	} else if (inet_pton(AF_INET6, h, &a.in6.sin6_addr) == 1) {
		a.in6.sin6_family = AF_INET6;
		a.in6.sin6_port = htons((uint16_t)port);
		al = sizeof a.in6;
	} else {
		snprintf(detail, dl, "cannot resolve `%s`: use a numeric address or localhost", host);
		return -1;
	}
	int fd = socket(a.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, &a.sa, al) < 0) {
		snprintf(detail, dl, "cannot connect to %s:%d: %s", host, port, strerror(errno));
		return -1;
	}
	return fd;
}

static int probe_tcp(const char *target, char *detail, size_t dl)
{
	char host[256], err[INIT_ERRLEN];
	int port;
	if (health_parse_hostport(target, host, sizeof host, &port, err) < 0) {
		snprintf(detail, dl, "%.390s", err);
		return 1;
	}
	int fd = health_connect(host, port, detail, dl);
	if (fd < 0)
		return 1;
	close(fd);
	snprintf(detail, dl, "tcp connect to %s:%d ok", host, port);
	return 0;
}

static int probe_http(const char *url, char *detail, size_t dl)
{
	char host[256], err[INIT_ERRLEN], req[1200], resp[512];
	const char *path;
	int port;
	if (health_parse_url(url, host, sizeof host, &port, &path, err) < 0) {
		snprintf(detail, dl, "%.390s", err);
		return 1;
	}
	int fd = health_connect(host, port, detail, dl);
	if (fd < 0)
		return 1;
	/* An IPv6 literal is bracketed in Host (RFC 7230 5.4, RFC 3986 3.2.2):
	 * servers that check the header (nginx) answer 400 to `::1:8080`. */
	int v6 = strchr(host, ':') != NULL;
	int n = snprintf(req, sizeof req,
	                 "GET %.1000s HTTP/1.0\r\nHost: %s%s%s:%d\r\nUser-Agent: minbase-init/"
	                 MINBASE_VERSION "\r\nConnection: close\r\n\r\n", path, v6 ? "[" : "",
	                 host, v6 ? "]" : "", port);
	for (int off = 0; off < n;) {
		ssize_t w = write(fd, req + off, (size_t)(n - off));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			snprintf(detail, dl, "GET %s: cannot send: %s", url, strerror(errno));
			close(fd);
			return 1;
		}
		off += (int)w;
	}
	size_t len = 0;
	while (len < sizeof resp - 1 && !memchr(resp, '\n', len)) {
		ssize_t r = read(fd, resp + len, sizeof resp - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	int status = health_parse_http_status(resp, len);
	if (status < 0) {
		snprintf(detail, dl, "GET %s: not an HTTP response", url);
		return 1;
	}
	snprintf(detail, dl, "GET %s: HTTP %d", url, status);
	return status >= 200 && status <= 399 ? 0 : 1;
}

pid_t health_spawn_probe(const struct health_cfg *c, const struct privs_cfg *p,
                         const uint64_t *sigmask, int *out_fd, char *err)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0) {
		snprintf(err, INIT_ERRLEN, "cannot create the probe pipe: %s", strerror(errno));
		return -1;
	}
	/* Never block on the pipe: a process the probe left behind may hold
	 * the write end after the probe exited.  O_ASYNC makes each write
	 * raise SIGIO at the init (blocked, so it only wakes the sigtimedwait),
	 * which then drains the pipe: a probe that prints more than the pipe
	 * holds (64 KiB) must not block until its timeout.  Set before the
	 * fork: a probe that filled the pipe first would never write again,
	 * so never raise the signal. */
	pid_t parent = getpid();
	if (fcntl(fds[0], F_SETOWN, parent) < 0 || fcntl(fds[0], F_SETFL, O_NONBLOCK | O_ASYNC) < 0) {
		snprintf(err, INIT_ERRLEN, "cannot set up the probe pipe: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(err, INIT_ERRLEN, "cannot fork the probe: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid > 0) {
		close(fds[1]);
		*out_fd = fds[0];
		return pid;
	}
	/* The probe child: its own group, so that a timeout kills it whole. */
	char detail[400] = "";
	int rc = 1;
	setpgid(0, 0);
	/* The timeout is enforced by the parent: should it die first (`probe`
	 * killed by the runtime), so does the probe, instead of hanging on a
	 * server that never answers.  (Kept across the exec of an exec probe
	 * unless that program is setuid or has file capabilities.) */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent)
		_exit(1);
	close(fds[0]);
	if (c->kind == HEALTH_EXEC) {
		char *cmd = strdup(c->target), *argv[64];
		int n = 0;
		for (char *s, *t = strtok_r(cmd, " \t", &s); t && n < 63; t = strtok_r(NULL, " \t", &s))
			argv[n++] = t;
		argv[n] = NULL;
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		if (sigmask)
			sys_sigmask(SIG_SETMASK, sigmask, NULL);
		/* The probe runs with what the service runs with: the init has
		 * already dropped to the service's user; add its filter. */
		if (p && p->filter && sys_no_new_privs() < 0) {
			dprintf(1, "cannot set no-new-privileges for the probe: %s", strerror(errno));
			_exit(1);
		}
		if (p && p->filter && filter_load(p->filter, p->filter_len, err) < 0) {
			dprintf(1, "probe: %s", err);
			_exit(1);
		}
		if (n)
			execvp(argv[0], argv);
		dprintf(1, "cannot run `%s`: %s", n ? argv[0] : "", n ? strerror(errno) : "empty");
		_exit(errno == ENOENT ? 127 : 126);
	}
	rc = c->kind == HEALTH_HTTP ? probe_http(c->target, detail, sizeof detail)
	   : c->kind == HEALTH_GRPC ? grpc_probe(c, detail, sizeof detail)
	                            : probe_tcp(c->target, detail, sizeof detail);
	ssize_t w = write(fds[1], detail, strlen(detail));
	(void)w;
	_exit(rc);
}

void health_drain(int fd, struct probe_out *o)
{
	char skip[4096];
	for (;;) {
		size_t room = HEALTH_OUTPUT_MAX - o->len;
		ssize_t r = room ? read(fd, o->buf + o->len, room) : read(fd, skip, sizeof skip);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) /* EAGAIN: all read for now; 0: every writer is gone */
			break;
		if (room)
			o->len += (size_t)r;
		else
			o->cut = 1;
	}
	o->buf[o->len] = 0;
}

int health_collect(const struct health_cfg *c, int fd, struct probe_out *o, int status,
                   char *detail, size_t dlen)
{
	char out[300];
	health_drain(fd, o); /* what the child wrote last; it is gone: no blocking */
	/* The first line of the output Docker keeps (its first 4096 bytes),
	 * with Docker's "..." when there was more than that. */
	size_t l = strcspn(o->buf, "\n");
	snprintf(out, sizeof out, "%.*s%s", (int)(l < 290 ? l : 290), o->buf, o->cut ? "..." : "");
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	if (c->kind == HEALTH_EXEC)
		snprintf(detail, dlen, "`%s` exited %d%s%s", c->target, code, *out ? ": " : "", out);
	else
		snprintf(detail, dlen, "%s", *out ? out : "probe failed");
	return code ? 1 : 0;
}

int health_probe_once(const struct health_cfg *c, const struct privs_cfg *p, char *detail,
                      size_t dlen)
{
	char err[INIT_ERRLEN];
	int fd, status = 0;
	static struct probe_out o;
	/* SIGIO too: the pipe raises it (O_ASYNC), and unblocked it would
	 * kill this process. */
	uint64_t chld = 1ull << (SIGCHLD - 1) | 1ull << (SIGIO - 1), old;
	sys_sigmask(SIG_BLOCK, &chld, &old);
	pid_t pid = health_spawn_probe(c, p, &old, &fd, err);
	if (pid < 0) {
		snprintf(detail, dlen, "%s", err);
		return 1;
	}
	int64_t deadline = init_now_ms() + c->timeout_ms;
	for (;;) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		int64_t left = deadline - init_now_ms();
		if (left <= 0) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			snprintf(detail, dlen, "probe timed out after %lldms", (long long)c->timeout_ms);
			close(fd);
			return 1;
		}
		struct timespec ts = { left / 1000, (left % 1000) * 1000000 };
		syscall(SYS_rt_sigtimedwait, &chld, NULL, &ts, sizeof chld);
		health_drain(fd, &o);
	}
	int rc = health_collect(c, fd, &o, status, detail, dlen);
	close(fd);
	return rc;
}
