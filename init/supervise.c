/* Spawn the service, forward signals, reap zombies, run the health probes
 * and enforce the grace period.  Signal handling follows tini and catatonit:
 * block everything but the synchronous faults, collect with sigtimedwait,
 * forward to the child (or its process group), reap with waitpid(-1,
 * WNOHANG) in a loop.  Once the child runs, errors are logged, never fatal. */
#include "init.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BIT(s) (1ull << ((s) - 1))
/* Left to their default action: a fault in the init must not be "forwarded"
 * (tini's list).  SIGTTIN/SIGTTOU are ignored instead, so that the init never
 * stops on a terminal it handed to the child. */
#define INIT_OWN (BIT(SIGFPE) | BIT(SIGILL) | BIT(SIGSEGV) | BIT(SIGBUS) | BIT(SIGABRT) | \
                  BIT(SIGTRAP) | BIT(SIGSYS) | BIT(SIGTTIN) | BIT(SIGTTOU))

struct sup {
	struct init_cfg *cfg;
	uint64_t waitset, child_mask;
	struct sigaction ttin, ttou;
	pid_t child;
	int child_code;            /* -1 while running */
	int64_t kill_at;           /* grace deadline, -1 none */
	int unhealthy_stop;
	/* health */
	struct health_state hs;
	pid_t probe;
	int probe_fd;
	struct probe_out probe_out;
	int64_t probe_start, probe_deadline, next_probe;
	int probe_timed_out;
};

/* The service is started with clone(CLONE_VM | CLONE_VFORK), as musl's
 * posix_spawn does: no page tables to copy, and the init sleeps until the
 * child has called execve.  The child's error comes back through a
 * close-on-exec pipe rather than the memory the two share: qemu-user
 * emulates CLONE_VFORK with a plain fork, where the child writes to its
 * own copy (an arm64 image on an x86_64 host would fail without a word). */
struct spawn_ctx {
	struct sup *s;
	int fd;                    /* write end: a code byte, then the message */
	char msg[INIT_ERRLEN];
};

static void child_fail(struct spawn_ctx *c, int code)
{
	char buf[INIT_ERRLEN + 1];
	buf[0] = (char)code;
	size_t n = strnlen(c->msg, sizeof c->msg - 1);
	memcpy(buf + 1, c->msg, n);
	ssize_t w = write(c->fd, buf, n + 1); /* less than PIPE_BUF: whole */
	(void)w;
	_exit(code);
}

static char child_stack[32768] __attribute__((aligned(16)));

static int child_main(void *arg)
{
	struct spawn_ctx *c = arg;
	struct sup *s = c->s;
	const struct privs_cfg *p = &s->cfg->privs;

	/* Own process group, and the terminal if there is one (tini). */
	if (setpgid(0, 0) < 0) {
		snprintf(c->msg, sizeof c->msg, "cannot create the child's process group: %s",
		         strerror(errno));
		goto fail;
	}
	if (tcsetpgrp(STDIN_FILENO, getpgrp()) < 0 && errno != ENOTTY && errno != ENXIO &&
	    errno != EBADF) {
		snprintf(c->msg, sizeof c->msg, "cannot give the terminal to the child: %s",
		         strerror(errno));
		goto fail;
	}
	/* The service starts with the mask and dispositions the init inherited. */
	sigaction(SIGTTIN, &s->ttin, NULL);
	sigaction(SIGTTOU, &s->ttou, NULL);
	sys_sigmask(SIG_SETMASK, &s->child_mask, NULL);
	/* Credentials and capabilities were set in the init before the clone
	 * (see spawn); what is left is the filter, last, right before execve. */
	if (p->filter && filter_load(p->filter, p->filter_len, c->msg) < 0)
		goto fail;
	execvp(s->cfg->argv[0], s->cfg->argv);
	int code = errno == ENOENT ? 127 : 126;
	snprintf(c->msg, sizeof c->msg, "cannot run `%s`: %s", s->cfg->argv[0], strerror(errno));
	child_fail(c, code);
fail:
	child_fail(c, 1);
	return 1;
}

/* Start the service; returns 0, or the exit code to leave with when it
 * could not be started (the message is already logged). */
static int spawn(struct sup *s)
{
	const struct privs_cfg *pc = &s->cfg->privs;
	char err[INIT_ERRLEN];

	/* The service's user, groups, capabilities and no-new-privs are set
	 * on the init itself, in the fixed order, before the clone: the child
	 * inherits them, the init never holds more than its service once the
	 * service runs (the kept capabilities, cleared below, were the
	 * service's too), and the work is done once rather than twice. */
	if (pc->change_user || pc->drop_caps || pc->no_new_privs) {
		struct privs_cfg own = *pc;
		own.filter = NULL;
		if (privs_apply(&own, err) < 0) {
			init_log(LOG_ERROR, "%s", err);
			return 1;
		}
		/* A credential change clears the parent-death signal. */
		if (s->cfg->pdeath_signal)
			prctl(PR_SET_PDEATHSIG, (unsigned long)s->cfg->pdeath_signal, 0, 0, 0);
	}
	/* The init carries no seccomp filter and, once the drop is done, has
	 * the service's uid.  A uid change makes it non-dumpable (unless the
	 * host's fs.suid_dumpable is 1), but a nonroot init (config User 65532,
	 * the mkimage default) changes nothing and would stay ptrace-able by
	 * its own service: a filter that allows ptrace or process_vm_writev
	 * (the shipped default does, as Docker's) would then let the service
	 * make the init run what the filter denies.  Non-dumpable, only
	 * CAP_SYS_PTRACE can attach.  Set after the credential change, which
	 * resets it; the service and the exec probes get a fresh, dumpable mm
	 * at execve. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		init_log(LOG_ERROR, "cannot make the init non-dumpable: %s", strerror(errno));
		return 1;
	}
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0) {
		init_log(LOG_ERROR, "cannot start the child: %s", strerror(errno));
		return 1;
	}
	struct spawn_ctx c = { .s = s, .fd = fds[1] };
	pid_t pid = clone(child_main, child_stack + sizeof child_stack,
	                  CLONE_VM | CLONE_VFORK | SIGCHLD, &c);
	int e = errno;
	close(fds[1]);
	if (pid < 0) {
		close(fds[0]);
		init_log(LOG_ERROR, "cannot start the child: %s", strerror(e));
		return 1;
	}
	/* EOF at once when the child has run execve (close-on-exec); its
	 * message otherwise (the signals are blocked: no EINTR). */
	char msg[INIT_ERRLEN + 1];
	size_t len = 0;
	for (ssize_t r; len < sizeof msg - 1 &&
	     ((r = read(fds[0], msg + len, sizeof msg - 1 - len)) > 0 || (r < 0 && errno == EINTR));)
		len += r > 0 ? (size_t)r : 0;
	close(fds[0]);
	if (len) {
		int st;
		msg[len] = 0;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		init_log(LOG_ERROR, "%s", msg + 1);
		return (unsigned char)msg[0];
	}
	/* Supervising needs no capability: signals go to processes of the
	 * init's own uid, and reaping needs nothing. */
	if (pc->drop_caps && pc->keep &&
	    (sys_capset(0, 0, 0) < 0 || sys_ambient_clear() < 0))
		init_log(LOG_WARN, "cannot drop the init's own capabilities: %s", strerror(errno));
	s->child = pid;
	init_log(LOG_INFO, "Spawned child process '%s' with pid '%d'", s->cfg->argv[0], (int)pid);
	return 0;
}

static void publish(struct sup *s, const char *detail)
{
	char err[INIT_ERRLEN];
	const struct health_cfg *hc = &s->cfg->health;
	if (health_write_state(hc->state_file, &s->hs, detail, health_valid_s(hc), err) < 0)
		init_log(LOG_WARN, "%s", err);
}

static void probe_done(struct sup *s, int status, int64_t now)
{
	const struct health_cfg *hc = &s->cfg->health;
	char detail[500];
	int ok = health_collect(hc, s->probe_fd, &s->probe_out, status, detail, sizeof detail) == 0;
	close(s->probe_fd);
	if (s->probe_timed_out) {
		ok = 0;
		snprintf(detail, sizeof detail, "probe timed out after %lldms",
		         (long long)hc->timeout_ms);
	}
	s->probe = 0;
	s->next_probe = now + hc->interval_ms;
	int changed = health_update(&s->hs, hc, ok, s->probe_start);
	init_log(changed ? LOG_INFO : LOG_DEBUG, "health: %s (%s)",
	         health_status_name(s->hs.status), detail);
	publish(s, detail);
	if (changed && s->hs.status == HS_UNHEALTHY && hc->exit_on_unhealthy && s->child_code < 0) {
		init_log(LOG_ERROR, "service unhealthy after %d failed probes: stopping it",
		         s->hs.streak);
		s->unhealthy_stop = 1;
		kill(-s->child, SIGTERM);
		s->kill_at = now + (s->cfg->grace_ms >= 0 ? s->cfg->grace_ms : 10000);
	}
}

static void reap(struct sup *s)
{
	int st;
	pid_t pid;
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		if (pid == s->child) {
			int code;
			if (WIFEXITED(st)) {
				code = WEXITSTATUS(st);
				init_log(LOG_INFO, "Main child exited normally (with status '%d')", code);
			} else {
				code = 128 + WTERMSIG(st);
				init_log(LOG_INFO, "Main child exited with signal (with signal '%s')",
				         strsignal(WTERMSIG(st)));
			}
			code &= 0xff;
			s->child_code = s->cfg->expect[code] ? 0 : code;
		} else if (s->probe && pid == s->probe) {
			probe_done(s, st, init_now_ms());
		} else if (s->cfg->warn_on_reap) {
			init_log(LOG_WARN, "Reaped zombie process with pid=%d", (int)pid);
		} else {
			init_log(LOG_DEBUG, "Reaped zombie process with pid=%d", (int)pid);
		}
	}
	if (pid < 0 && errno != ECHILD && errno != EINTR)
		init_log(LOG_WARN, "waitpid failed: %s", strerror(errno));
}

static void timers(struct sup *s, int64_t now)
{
	const struct health_cfg *hc = &s->cfg->health;
	if (s->kill_at >= 0 && now >= s->kill_at && s->child_code < 0) {
		init_log(LOG_WARN, "grace period over: killing the child's process group");
		kill(-s->child, SIGKILL);
		kill(s->child, SIGKILL);
		s->kill_at = -1;
	}
	if (s->probe && !s->probe_timed_out && now >= s->probe_deadline) {
		kill(-s->probe, SIGKILL);
		kill(s->probe, SIGKILL);
		s->probe_timed_out = 1; /* reaped, and counted, in reap() */
	}
	if (hc->kind != HEALTH_NONE && !s->probe && !s->unhealthy_stop && now >= s->next_probe) {
		char err[INIT_ERRLEN];
		pid_t p = health_spawn_probe(hc, &s->cfg->privs, &s->child_mask, &s->probe_fd, err);
		if (p < 0) {
			init_log(LOG_WARN, "health: %s", err);
			s->next_probe = now + hc->interval_ms;
			return;
		}
		s->probe = p;
		s->probe_out.len = 0, s->probe_out.cut = 0;
		s->probe_timed_out = 0;
		s->probe_start = now;
		s->probe_deadline = now + hc->timeout_ms;
	}
}

static int64_t next_deadline(struct sup *s)
{
	int64_t d = INT64_MAX;
	if (s->kill_at >= 0)
		d = s->kill_at;
	if (s->probe && !s->probe_timed_out && s->probe_deadline < d)
		d = s->probe_deadline;
	if (s->cfg->health.kind != HEALTH_NONE && !s->probe && !s->unhealthy_stop &&
	    s->next_probe < d)
		d = s->next_probe;
	return d;
}

static void forward(struct sup *s, int sig)
{
	pid_t target = s->cfg->kill_group ? -s->child : s->child;
	if (kill(target, sig) < 0) {
		if (errno == ESRCH)
			init_log(LOG_WARN, "Child was dead when forwarding signal");
		else
			init_log(LOG_WARN, "cannot forward signal %d: %s", sig, strerror(errno));
	} else {
		init_log(LOG_DEBUG, "Passed on signal %d", sig);
	}
	if ((sig == SIGTERM || sig == SIGINT) && s->cfg->grace_ms >= 0 && s->kill_at < 0)
		s->kill_at = init_now_ms() + s->cfg->grace_ms;
}

int supervise_run(struct init_cfg *cfg)
{
	struct sup s = { .cfg = cfg, .child_code = -1, .kill_at = -1 };
	struct sigaction ign = { .sa_handler = SIG_IGN };

	if (cfg->pdeath_signal && prctl(PR_SET_PDEATHSIG, (unsigned long)cfg->pdeath_signal, 0, 0, 0) < 0) {
		init_log(LOG_ERROR, "cannot set the parent death signal: %s", strerror(errno));
		return 1;
	}
	if (cfg->subreaper) {
		if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
			init_log(LOG_ERROR, "cannot register as a child subreaper: %s", strerror(errno));
			return 1;
		}
	} else if (getpid() != 1) {
		int r = 0;
		prctl(PR_GET_CHILD_SUBREAPER, &r, 0, 0, 0);
		if (!r)
			init_log(LOG_WARN, "minbase-init is not running as PID 1 and isn't registered as "
			         "a child subreaper. Zombie processes will not be re-parented to "
			         "minbase-init, so zombie reaping won't work. To fix the problem, use "
			         "the -s option or set the environment variable TINI_SUBREAPER to "
			         "register minbase-init as a child subreaper, or run it as PID 1.");
	}
	/* Every signal, real-time and libc-reserved ones included, is blocked
	 * and collected below, except the synchronous faults. */
	s.waitset = ~INIT_OWN;
	if (sys_sigmask(SIG_SETMASK, &s.waitset, &s.child_mask) < 0 ||
	    sigaction(SIGTTIN, &ign, &s.ttin) < 0 || sigaction(SIGTTOU, &ign, &s.ttou) < 0) {
		init_log(LOG_ERROR, "cannot set up signal handling: %s", strerror(errno));
		return 1;
	}
	s.waitset &= ~(BIT(SIGKILL) | BIT(SIGSTOP));

	int rc = spawn(&s);
	if (rc)
		return rc;

	int64_t now = init_now_ms();
	if (cfg->health.kind != HEALTH_NONE) {
		s.hs.started_ms = now;
		s.next_probe = now + cfg->health.interval_ms;
		publish(&s, "waiting for the first probe");
	}

	for (;;) {
		int64_t d = next_deadline(&s), wait_ms = 1000;
		now = init_now_ms();
		if (d != INT64_MAX)
			wait_ms = d <= now ? 0 : (d - now < 1000 ? d - now : 1000);
		struct timespec ts = { wait_ms / 1000, (wait_ms % 1000) * 1000000 };
		siginfo_t si;
		long sig = syscall(SYS_rt_sigtimedwait, &s.waitset, &si, &ts, sizeof s.waitset);
		if (sig < 0 && errno != EAGAIN && errno != EINTR)
			init_log(LOG_WARN, "sigtimedwait failed: %s", strerror(errno));
		/* SIGIO from the kernel (si_code > 0, which no other process can
		 * send) is the probe's pipe (O_ASYNC), drained below; one sent
		 * with kill() is forwarded like any other signal. */
		if (sig > 0 && sig != SIGCHLD && !(sig == SIGIO && si.si_code > 0) &&
		    s.child_code < 0)
			forward(&s, (int)sig);
		if (s.probe)
			health_drain(s.probe_fd, &s.probe_out);
		reap(&s);
		if (s.child_code >= 0)
			break;
		timers(&s, init_now_ms());
	}
	if (s.probe) {
		kill(-s.probe, SIGKILL);
		kill(s.probe, SIGKILL);
		int st;
		while (waitpid(s.probe, &st, 0) < 0 && errno == EINTR)
			;
		close(s.probe_fd);
	}
	return s.unhealthy_stop ? 1 : s.child_code;
}
