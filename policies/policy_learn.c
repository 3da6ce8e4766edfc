/* `mkimage policy learn`: run a program under ptrace, following every
 * thread and child, record the syscalls it makes after its first execve,
 * and write the smallest allowlist that lets that run happen again. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <jansson.h>
#include <seccomp.h>

#include "policy_int.h"

#define MAX_NR 1024

static volatile sig_atomic_t learn_child;

/* A signal meant for the recorder (the test or the user stopping the
 * workload) goes to the traced program, which then stops the way it would
 * in production; the recorder keeps recording until it has exited. */
static void forward(int sig)
{
	if (learn_child > 0)
		kill(learn_child, sig);
}

struct pidset {
	pid_t *v;
	size_t n, cap;
};

static bool pidset_has(const struct pidset *s, pid_t p)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i] == p)
			return true;
	return false;
}

static int pidset_add(struct pidset *s, pid_t p)
{
	if (pidset_has(s, p))
		return 0;
	if (s->n == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 64;
		pid_t *nv = realloc(s->v, nc * sizeof(*nv));
		if (!nv)
			return -1;
		s->v = nv;
		s->cap = nc;
	}
	s->v[s->n++] = p;
	return 0;
}

static void pidset_del(struct pidset *s, pid_t p)
{
	for (size_t i = 0; i < s->n; i++) {
		if (s->v[i] == p) {
			s->v[i] = s->v[--s->n];
			return;
		}
	}
}

static char *learned_json(const bool *seen, const char *prog, uint32_t token, struct mb_err *err)
{
	json_t *root = json_object(), *names = json_array(), *rule = json_object(),
	       *sc = json_array(), *archs = json_array(), *mb = json_object();
	char desc[512];
	bool need[MAX_NR];

	memcpy(need, seen, sizeof(need));
	/* What minbase-init does after loading the filter. */
	static const char *const init_needs[] = { "execve", "execveat", "exit", "exit_group" };
	for (size_t k = 0; k < 4; k++) {
		int nr = seccomp_syscall_resolve_name_arch(token, init_needs[k]);
		if (nr >= 0 && nr < MAX_NR)
			need[nr] = true;
	}
	/* Sorted by name (a stable, reviewable file). */
	char *list[MAX_NR];
	size_t n = 0;
	for (int i = 0; i < MAX_NR; i++) {
		if (!need[i])
			continue;
		char *s = seccomp_syscall_resolve_num_arch(token, i);
		if (!s && pol_newsys_name(token, i))   /* newer than libseccomp */
			s = strdup(pol_newsys_name(token, i));
		if (s)
			list[n++] = s;
	}
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && strcmp(list[j - 1], list[j]) > 0; j--) {
			char *t = list[j];
			list[j] = list[j - 1];
			list[j - 1] = t;
		}
	for (size_t i = 0; i < n; i++) {
		json_array_append_new(names, json_string(list[i]));
		free(list[i]);
	}
	json_object_set_new(rule, "names", names);
	json_object_set_new(rule, "action", json_string("SCMP_ACT_ALLOW"));
	json_array_append_new(sc, rule);
	json_object_set_new(root, "defaultAction", json_string("SCMP_ACT_ERRNO"));
	json_object_set_new(root, "defaultErrnoRet", json_integer(EPERM));
	json_array_append_new(archs, json_string(token == SCMP_ARCH_AARCH64 ?
	                                         "SCMP_ARCH_AARCH64" : "SCMP_ARCH_X86_64"));
	json_object_set_new(root, "architectures", archs);
	json_object_set_new(root, "syscalls", sc);
	snprintf(desc, sizeof(desc), "learned by `mkimage policy learn` from a run of %s", prog);
	json_object_set_new(mb, "description", json_string(desc));
	json_object_set_new(root, "minbase", mb);
	char *out = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(root);
	if (!out)
		mb_error(err, 0, "out of memory");
	return out;
}

int policy_learn(char *const argv[], struct policy_learn_result *r, struct mb_err *err)
{
	bool seen[MAX_NR] = { false };
	struct pidset known = { 0 };
	uint32_t token = seccomp_arch_native();
	bool started = false;
	int st, rc = -1;

	memset(r, 0, sizeof(*r));
	r->status = -1;
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return mb_error(err, errno, "cannot create a pipe");
	pid_t child = fork();
	if (child < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return mb_error(err, errno, "cannot fork");
	}
	if (child == 0) {
		close(pfd[0]);
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0 || raise(SIGSTOP) < 0)
			_exit(126);
		execvp(argv[0], argv);
		int e = errno;
		if (write(pfd[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(pfd[1]);
	learn_child = child;
	struct sigaction sa = { .sa_handler = forward }, old_term, old_int;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGINT, &sa, &old_int);

	while (waitpid(child, &st, __WALL) < 0) {
		if (errno != EINTR) {
			mb_error(err, errno, "cannot wait for `%s`", argv[0]);
			goto out;
		}
	}
	if (!WIFSTOPPED(st)) {
		mb_error(err, 0, "`%s` did not start under ptrace (is ptrace allowed here?)", argv[0]);
		goto out;
	}
	if (ptrace(PTRACE_SETOPTIONS, child, NULL,
	           (void *)(long)(PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEFORK |
	                          PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE |
	                          PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL)) < 0) {
		mb_error(err, 0, "cannot trace `%s`: %s (is ptrace allowed here?)", argv[0],
		         strerror(errno));
		kill(child, SIGKILL);
		while (waitpid(child, &st, __WALL) < 0 && errno == EINTR)
			;
		goto out;
	}
	pidset_add(&known, child);
	ptrace(PTRACE_SYSCALL, child, NULL, NULL);

	for (;;) {
		pid_t pid = waitpid(-1, &st, __WALL);
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ECHILD)
				break;
			mb_error(err, errno, "waitpid");
			goto out;
		}
		if (WIFEXITED(st) || WIFSIGNALED(st)) {
			pidset_del(&known, pid);
			if (pid == child)
				r->status = st;
			continue;
		}
		if (!WIFSTOPPED(st))
			continue;
		int sig = WSTOPSIG(st), event = st >> 16, deliver = 0;
		if (!pidset_has(&known, pid)) {
			/* A new thread or child: its first stop is the SIGSTOP
			 * that auto-attaching sends. */
			if (pidset_add(&known, pid) < 0) {
				mb_error(err, 0, "out of memory");
				goto out;
			}
			if (sig == SIGSTOP) {
				ptrace(PTRACE_SYSCALL, pid, NULL, NULL);
				continue;
			}
		}
		if (sig == (SIGTRAP | 0x80)) {
			struct __ptrace_syscall_info si;
			if (started &&
			    ptrace(PTRACE_GET_SYSCALL_INFO, pid, (void *)sizeof(si), &si) > 0 &&
			    si.op == PTRACE_SYSCALL_INFO_ENTRY) {
				if (si.arch == token && si.entry.nr < MAX_NR) {
					r->n_syscalls += !seen[si.entry.nr];
					seen[si.entry.nr] = true;
				}
			}
		} else if (sig == SIGTRAP && event) {
			if (event == PTRACE_EVENT_EXEC && !started) {
				started = true;
				/* execve itself: its entry happened before the event. */
				int nr = seccomp_syscall_resolve_name("execve");
				if (nr >= 0 && nr < MAX_NR && !seen[nr]) {
					seen[nr] = true;
					r->n_syscalls++;
				}
			}
		} else {
			deliver = sig;
		}
		ptrace(PTRACE_SYSCALL, pid, NULL, (void *)(long)deliver);
	}

	int e = 0;
	if (read(pfd[0], &e, sizeof(e)) == (ssize_t)sizeof(e)) {
		mb_error(err, e, "cannot run `%s`", argv[0]);
		goto out;
	}
	if (!started) {
		mb_error(err, 0, "`%s` never started (no execve seen)", argv[0]);
		goto out;
	}
	r->json = learned_json(seen, argv[0], token, err);
	if (r->json)
		rc = 0;
out:
	learn_child = 0;
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGINT, &old_int, NULL);
	close(pfd[0]);
	free(known.v);
	return rc;
}
