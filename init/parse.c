/* Small parsers shared by the options, the environment and the probes. */
#include "init.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	if (!s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

int parse_duration_ms(const char *s, int64_t *ms, char *err)
{
	const char *p = s;
	int64_t total = 0;
	int any = 0;

	if (!s || !*s)
		goto bad;
	while (*p) {
		if (!isdigit((unsigned char)*p) && *p != '.')
			goto bad;
		/* Integer and fraction by hand: strtod would pull ~10 KB of
		 * musl's float scanner into the init. */
		int64_t ip = 0, fnum = 0, fden = 1;
		const char *start = p;
		while (isdigit((unsigned char)*p) && ip < 1000000000)
			ip = ip * 10 + (*p++ - '0');
		if (*p == '.')
			for (p++; isdigit((unsigned char)*p); p++)
				if (fden < 1000000)
					fnum = fnum * 10 + (*p - '0'), fden *= 10;
		if (p == start || isdigit((unsigned char)*p) || (p == start + 1 && *start == '.'))
			goto bad;
		int64_t mult;
		if (!*p) {
			if (any) /* "1m30" is ambiguous: ask for a unit */
				goto bad;
			mult = 1000;
		} else if (!strncmp(p, "ms", 2)) {
			mult = 1, p += 2;
		} else if (*p == 's') {
			mult = 1000, p++;
		} else if (*p == 'm') {
			mult = 60000, p++;
		} else if (*p == 'h') {
			mult = 3600000, p++;
		} else {
			goto bad;
		}
		/* Each part is below 2^55; the sum is bounded so that it
		 * cannot overflow, nor can the deadlines built from it (now +
		 * duration). */
		int64_t part = ip * mult + (fnum * mult + fden / 2) / fden;
		if (part > INT64_MAX / 4 - total)
			goto bad;
		total += part;
		any = 1;
	}
	*ms = total;
	return 0;
bad:
	snprintf(err, INIT_ERRLEN,
	         "invalid duration `%s`: use e.g. 30s, 500ms, 1m30s or plain seconds", s ? s : "");
	return -1;
}

static const struct { const char *name; int sig; } signames[] = {
	{ "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT }, { "ILL", SIGILL },
	{ "TRAP", SIGTRAP }, { "ABRT", SIGABRT }, { "BUS", SIGBUS }, { "FPE", SIGFPE },
	{ "KILL", SIGKILL }, { "USR1", SIGUSR1 }, { "SEGV", SIGSEGV }, { "USR2", SIGUSR2 },
	{ "PIPE", SIGPIPE }, { "ALRM", SIGALRM }, { "TERM", SIGTERM }, { "STKFLT", SIGSTKFLT },
	{ "CHLD", SIGCHLD }, { "CONT", SIGCONT }, { "STOP", SIGSTOP }, { "TSTP", SIGTSTP },
	{ "TTIN", SIGTTIN }, { "TTOU", SIGTTOU }, { "URG", SIGURG }, { "XCPU", SIGXCPU },
	{ "XFSZ", SIGXFSZ }, { "VTALRM", SIGVTALRM }, { "PROF", SIGPROF },
	{ "WINCH", SIGWINCH }, { "IO", SIGIO }, { "PWR", SIGPWR }, { "SYS", SIGSYS },
};

int parse_signal(const char *s, int *sig, char *err)
{
	unsigned long n;
	const char *p = s;

	if (parse_uint(s, 64, &n) == 0 && n >= 1) {
		*sig = (int)n;
		return 0;
	}
	if (!strncasecmp(p, "SIG", 3))
		p += 3;
	for (size_t i = 0; i < sizeof signames / sizeof signames[0]; i++) {
		if (!strcasecmp(p, signames[i].name)) {
			*sig = signames[i].sig;
			return 0;
		}
	}
	/* Kernel numbering (34..64), independent of the libc's reservations. */
	if (!strncasecmp(p, "RTMIN", 5) || !strncasecmp(p, "RTMAX", 5)) {
		int base = p[4] == 'N' || p[4] == 'n' ? 34 : 64;
		long off = 0;
		if (p[5]) {
			char *end;
			off = strtol(p + 5, &end, 10);
			if (*end || off < -64 || off > 64) /* base + off must not overflow */
				off = 99;
		}
		if (base + off >= 34 && base + off <= 64) {
			*sig = (int)(base + off);
			return 0;
		}
	}
	snprintf(err, INIT_ERRLEN, "invalid signal `%s`: use a name like SIGTERM or a number", s);
	return -1;
}

int64_t init_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
