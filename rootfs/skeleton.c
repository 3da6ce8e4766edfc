/* rootfs skeleton: the distroless/static:nonroot equivalent base. */
#include "rootfs_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_CA "/etc/ssl/certs/ca-certificates.crt"
#define ZONEINFO "/usr/share/zoneinfo"

static const char nsswitch[] =
	"passwd:         files\n"
	"group:          files\n"
	"shadow:         files\n"
	"hosts:          files dns\n"
	"networks:       files\n"
	"protocols:      files\n"
	"services:       files\n"
	"ethers:         files\n"
	"rpc:            files\n";

static int read_host(const char *path, const char *what, unsigned char **out, size_t *len, struct mb_err *err)
{
	struct stat st;
	int fd;

	do
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK); /* a fifo: refused, not waited on */
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return mb_error(err, 0, "cannot open %s `%s`: %s%s", what, path, strerror(errno),
		       errno == ENOENT ? " (install the ca-certificates package or name another bundle)" : "");
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		mb_error(err, 0, "cannot read %s `%s`: not a regular file", what, path);
		close(fd);
		return -1;
	}
	if (rootfs_read_fd(fd, out, len) < 0) {
		mb_error(err, errno, "cannot read %s `%s`", what, path);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static int add_ca(struct rootfs_tree *t, const struct rootfs_skeleton_opts *o, struct mb_err *err)
{
	unsigned char *ca, *extra = NULL;
	size_t ca_len, extra_len = 0;

	if (read_host(o->ca_bundle ? o->ca_bundle : DEFAULT_CA, "CA bundle", &ca, &ca_len, err) < 0)
		return -1;
	if (o->extra_ca) {
		if (read_host(o->extra_ca, "extra CA file", &extra, &extra_len, err) < 0) {
			free(ca);
			return -1;
		}
		if (!memmem(extra, extra_len, "-----BEGIN CERTIFICATE-----", 27)) {
			mb_error(err, 0, "cannot use extra CA file `%s`: no PEM certificate in it "
			       "(expected -----BEGIN CERTIFICATE-----)", o->extra_ca);
			free(ca);
			free(extra);
			return -1;
		}
		bool nl = ca_len && ca[ca_len - 1] != '\n';
		unsigned char *all = realloc(ca, ca_len + nl + extra_len + 1);
		if (!all) {
			mb_error(err, 0, "cannot add the CA bundle: out of memory");
			free(ca);
			free(extra);
			return -1;
		}
		ca = all;
		if (nl)
			ca[ca_len++] = '\n';
		memcpy(ca + ca_len, extra, extra_len);
		ca_len += extra_len;
		free(extra);
	}
	if (rootfs_add_dir(t, "/etc/ssl", 0755, 0, 0, err) < 0 ||
	    rootfs_add_dir(t, "/etc/ssl/certs", 0755, 0, 0, err) < 0) {
		free(ca);
		return -1;
	}
	return rootfs_tree_put(t, ROOTFS_CA_PATH, ROOTFS_FILE, 0644, 0, 0, ca, ca_len, NULL, err);
}

int rootfs_add_skeleton(struct rootfs_tree *t, const struct rootfs_skeleton_opts *o, struct mb_err *err)
{
	static const struct rootfs_skeleton_opts defaults = { MB_NONROOT_UID, MB_NONROOT_GID, NULL, NULL, NULL, false };
	char passwd[512], group[256], osrel[512];
	/* uid/gid 0 would make "nonroot" root: treat 0 as "the default". */
	if (!o)
		o = &defaults;
	uid_t uid = o->uid ? o->uid : MB_NONROOT_UID;
	gid_t gid = o->gid ? o->gid : MB_NONROOT_GID;
	const char *ver = o->version && *o->version ? o->version : "0";

	if (strpbrk(ver, "\"\\\n$`"))
		return mb_error(err, 0, "cannot write /etc/os-release: version `%s` has characters that need quoting", ver);
	snprintf(passwd, sizeof(passwd),
	         "root:x:0:0:root:/root:/sbin/nologin\n"
	         "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
	         "nonroot:x:%u:%u:nonroot:/home/nonroot:/sbin/nologin\n",
	         (unsigned)uid, (unsigned)gid);
	snprintf(group, sizeof(group),
	         "root:x:0:\n"
	         "tty:x:5:\n"
	         "staff:x:50:\n"
	         "nonroot:x:%u:\n"
	         "nobody:x:65534:\n",
	         (unsigned)gid);
	snprintf(osrel, sizeof(osrel),
	         "ID=minbase\n"
	         "NAME=\"minbase\"\n"
	         "VERSION_ID=\"%s\"\n"
	         "PRETTY_NAME=\"minbase %s (static, nonroot)\"\n",
	         ver, ver);

	if (rootfs_add_dir(t, "/etc", 0755, 0, 0, err) < 0 ||
	    rootfs_add_data(t, "/etc/passwd", passwd, strlen(passwd), 0644, 0, 0, err) < 0 ||
	    rootfs_add_data(t, "/etc/group", group, strlen(group), 0644, 0, 0, err) < 0 ||
	    rootfs_add_data(t, "/etc/nsswitch.conf", nsswitch, sizeof(nsswitch) - 1, 0644, 0, 0, err) < 0 ||
	    rootfs_add_data(t, "/etc/os-release", osrel, strlen(osrel), 0644, 0, 0, err) < 0 ||
	    rootfs_add_dir(t, "/tmp", 01777, 0, 0, err) < 0 ||
	    rootfs_add_dir(t, "/home", 0755, 0, 0, err) < 0 ||
	    rootfs_add_dir(t, "/home/nonroot", 0700, uid, gid, err) < 0 ||
	    rootfs_add_dir(t, "/root", 0700, 0, 0, err) < 0)
		return -1;
	if (add_ca(t, o, err) < 0)
		return -1;
	if (o->tzdata) {
		/* posix/ and right/ duplicate the whole database; localtime points
		 * at the host's /etc/localtime. */
		static const char *const skip[] = { "posix", "right", "localtime", NULL };
		if (rootfs_add_dir(t, "/usr", 0755, 0, 0, err) < 0 ||
		    rootfs_add_dir(t, "/usr/share", 0755, 0, 0, err) < 0)
			return -1;
		if (rootfs_walk_host(t, ZONEINFO, ZONEINFO, 0, 0, skip, true, err) < 0) {
			if (access(ZONEINFO, F_OK) < 0) {
				mb_error(err, 0, "cannot add zoneinfo: `%s` is missing (install the tzdata package)", ZONEINFO);
			}
			return -1;
		}
	}
	return 0;
}
