/* minbase-init health: Docker's state rules, the HTTP status line parser,
 * addresses, durations, signals, and the state file round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_init_fakesys.h"

static void test_durations(void **state)
{
	int64_t ms;
	char err[INIT_ERRLEN];
	static const struct { const char *s; int64_t ms; } ok[] = {
		{ "30s", 30000 }, { "500ms", 500 }, { "1m30s", 90000 }, { "2", 2000 },
		{ "1.5", 1500 }, { "0.25s", 250 }, { "1h", 3600000 }, { "0", 0 },
		{ "1m0.5s", 60500 },
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		assert_int_equal(parse_duration_ms(ok[i].s, &ms, err), 0);
		assert_int_equal(ms, ok[i].ms);
	}
	static const char *const bad[] = { "", "s", "-1s", "1x", "1m30", "abc", ".", "1 s", "1.s5" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (parse_duration_ms(bad[i], &ms, err) == 0)
			fail_msg("`%s` accepted as %lld", bad[i], (long long)ms);
		assert_non_null(strstr(err, "invalid duration"));
	}
	/* Many large components: the sum must not overflow (UBSan) nor wrap
	 * into a small or negative duration; the longest component alone is
	 * still fine. */
	char big[300 * 11 + 1] = "";
	for (int i = 0; i < 300; i++)
		strcat(big, "9999999999h");
	if (parse_duration_ms(big, &ms, err) == 0)
		fail_msg("300 x 9999999999h accepted as %lld", (long long)ms);
	assert_int_equal(parse_duration_ms("9999999999h", &ms, err), 0);
	assert_true(ms == 9999999999LL * 3600000);
}

static void test_signals(void **state)
{
	int s;
	char err[INIT_ERRLEN];
	assert_int_equal(parse_signal("SIGTERM", &s, err), 0);
	assert_int_equal(s, SIGTERM);
	assert_int_equal(parse_signal("kill", &s, err), 0);
	assert_int_equal(s, SIGKILL);
	assert_int_equal(parse_signal("9", &s, err), 0);
	assert_int_equal(s, 9);
	assert_int_equal(parse_signal("SIGRTMIN+2", &s, err), 0);
	assert_int_equal(s, 36);
	assert_int_equal(parse_signal("RTMAX", &s, err), 0);
	assert_int_equal(s, 64);
	assert_int_equal(parse_signal("SIGNOPE", &s, err), -1);
	assert_int_equal(parse_signal("65", &s, err), -1);
	assert_int_equal(parse_signal("0", &s, err), -1);
	assert_int_equal(parse_signal("RTMIN+40", &s, err), -1);
	/* An offset that overflows the sum is refused, not wrapped (UBSan). */
	assert_int_equal(parse_signal("SIGRTMIN+9223372036854775807", &s, err), -1);
	assert_int_equal(parse_signal("RTMAX+9223372036854775807", &s, err), -1);
	assert_int_equal(parse_signal("RTMIN-9223372036854775808", &s, err), -1);
}

static void test_http_status(void **state)
{
	assert_int_equal(health_parse_http_status("HTTP/1.1 200 OK\r\n", 17), 200);
	assert_int_equal(health_parse_http_status("HTTP/1.0 503\r\n", 14), 503);
	assert_int_equal(health_parse_http_status("HTTP/1.0 302", 12), 302);
	assert_int_equal(health_parse_http_status("HTTP/1.0 20", 11), -1);
	assert_int_equal(health_parse_http_status("HTTP/2 200 OK", 13), -1);
	assert_int_equal(health_parse_http_status("HTTP/1.1 2000 OK", 16), -1);
	assert_int_equal(health_parse_http_status("HTTP/1.1 099 X", 14), -1);
	assert_int_equal(health_parse_http_status("SSH-2.0-OpenSSH", 15), -1);
	assert_int_equal(health_parse_http_status("", 0), -1);
}

static void test_addresses(void **state)
{
	char host[64], err[INIT_ERRLEN];
	int port;
	const char *path;
	assert_int_equal(health_parse_url("http://127.0.0.1:8080/health?x=1", host, sizeof host,
	                                  &port, &path, err), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 8080);
	assert_string_equal(path, "/health?x=1");
	assert_int_equal(health_parse_url("http://localhost", host, sizeof host, &port, &path, err), 0);
	assert_string_equal(host, "localhost");
	assert_int_equal(port, 80);
	assert_string_equal(path, "/");
	assert_int_equal(health_parse_url("http://[::1]:81/x", host, sizeof host, &port, &path, err), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 81);
	assert_int_equal(health_parse_url("http://[::1]/", host, sizeof host, &port, &path, err), 0);
	assert_int_equal(port, 80);
	assert_int_equal(health_parse_url("https://x/", host, sizeof host, &port, &path, err), -1);
	assert_int_equal(health_parse_url("http://:80/", host, sizeof host, &port, &path, err), -1);
	assert_int_equal(health_parse_url("http://h:99999/", host, sizeof host, &port, &path, err), -1);
	assert_int_equal(health_parse_hostport("127.0.0.1:5432", host, sizeof host, &port, err), 0);
	assert_int_equal(port, 5432);
	assert_int_equal(health_parse_hostport("127.0.0.1", host, sizeof host, &port, err), -1);
	assert_int_equal(health_parse_hostport("h:0", host, sizeof host, &port, err), -1);
	assert_int_equal(health_parse_hostport("h:x", host, sizeof host, &port, err), -1);
}

/* Docker: failures before the first success inside the start period do not
 * count; after a success every failure counts; retries failures in a row
 * make it unhealthy; one success makes it healthy again. */
static void test_state_machine(void **state)
{
	struct health_cfg c = { .retries = 2, .start_period_ms = 1000 };
	struct health_state st = { .started_ms = 0 };
	assert_int_equal(health_update(&st, &c, 0, 100), 0);
	assert_int_equal(health_update(&st, &c, 0, 200), 0);
	assert_int_equal(health_update(&st, &c, 0, 300), 0);
	assert_int_equal(st.status, HS_STARTING);
	assert_int_equal(st.streak, 0);
	assert_int_equal(health_update(&st, &c, 0, 1000), 0); /* start period over: counts */
	assert_int_equal(st.streak, 1);
	assert_int_equal(health_update(&st, &c, 1, 1100), 1);
	assert_int_equal(st.status, HS_HEALTHY);
	assert_int_equal(st.streak, 0);

	struct health_state s2 = { .started_ms = 0 };
	assert_int_equal(health_update(&s2, &c, 1, 100), 1);        /* success in start period */
	assert_int_equal(health_update(&s2, &c, 0, 200), 0);        /* now failures count */
	assert_int_equal(s2.streak, 1);
	assert_int_equal(health_update(&s2, &c, 0, 300), 1);
	assert_int_equal(s2.status, HS_UNHEALTHY);
	assert_int_equal(health_update(&s2, &c, 0, 400), 0);
	assert_int_equal(health_update(&s2, &c, 1, 500), 1);
	assert_int_equal(s2.status, HS_HEALTHY);

	struct health_cfg nostart = { .retries = 1 };
	struct health_state s3 = { 0 };
	assert_int_equal(health_update(&s3, &nostart, 0, 0), 1);
	assert_int_equal(s3.status, HS_UNHEALTHY);
	/* A service failing for ever (1 ms probes: 25 days) does not overflow
	 * the streak (UBSan) nor wrap it negative. */
	s3.streak = INT_MAX - 1;
	health_update(&s3, &nostart, 0, 1);
	health_update(&s3, &nostart, 0, 2);
	assert_int_equal(s3.streak, INT_MAX);
	assert_int_equal(s3.status, HS_UNHEALTHY);
}

static void test_state_file(void **state)
{
	char dir[] = "/tmp/test_init_health.XXXXXX", path[64], err[INIT_ERRLEN];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/state", dir);
	struct health_state st = { .status = HS_HEALTHY };
	assert_int_equal(health_cmd(path, 60), 1); /* missing: not healthy */
	assert_int_equal(health_write_state(path, &st, "GET /: HTTP 200\nsecond line", 60, err), 0);
	FILE *f = fopen(path, "r");
	char line[256] = "";
	assert_non_null(fgets(line, sizeof line, f));
	fclose(f);
	assert_true(strncmp(line, "healthy 0 ", 10) == 0);
	assert_non_null(strstr(line, "GET /: HTTP 200 second line\n"));
	assert_int_equal(health_cmd(path, 60), 0);
	st.status = HS_UNHEALTHY;
	st.streak = 3;
	assert_int_equal(health_write_state(path, &st, "boom", 60, err), 0);
	assert_int_equal(health_cmd(path, 60), 1);
	st.status = HS_STARTING;
	assert_int_equal(health_write_state(path, &st, "", 60, err), 0);
	assert_int_equal(health_cmd(path, 60), 1);
	/* healthy, but nobody refreshed it in time: stale, not healthy */
	st.status = HS_HEALTHY;
	assert_int_equal(health_write_state(path, &st, "old", -1, err), 0);
	assert_int_equal(health_cmd(path, 60), 1);
	assert_int_equal(health_write_state(path, &st, "fresh", 60, err), 0);
	assert_int_equal(health_cmd(path, 60), 0);
	f = fopen(path, "w");
	fputs("garbage\n", f);
	fclose(f);
	assert_int_equal(health_cmd(path, 60), 1);
	unlink(path);
	assert_int_equal(rmdir(dir), 0); /* no temp file left behind */
	assert_int_equal(health_write_state("/nonexistent/dir/state", &st, "", 60, err), -1);
	assert_non_null(strstr(err, "cannot write health state"));
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* A state the init did not write, or could not refresh, must not read as
 * healthy (issue: a service pinned `health` at healthy). */
static void test_state_cannot_be_pinned(void **state)
{
	char dir[] = "/tmp/test_init_health.XXXXXX", path[64], tmp[96], line[200];
	char err[INIT_ERRLEN];
	struct health_state st = { .status = HS_HEALTHY };
	long long now = (long long)time(NULL);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/state", dir);

	/* The old fixed temporary names, taken by directories first: the
	 * init's write still goes through (the name is random, O_EXCL). */
	snprintf(tmp, sizeof tmp, "%s.tmp%d", path, (int)getpid());
	assert_int_equal(mkdir(tmp, 0755), 0);
	snprintf(tmp, sizeof tmp, "%s.tmp1", path);
	assert_int_equal(mkdir(tmp, 0755), 0);
	assert_int_equal(health_write_state(path, &st, "ok", 60, err), 0);
	assert_int_equal(health_cmd(path, 60), 0);

	/* Valid for longer than the timing allows, or dated ahead: forged. */
	snprintf(line, sizeof line, "healthy 0 %lld 99999999999 pinned\n", now);
	write_text(path, line);
	assert_int_equal(health_cmd(path, 125), 1);
	snprintf(line, sizeof line, "healthy 0 %lld %lld pinned\n", now, now + 126);
	write_text(path, line);
	assert_int_equal(health_cmd(path, 125), 1);
	snprintf(line, sizeof line, "healthy 0 %lld %lld ahead\n", now + 100, now + 200);
	write_text(path, line);
	assert_int_equal(health_cmd(path, 125), 1);
	snprintf(line, sizeof line, "healthy 0 %lld %lld ok\n", now, now + 125);
	write_text(path, line); /* within the bound: the init's own shape */
	assert_int_equal(health_cmd(path, 125), 0);
	write_text(path, "healthy 0 1x 2 odd\n");
	assert_int_equal(health_cmd(path, 125), 1);
	/* The init's own state, checked against a shorter timing: refused. */
	assert_int_equal(health_write_state(path, &st, "ok", 60, err), 0);
	assert_int_equal(health_cmd(path, 59), 1);

	/* A write that fails (here: the file size limit) removes the old
	 * healthy state, so that it is not read as current, and says so. */
	struct rlimit old, tiny = { 8, 8 };
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_IGN);
	tiny.rlim_max = old.rlim_max;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &tiny), 0);
	int rc = health_write_state(path, &st, "cannot be written", 60, err);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	assert_int_equal(rc, -1);
	assert_non_null(strstr(err, "cannot write health state"));
	assert_non_null(strstr(err, "reports unknown"));
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(health_cmd(path, 60), 1);

	char cmd[200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* Random and mutated state lines: `health` answers healthy only for a
 * well-formed healthy line valid now and within the bound, never reads past
 * what it read (ASan), and prints one line. */
static void test_state_random(void **state)
{
	char dir[] = "/tmp/test_init_health.XXXXXX", path[64], good[128];
	long long now = (long long)time(NULL);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/state", dir);
	snprintf(good, sizeof good, "healthy 0 %lld %lld GET /: HTTP 200\n", now, now + 60);
	srand(777);
	/* health_cmd prints its verdict: to /dev/null here. */
	fflush(stdout);
	int saved = dup(1), null = open("/dev/null", O_WRONLY);
	assert_true(saved >= 0 && null >= 0);
	dup2(null, 1);
	close(null);
	for (int i = 0; i < 3000; i++) {
		char line[160];
		size_t l = strlen(good);
		memcpy(line, good, l);
		int mutated = 0;
		for (int k = rand() % 4; k > 0; k--) {
			size_t at = (size_t)rand() % l;
			char ch = " 0123456789hx\n-"[rand() % 15];
			mutated |= line[at] != ch;
			line[at] = ch;
		}
		if (rand() % 8 == 0)
			l = (size_t)rand() % l, mutated = 1;
		FILE *f = fopen(path, "w");
		assert_non_null(f);
		fwrite(line, 1, l, f);
		fclose(f);
		int rc = health_cmd(path, 60);
		assert_true(rc == 0 || rc == 1);
		if (!mutated)
			assert_int_equal(rc, 0);
		if (rc == 0) /* still a healthy line with sound times */
			assert_true(l > 8 && !strncmp(line, "healthy ", 8));
	}
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	unlink(path);
	assert_int_equal(rmdir(dir), 0);
}

/* A probe printing more than a pipe holds: drained while it runs, the
 * first 4096 bytes kept (Docker's maxOutputLen), "..." for the rest. */
static void test_drain_large_output(void **state)
{
	int fds[2];
	static struct probe_out o;
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	assert_int_equal(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
	pid_t pid = fork();
	if (pid == 0) {
		static char junk[200000];
		close(fds[0]);
		memset(junk, 'x', sizeof junk);
		if (write(fds[1], "first line\n", 11) != 11)
			_exit(2);
		for (size_t off = 0; off < sizeof junk;) {
			ssize_t w = write(fds[1], junk + off, sizeof junk - off);
			if (w <= 0)
				_exit(3);
			off += (size_t)w;
		}
		_exit(0);
	}
	close(fds[1]);
	int status = 0;
	for (;;) {
		struct pollfd p = { fds[0], POLLIN, 0 };
		poll(&p, 1, 1000);
		health_drain(fds[0], &o);
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
	}
	struct health_cfg c = { .kind = HEALTH_EXEC, .target = "spew" };
	char detail[500];
	assert_int_equal(health_collect(&c, fds[0], &o, status, detail, sizeof detail), 0);
	close(fds[0]);
	assert_int_equal(o.len, HEALTH_OUTPUT_MAX);
	assert_int_equal(o.cut, 1);
	assert_string_equal(detail, "`spew` exited 0: first line...");
	/* Short output: all of it, no marker. */
	struct probe_out s2 = { .len = 3 };
	memcpy(s2.buf, "ok\n", 4);
	assert_int_equal(pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
	close(fds[1]);
	assert_int_equal(health_collect(&c, fds[0], &s2, 0, detail, sizeof detail), 0);
	assert_string_equal(detail, "`spew` exited 0: ok");
	close(fds[0]);
}

/* Random and mutated status lines: a status in 100..999 or -1, and no read
 * past the end (ASan build, exact-size buffers). */
static void test_http_status_random(void **state)
{
	static const char *const seeds[] = { "HTTP/1.1 200 OK\r\n", "HTTP/1.0 503", "HTTP/1.1 302 F" };
	srand(4242);
	for (int i = 0; i < 50000; i++) {
		const char *seed = seeds[i % 3];
		size_t l = (size_t)(rand() % 20);
		char *b = malloc(l ? l : 1);
		for (size_t k = 0; k < l; k++)
			b[k] = k < strlen(seed) && rand() % 4 ? seed[k] : (char)rand();
		int st = health_parse_http_status(b, l);
		assert_true(st == -1 || (st >= 100 && st <= 999));
		free(b);
	}
	char host[64], err[INIT_ERRLEN];
	int port;
	const char *path;
	for (int i = 0; i < 20000; i++) {
		char url[40];
		size_t l = (size_t)(rand() % (sizeof url - 1));
		memcpy(url, "http://", 7);
		for (size_t k = 7; k < l; k++)
			url[k] = "[]:/0123456789.abc"[rand() % 18];
		url[l > 7 ? l : 7] = 0;
		if (health_parse_url(url, host, sizeof host, &port, &path, err) == 0)
			assert_true(port >= 1 && port <= 65535 && *host);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_signals),
		cmocka_unit_test(test_http_status),
		cmocka_unit_test(test_http_status_random),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_state_machine),
		cmocka_unit_test(test_state_file),
		cmocka_unit_test(test_state_cannot_be_pinned),
		cmocka_unit_test(test_state_random),
		cmocka_unit_test(test_drain_large_output),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
