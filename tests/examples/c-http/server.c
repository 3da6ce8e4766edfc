/* c-http: a small HTTP/1.0 service in C, built static with musl, the C
 * counterpart of the Go example.
 *
 *   GET /health -> {"status":"healthy","timestamp":"RFC3339","uptime_seconds":N}
 *   GET /       -> service information
 *
 * Port from PORT (default 8080).  One request per connection, served
 * sequentially with poll().  SIGTERM/SIGINT set a flag (no SA_RESTART, so
 * poll returns EINTR) and it stops cleanly: the current response finishes,
 * the listening socket is closed, and it exits 0. */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop_sig;

static void on_signal(int sig)
{
	stop_sig = sig;
}

static void now_rfc3339(char *buf, size_t len)
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void respond(int fd, int code, const char *reason, const char *body)
{
	char head[256];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.0 %d %s\r\nContent-Type: application/json\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
			 code, reason, strlen(body));
	if (write_all(fd, head, (size_t)n) == 0)
		write_all(fd, body, strlen(body));
}

static void serve(int fd, time_t started)
{
	char req[2048];
	size_t got = 0;
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	/* Read until the end of the request head (or the buffer is full). */
	while (got < sizeof(req) - 1) {
		ssize_t r = read(fd, req + got, sizeof(req) - 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
			break;
	}
	req[got] = '\0';

	char method[16], path[512];
	if (sscanf(req, "%15s %511s", method, path) != 2) {
		respond(fd, 400, "Bad Request", "{\"error\":\"bad request\"}\n");
		return;
	}
	char ts[32], body[1024];
	now_rfc3339(ts, sizeof(ts));
	long up = (long)(time(NULL) - started);
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		respond(fd, 405, "Method Not Allowed", "{\"error\":\"method not allowed\"}\n");
	} else if (strcmp(path, "/health") == 0) {
		snprintf(body, sizeof(body),
			 "{\"status\":\"healthy\",\"timestamp\":\"%s\",\"uptime_seconds\":%ld}\n",
			 ts, up);
		respond(fd, 200, "OK", body);
	} else if (strcmp(path, "/") == 0) {
		struct utsname u;
		char host[65] = "unknown", mach[65] = "unknown";
		if (uname(&u) == 0) {
			snprintf(host, sizeof(host), "%s", u.nodename);
			snprintf(mach, sizeof(mach), "%s", u.machine);
		}
		snprintf(body, sizeof(body),
			 "{\"service\":{\"name\":\"devops-info-service\",\"version\":\"1.0.0\","
			 "\"framework\":\"c-http\"},\"system\":{\"hostname\":\"%s\","
			 "\"architecture\":\"%s\"},\"runtime\":{\"uptime_seconds\":%ld,"
			 "\"current_time\":\"%s\",\"uid\":%u,\"gid\":%u},"
			 "\"endpoints\":[{\"path\":\"/\",\"method\":\"GET\"},"
			 "{\"path\":\"/health\",\"method\":\"GET\"}]}\n",
			 host, mach, up, ts, (unsigned)getuid(), (unsigned)getgid());
		respond(fd, 200, "OK", body);
	} else {
		respond(fd, 404, "Not Found", "{\"error\":\"not found\"}\n");
	}
}

int main(void)
{
	const char *ps = getenv("PORT");
	char *end;
	long port = strtol(ps && *ps ? ps : "8080", &end, 10);
	if (*end || port < 1 || port > 65535) {
		fprintf(stderr, "c-http: invalid PORT `%s`\n", ps);
		return 2;
	}

	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	int ls = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int v6 = 1;
	if (ls < 0) {
		v6 = 0;
		ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	}
	if (ls < 0) {
		perror("c-http: socket");
		return 1;
	}
	int one = 1, zero = 0;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	int rc;
	if (v6) {
		setsockopt(ls, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		struct sockaddr_in6 a = { .sin6_family = AF_INET6,
					  .sin6_port = htons((uint16_t)port),
					  .sin6_addr = IN6ADDR_ANY_INIT };
		rc = bind(ls, (struct sockaddr *)&a, sizeof(a));
	} else {
		struct sockaddr_in a = { .sin_family = AF_INET,
					 .sin_port = htons((uint16_t)port),
					 .sin_addr.s_addr = htonl(INADDR_ANY) };
		rc = bind(ls, (struct sockaddr *)&a, sizeof(a));
	}
	if (rc < 0 || listen(ls, 64) < 0) {
		fprintf(stderr, "c-http: cannot listen on :%ld: %s\n", port, strerror(errno));
		return 1;
	}
	fprintf(stderr, "listening on :%ld\n", port);

	time_t started = time(NULL);
	while (!stop_sig) {
		struct pollfd p = { .fd = ls, .events = POLLIN };
		int n = poll(&p, 1, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("c-http: poll");
			return 1;
		}
		int c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		serve(c, started);
		close(c);
	}
	close(ls);
	fprintf(stderr, "received signal %d, stopped\n", (int)stop_sig);
	return 0;
}
