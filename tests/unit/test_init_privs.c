/* minbase-init privileges: user/group resolution from an image's own files,
 * capability names, and the order in which privs_apply() drops privileges
 * (checked against a recording fake of the system-call layer). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_init_fakesys.h"

static char root[256];

static void write_file(const char *rel, const char *text)
{
	char p[512];
	snprintf(p, sizeof p, "%s/%s", root, rel);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	snprintf(root, sizeof root, "/tmp/test_init_privs.XXXXXX");
	assert_non_null(mkdtemp(root));
	char etc[300];
	snprintf(etc, sizeof etc, "%s/etc", root);
	assert_int_equal(mkdir(etc, 0755), 0);
	write_file("etc/passwd", "root:x:0:0:root:/root:/sbin/nologin\n"
	                         "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	                         "web:x:1000:1001::/:/x\n"
	                         "broken line\n");
	write_file("etc/group", "root:x:0:\nnonroot:x:65532:\nweb:x:1001:\n"
	                        "audio:x:29:web,other\nvideo:x:44:other\nwheel:x:10:web\n");
	fake_reset();
	return 0;
}

static int teardown(void **state)
{
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
	return system(cmd);
}

static void test_numeric_user(void **state)
{
	struct privs_cfg p = { 0 };
	char err[INIT_ERRLEN];
	assert_int_equal(privs_resolve_user(&p, root, "65532:65532", err), 0);
	assert_int_equal(p.uid, 65532);
	assert_int_equal(p.gid, 65532);
	assert_int_equal(p.ngroups, 1);
	/* A numeric uid with no passwd entry: group = uid, never 0. */
	assert_int_equal(privs_resolve_user(&p, root, "4242", err), 0);
	assert_int_equal(p.uid, 4242);
	assert_int_equal(p.gid, 4242);
}

static void test_named_user_and_groups(void **state)
{
	struct privs_cfg p = { 0 };
	char err[INIT_ERRLEN];
	assert_int_equal(privs_resolve_user(&p, root, "web", err), 0);
	assert_int_equal(p.uid, 1000);
	assert_int_equal(p.gid, 1001);
	assert_int_equal(p.ngroups, 3);
	assert_int_equal(p.groups[0], 1001);
	assert_int_equal(p.groups[1], 29);
	assert_int_equal(p.groups[2], 10);
	/* An explicit group replaces the list. */
	assert_int_equal(privs_resolve_user(&p, root, "web:video", err), 0);
	assert_int_equal(p.gid, 44);
	assert_int_equal(p.ngroups, 1);
	/* uid found by number still gets its passwd group. */
	assert_int_equal(privs_resolve_user(&p, root, "1000", err), 0);
	assert_int_equal(p.gid, 1001);
}

static void test_bad_users(void **state)
{
	struct privs_cfg p = { 0 };
	char err[INIT_ERRLEN];
	assert_int_equal(privs_resolve_user(&p, root, "nobody", err), -1);
	assert_non_null(strstr(err, "unknown user `nobody`"));
	assert_int_equal(privs_resolve_user(&p, root, "web:nogroup", err), -1);
	assert_non_null(strstr(err, "unknown group `nogroup`"));
	assert_int_equal(privs_resolve_user(&p, root, "", err), -1);
	assert_int_equal(privs_resolve_user(&p, root, "1:", err), -1);
	assert_int_equal(privs_resolve_user(&p, root, ":1", err), -1);
	/* Names need the passwd file; numbers do not. */
	char bare[300];
	snprintf(bare, sizeof bare, "%s/nonexistent", root);
	assert_int_equal(privs_resolve_user(&p, bare, "web", err), -1);
	assert_non_null(strstr(err, "cannot resolve user `web`"));
	assert_int_equal(privs_resolve_user(&p, bare, "65532:65532", err), 0);
}

static void test_caps_parse(void **state)
{
	struct privs_cfg p = { 0 };
	char err[INIT_ERRLEN];
	assert_int_equal(privs_parse_caps(&p, "NET_BIND_SERVICE,cap_chown, Cap_Kill", err), 0);
	assert_int_equal(p.keep, (1ull << 10) | (1ull << 0) | (1ull << 5));
	assert_int_equal(p.drop_caps, 1);
	assert_int_equal(privs_parse_caps(&p, "", err), 0);
	assert_int_equal(p.keep, 0);
	assert_int_equal(privs_parse_caps(&p, "net_bind_servic", err), -1);
	assert_non_null(strstr(err, "unknown capability `net_bind_servic`"));
	assert_int_equal(privs_parse_caps(&p, "CAP_", err), -1);
	assert_int_equal(privs_parse_caps(&p, "10", err), -1);
}

/* The order crun and bubblewrap use; seccomp strictly last. */
static void test_apply_order(void **state)
{
	struct privs_cfg p = { .change_user = 1, .uid = 65532, .gid = 65532, .ngroups = 1,
	                       .groups = { 65532 }, .drop_caps = 1, .keep = 1ull << 10,
	                       .no_new_privs = 1 };
	struct sock_filter f[1] = { { 6, 0, 0, 0x7fff0000 } };
	char err[INIT_ERRLEN];
	p.filter = f;
	p.filter_len = 1;
	fake_bound = ((1ull << 14) - 1) & ~(1ull << 3); /* caps 0..13 but 3 */
	assert_int_equal(privs_apply(&p, err), 0);
	/* Every capability still in the bounding set but the kept one leaves
	 * it, then the rest in the fixed order. */
	char want[2048] = "";
	for (int c = 0; c <= 13; c++)
		if (c != 10 && c != 3)
			snprintf(want + strlen(want), sizeof want - strlen(want), "drop_bound(%d) ", c);
	strcat(want, "keepcaps(1) setgroups(65532) setresgid(65532) setresuid(65532) "
	             "capset(1024) ambient_clear(0) ambient_raise(10) keepcaps(0) no_new_privs(1) "
	             "seccomp(1)");
	assert_string_equal(fake_log, want);
	assert_int_equal(fake_bound, 1ull << 10);
}

static void test_apply_nonroot_init(void **state)
{
	/* A nonroot init (no CAP_SETPCAP) asked for its own user: no bounding
	 * drop, no setgroups, and no keep-caps since nothing is kept. */
	struct privs_cfg p = { .change_user = 1, .uid = 65532, .gid = 65532, .ngroups = 1,
	                       .groups = { 65532 }, .drop_caps = 1, .no_new_privs = 1 };
	char err[INIT_ERRLEN];
	fake_has_setpcap = 0;
	fake_groups_equal = 1;
	assert_int_equal(privs_apply(&p, err), 0);
	assert_string_equal(fake_log, "setresgid(65532) setresuid(65532) capset(0) "
	                              "ambient_clear(0) no_new_privs(1)");
}

static void test_apply_fails_closed(void **state)
{
	static const char *const steps[] = { "drop_bound", "keepcaps", "setgroups", "setresgid",
		"setresuid", "capset", "ambient_clear", "ambient_raise", "no_new_privs", "seccomp" };
	struct sock_filter f[1] = { { 6, 0, 0, 0x7fff0000 } };
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		struct privs_cfg p = { .change_user = 1, .uid = 1, .gid = 2, .ngroups = 1,
		                       .groups = { 2 }, .drop_caps = 1, .keep = 1,
		                       .no_new_privs = 1, .filter = f, .filter_len = 1 };
		char err[INIT_ERRLEN] = "";
		fake_reset();
		fake_fail = steps[i];
		assert_int_equal(privs_apply(&p, err), -1);
		assert_true(strncmp(err, "cannot ", 7) == 0);
		assert_non_null(strstr(err, "Operation not permitted"));
		/* Nothing after the failed step ran: the filter never loads
		 * unless it is the failing step itself. */
		const char *last = strrchr(fake_log, ' ');
		last = last ? last + 1 : fake_log;
		assert_true(strncmp(last, steps[i], strlen(steps[i])) == 0);
	}
}

/* Under qemu-user seccomp() is ENOSYS and PR_SET_SECCOMP EINVAL, which
 * sys_seccomp_load reports as ENOSYS: still fail closed, but say that this
 * looks like emulation and what to do; a program the kernel refuses keeps
 * its own advice. */
static void test_apply_seccomp_missing_says_emulation(void **state)
{
	struct sock_filter f[1] = { { 6, 0, 0, 0x7fff0000 } };
	struct privs_cfg p = { .change_user = 1, .uid = 65532, .gid = 65532, .ngroups = 1,
	                       .groups = { 65532 }, .drop_caps = 1, .no_new_privs = 1,
	                       .filter = f, .filter_len = 1 };
	char err[INIT_ERRLEN] = "";
	fake_fail = "seccomp";
	fake_errno = ENOSYS;
	assert_int_equal(privs_apply(&p, err), -1);
	assert_non_null(strstr(fake_log, "no_new_privs(1) seccomp(1)"));
	assert_true(strncmp(err, "cannot load the seccomp filter: ", 32) == 0);
	static const char *const want[] = { "looks like emulation", "qemu-user",
		"does not implement seccomp", "run the image natively", "without --policy" };
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		if (!strstr(err, want[i]))
			fail_msg("`%s` not in: %s", want[i], err);
	/* The same message from the loader the service child and the exec
	 * probes use. */
	char err2[INIT_ERRLEN];
	fake_reset();
	fake_fail = "seccomp";
	fake_errno = ENOSYS;
	assert_int_equal(filter_load(f, 1, err2), -1);
	assert_int_equal(errno, ENOSYS);
	assert_string_equal(err, err2);

	/* And from the check made before anything starts. */
	fake_reset();
	assert_int_equal(filter_check_available(err2), 0);
	fake_seccomp_available = 0;
	assert_int_equal(filter_check_available(err2), -1);
	assert_string_equal(err, err2);
	assert_string_equal(fake_log, ""); /* a check: nothing was loaded */

	fake_reset();
	fake_fail = "seccomp";
	fake_errno = EINVAL;
	assert_int_equal(filter_load(f, 1, err2), -1);
	assert_non_null(strstr(err2, "Invalid argument (the kernel rejects the program"));
	assert_null(strstr(err2, "emulation"));
}

static void test_apply_nothing(void **state)
{
	struct privs_cfg p = { 0 };
	char err[INIT_ERRLEN];
	assert_int_equal(privs_apply(&p, err), 0);
	assert_string_equal(fake_log, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_numeric_user, setup, teardown),
		cmocka_unit_test_setup_teardown(test_named_user_and_groups, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_users, setup, teardown),
		cmocka_unit_test_setup_teardown(test_caps_parse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_apply_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_apply_nonroot_init, setup, teardown),
		cmocka_unit_test_setup_teardown(test_apply_fails_closed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_apply_seccomp_missing_says_emulation, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_apply_nothing, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
