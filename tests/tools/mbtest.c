/* mbtest: a small static multi-call helper that goes inside test images,
 * so integration tests need no shell there (after crun's tests/init.c).
 *
 *   mbtest echo ARGS...     print ARGS separated by spaces
 *   mbtest id               "uid=U gid=G groups=G1,G2"
 *   mbtest env [NAME]       print the environment, or one variable's value
 *   mbtest stat PATH...     "PATH mode=0OOOO uid=U gid=G type=file|dir|link"
 *   mbtest cat PATH         copy a file to stdout
 *   mbtest cwd              print the working directory
 *   mbtest exit N           exit with status N
 *   mbtest connect HOST PORT  exit 0 when a TCP connection succeeds
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

static int cmd_id(void)
{
	gid_t groups[64];
	int n = getgroups(64, groups);
	printf("uid=%u gid=%u groups=", (unsigned)getuid(), (unsigned)getgid());
	for (int i = 0; i < n; i++)
		printf("%s%u", i ? "," : "", (unsigned)groups[i]);
	putchar('\n');
	return 0;
}

static int cmd_stat(int argc, char **argv)
{
	int rc = 0;
	for (int i = 0; i < argc; i++) {
		struct stat st;
		if (lstat(argv[i], &st) < 0) {
			printf("%s error=%s\n", argv[i], strerror(errno));
			rc = 1;
			continue;
		}
		const char *type = S_ISDIR(st.st_mode) ? "dir" : S_ISLNK(st.st_mode) ? "link"
				 : S_ISREG(st.st_mode) ? "file" : "other";
		printf("%s mode=%04o uid=%u gid=%u type=%s\n", argv[i],
		       (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid,
		       (unsigned)st.st_gid, type);
	}
	return rc;
}

static int cmd_cat(const char *path)
{
	char buf[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "mbtest: cannot open `%s`: %s\n", path, strerror(errno));
		return 1;
	}
	while ((n = read(fd, buf, sizeof buf)) > 0)
		fwrite(buf, 1, (size_t)n, stdout);
	close(fd);
	return n < 0;
}

static int cmd_connect(const char *host, const char *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port)) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return 2;
	int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 ? 0 : 1;
	close(fd);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs("usage: mbtest echo|id|env|stat|cat|cwd|exit|connect ...\n", stderr);
		return 2;
	}
	const char *c = argv[1];
	if (!strcmp(c, "echo")) {
		for (int i = 2; i < argc; i++)
			printf("%s%s", i > 2 ? " " : "", argv[i]);
		putchar('\n');
		return 0;
	}
	if (!strcmp(c, "id"))
		return cmd_id();
	if (!strcmp(c, "env")) {
		if (argc > 2) {
			const char *v = getenv(argv[2]);
			if (v)
				puts(v);
			return v ? 0 : 1;
		}
		for (char **e = environ; *e; e++)
			puts(*e);
		return 0;
	}
	if (!strcmp(c, "stat"))
		return cmd_stat(argc - 2, argv + 2);
	if (!strcmp(c, "cat") && argc == 3)
		return cmd_cat(argv[2]);
	if (!strcmp(c, "cwd")) {
		char buf[PATH_MAX];
		if (!getcwd(buf, sizeof buf))
			return 1;
		puts(buf);
		return 0;
	}
	if (!strcmp(c, "exit") && argc == 3)
		return atoi(argv[2]);
	if (!strcmp(c, "connect") && argc == 4)
		return cmd_connect(argv[2], argv[3]);
	fprintf(stderr, "mbtest: unknown command `%s`\n", c);
	return 2;
}
