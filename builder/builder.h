/* builder: the mkimage CLI, ELF inspection and the static build drivers.
 *
 * Library code here (elf.c, build.c, compose.c, opts.c) never prints and
 * never exits.  Errors follow rootfs/error.h: 0 or -1 with the caller's
 * struct mb_err filled (`return mb_error(err, errno, "cannot open `%s`",
 * p);`, mb_wrap to add context, mb_usage for a bad command line), a
 * lowercase message naming the object, plus a hint where the user can fix
 * it.  Only main.c and the cmd_* front ends print err.msg, prefixed
 * `mkimage: `, and exit 2 (MK_EXIT_USAGE) when err.usage is set, else 1.
 *
 * The path of `mkimage --static ./app -o out.tar`, from main() to the
 * renamed output, file by file:
 *   main.c       main -> dispatch -> cmd_image: start_command (parse), then
 *                mk_image (call), then the `done` lines (print) and --push
 *   opts.c       mk_opts_parse, mk_opts_validate (the init's own grammar:
 *                init/grammar.c, init/parse.c; envcheck.c for --env),
 *                mk_platforms_parse; build.c build_detect, build_app_name
 *   pipeline.c   mk_image, the one owner of the pipeline: every default
 *                resolved once (SOURCE_DATE_EPOCH, -o, -t, the layer cache,
 *                each platform's init read and checked once: mk_init_load),
 *                then per platform build_one and mk_compose
 *   build.c      build_app (build_go.c, build_c.c; util.c runs the tools,
 *                elf.c checks the result) into a temporary directory
 *   compose.c    mk_compose: the binary read once and checked static on the
 *                bytes that go in (elf.c), the policy (policies/), the two
 *                layers (rootfs/: skeleton.c, tree.c, layer.c, gzip.c,
 *                spool.c, cache.c), the config, the SBOM (sbom_image.c)
 *   images/      write.c image_write (json.c, blob.c, layout.c): written
 *                under rootfs_temp_make's name, fsync'ed, renamed into
 *                place by rootfs_replace_file (rootfs/files.c).
 * New code follows the folder's conventions: a helper is written once, in
 * the lowest folder its callers may use (rootfs/files.c for files, strv.c
 * for string lists), and a front end only parses, calls and prints. */
#ifndef MINBASE_BUILDER_H
#define MINBASE_BUILDER_H

#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "../images/images.h"

/* Exit codes of mkimage (documented in `mkimage help exit-codes`). */
#define MK_EXIT_OK 0
#define MK_EXIT_FAIL 1
#define MK_EXIT_USAGE 2

/* Subcommands.  argv[0] is the subcommand name; each returns an exit code. */
int cmd_policy(int argc, char **argv);   /* mkimage policy compile|export|learn|... */
int cmd_build(int argc, char **argv);    /* mkimage build APP -o BINARY */
int cmd_image(int argc, char **argv);    /* mkimage --static APP -o OUT ... */
int cmd_inspect(int argc, char **argv);  /* mkimage inspect IMAGE */
int cmd_help(int argc, char **argv);     /* mkimage help [TOPIC] */
struct mk_opts;
struct mk_remote;
int cmd_push(int argc, char **argv);     /* mkimage push IMAGE REF (cmd_push.c) */
int cmd_pull(int argc, char **argv);     /* mkimage pull REF -o OUT (cmd_pull.c) */
/* After a build with --push: pushes the image written at path, prints
 * progress to stderr and REF@DIGEST on stdout.  0, or -1 with err. */
int mk_push_built(const struct mk_opts *o, const char *path, struct mb_err *err);
/* --base: opens o->base for o->arch (cmd_push.c). */
struct image_base;
int mk_base_open(const struct mk_opts *o, struct image_base **b, struct mb_err *err);
/* Checks the registry options (mkimage --push, push, pull). */
int mk_remote_validate(const struct mk_remote *r, struct mb_err *err);
/* getopt_long entries of the registry options, and their parser: 1 when c
 * was one of them, 0 when not, -1 out of memory. */
enum { MK_RO_CA = 300, MK_RO_INSECURE, MK_RO_RETRY };
#define MK_REMOTE_LONGOPTS \
	{ "registry-ca", required_argument, NULL, MK_RO_CA }, \
	{ "insecure-registry", required_argument, NULL, MK_RO_INSECURE }, \
	{ "retry-time", required_argument, NULL, MK_RO_RETRY }
int mk_remote_option(int c, const char *arg, struct mk_remote *m);
/* The getopt loop of `push` and `pull` (cmd_push.c): the registry options
 * go to m, -h shows the registry topic, a missing value or an unknown
 * option is a usage error.  Returns the next of the command's own options,
 * -1 at their end, or MK_RO_STOP with *rc the exit code to return (what
 * was wrong already printed).  opterr = 0 and optind = 0 before the first
 * call. */
#define MK_RO_STOP (-2)
/* A usage error of `push` or `pull`, printed with the pointer to their
 * help; returns MK_EXIT_USAGE. */
int mk_remote_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
struct option;
int mk_remote_getopt(int argc, char **argv, const char *shortopts, const struct option *lo,
                     struct mk_remote *m, int *rc);
void mk_remote_free(struct mk_remote *m);

/* ---- ELF inspection (elf.c) ------------------------------------------- */

enum elf_link {
	ELF_LINK_STATIC = 0,     /* ET_EXEC, no PT_INTERP, no DT_NEEDED */
	ELF_LINK_STATIC_PIE,     /* ET_DYN, no PT_INTERP, no DT_NEEDED: accepted */
	ELF_LINK_DYNAMIC,        /* has an interpreter or needed libraries */
};

struct elf_info {
	enum elf_link link;
	unsigned machine;        /* e_machine */
	const char *arch;        /* "amd64", "arm64", or NULL for other machines */
	int elfclass;            /* 32 or 64 */
	char *interp;            /* PT_INTERP, or NULL */
	char **needed;           /* DT_NEEDED, NULL-terminated (never NULL itself) */
	size_t nneeded;
	const char *toolchain;   /* best guess: "go", "rust", "c/musl", "c/glibc", "c", NULL */
};

/* Reads path and fills info.  Fails (negative, err filled) when the file
 * is missing, a directory, not ELF (a `#!` script gets its own message),
 * truncated or corrupt. */
int elf_inspect(const char *path, struct elf_info *info, struct mb_err *err);
void elf_info_free(struct elf_info *info);

/* elf_inspect + refuses a dynamic binary (naming interpreter, libraries,
 * the toolchain and the flag that makes it static), a binary for another
 * architecture than arch ("amd64"/"arm64"), or a non-executable ELF.
 * info may be NULL. */
int elf_check_static(const char *path, const char *arch,
                     struct elf_info *info, struct mb_err *err);
/* elf_check_static of path, its verdict naming name instead (the app a
 * temporary file was built from; a file that cannot be read is named as
 * it is). */
int elf_check_static_as(const char *path, const char *name, const char *arch,
                        struct elf_info *info, struct mb_err *err);
/* The same on a file already read (size bytes at raw, then a NUL; named
 * path in messages): the caller puts those very bytes into the image, so what was
 * checked is what ships, and the file is read once. */
int elf_inspect_mem(const char *path, const void *raw, size_t size, struct elf_info *info,
                    struct mb_err *err);
int elf_check_static_mem(const char *path, const void *raw, size_t size, const char *arch,
                         struct elf_info *info, struct mb_err *err);

/* "x86_64" -> "amd64", "aarch64" -> "arm64", "amd64"/"arm64" as is; NULL if unknown. */
const char *arch_normalize(const char *arch);
/* The host's architecture as an OCI name. */
const char *arch_host(void);
/* "amd64" -> "x86_64", "arm64" -> "aarch64" (the names policies/ use). */
const char *arch_kernel_name(const char *oci_arch);

/* ---- static build drivers (build.c, build_go.c, build_c.c) ------------ */

enum app_kind {
	APP_ELF = 0,     /* a prebuilt ELF file */
	APP_GO,          /* a Go package directory inside a module (go.mod here or above) */
	APP_C_FILE,      /* one .c file */
	APP_C_DIR,       /* a directory of .c files */
	APP_MAKEFILE,    /* a directory with a Makefile */
	APP_CMAKE,       /* a directory with CMakeLists.txt */
};

/* Go build information of a binary (goinfo.c): what `go version -m` shows. */
struct go_module {
	char *path, *version, *sum;  /* sum: "h1:..." or "" (the main module, vendored) */
};
struct go_buildinfo {
	char *go_version;            /* "go1.23.5" */
	char *main_path;             /* the main package's import path */
	struct go_module main;       /* the main module ("(devel)" when not a release) */
	struct go_module *deps;      /* every module linked in, replacements applied */
	size_t ndeps;
};
/* 1 and bi filled when buf holds Go build information, 0 when it is no Go
 * binary, -1 (err filled) when the information is there but unreadable. */
int go_buildinfo_read(const unsigned char *buf, size_t len, struct go_buildinfo *bi, struct mb_err *err);
void go_buildinfo_free(struct go_buildinfo *bi);

/* The SBOM's facts (sbom.c): what the image holds, as SPDX packages for
 * images/sbom.c.  Byte buffers are what goes into the image, so that the
 * checksums are those of the files there. */
struct sbom_inputs {
	const char *image_name;          /* "name:tag" */
	const char *image_version;       /* the tag, or NULL */
	const unsigned char *init;       /* /usr/bin/minbase-init, or NULL */
	size_t init_len;
	bool ca, extra_ca, tzdata, busybox;
	const unsigned char *app;        /* the service binary, or NULL (a base image) */
	size_t app_len;
	const char *app_name, *app_path; /* "server", "/app/server" */
	bool app_musl;                   /* a C service mkimage linked with musl */
	const char *deb_arch;            /* Debian arch of the image (for musl-dev:ARCH) */
};
struct sbom_build {
	struct sbom_package *pkgs;
	size_t n;
	struct sbom_strings { char **s; size_t n; } pool;  /* the strings pkgs point to */
	struct sbom_extdoc ext;  /* the base's own SBOM (sbom_base.c); ext.ns NULL: none */
};
int sbom_collect(const struct sbom_inputs *in, struct sbom_build *b, struct mb_err *err);
int sbom_add(struct sbom_build *b, const char *name, const char *version, const char *purl,
             const char *license, const char *sha256, const char *comment, long parent);
void sbom_build_free(struct sbom_build *b);
/* The image's SBOM packages (sbom_image.c) from the files that go in it
 * (init and binary may be NULL); b stays empty with --sbom none. */
bool mk_sbom_wanted(const struct mk_opts *o);
int mk_sbom_packages(const struct mk_opts *o, const char *init, const char *binary,
                     const char *name, bool busybox, struct sbom_build *b, struct mb_err *err);
/* The same from the bytes that go in (NULL: none). */
int mk_sbom_packages_mem(const struct mk_opts *o, const unsigned char *init, size_t init_len,
                         const unsigned char *app, size_t app_len, const char *name,
                         bool busybox, struct sbom_build *b, struct mb_err *err);
/* ca: the image holds our CA bundle (and --tzdata's zoneinfo): not so on a
 * --base, whose files the base's SBOM describes. */
int mk_sbom_packages_with(const struct mk_opts *o, const unsigned char *init, size_t init_len,
                          const unsigned char *app, size_t app_len, const char *name,
                          bool busybox, bool ca, struct sbom_build *b, struct mb_err *err);
/* The same for an image on a --base (sbom_base.c): the service (and the
 * init when ours adds it) as above, no CA bundle (the base's), then the
 * base image as a package (reference, manifest digest, pkg:oci purl) that
 * contains the packages of the base's own SBOM, copied, with the document
 * itself referenced (b->ext). */
int mk_sbom_packages_base(const struct mk_opts *o, const struct image_base *base,
                          const unsigned char *init, size_t init_len, const unsigned char *app,
                          size_t app_len, const char *name, struct sbom_build *b, struct mb_err *err);
/* The pool's copy of s (NULL stays NULL; b's strings live as long as b). */
const char *sbom_strdup(struct sbom_build *b, const char *s);
/* --sbom FILE: the document of the image with that manifest digest. */
int mk_sbom_write_file(const struct mk_opts *o, const struct sbom_build *b,
                       const char *manifest_digest, int64_t created, struct mb_err *err);

/* Classifies app (file or directory); err explains what is not buildable. */
int build_detect(const char *app, enum app_kind *kind, struct mb_err *err);
const char *build_kind_name(enum app_kind kind);

struct build_opts {
	const char *app;         /* source (file/dir) or prebuilt ELF */
	const char *arch;        /* OCI arch, "amd64" or "arm64" */
	const char *cache_dir;   /* NULL = Go's own caches; C: $XDG_CACHE_HOME/minbase... */
	const char *sysroot;     /* NULL = MINBASE_SYSROOT or relative to the exe */
	const char *out;         /* where the binary goes (temp + rename) */
	const char *bin;         /* --bin: the program to take from a Makefile/CMake build */
	const char *go;          /* --go: the go command to use */
	const char *ldflags;     /* --ldflags: added before minbase's own -s -w -buildid= */
	const char *tags;        /* --tags: comma-separated build tags */
	bool quiet;              /* do not pass the compiler's output through */
	char *built_name;        /* out: the program's name when the build found it
	                            (Makefile/CMake), malloc'd, else NULL */
};

/* Builds (or, for APP_ELF, copies) the app to o->out and checks that the
 * result is static for o->arch.  Nothing is left at o->out on failure.
 * The compiler's diagnostics go to stderr (that is the point of them);
 * the summary goes in err.  The user's source tree is never written. */
int build_app(struct build_opts *o, enum app_kind *kind, struct mb_err *err);

/* The name the service gets in /app: the binary's base name, the Go
 * package's (its directory, or the module path's last element at the
 * module root, as `go build` names it), the dir or file base name for C
 * sources ("server.c" -> "server"); a Makefile's program replaces it once
 * built (built_name). */
char *build_app_name(const char *app, enum app_kind kind);
/* The cache directory (created, absolute): opt_dir (--cache),
 * $XDG_CACHE_HOME/minbase or ~/.cache/minbase. */
int build_cache_dir(const char *opt_dir, char *buf, size_t len, struct mb_err *err);

/* The one name sanitiser (build.c), malloc'd: MK_NAME_FILE keeps what a
 * file name in /app can hold (letters, digits, `-`, `_`, `.`; any other run
 * becomes one `-`); MK_NAME_REF makes of that a component of an image
 * reference as well: lowercase, and the separator runs the grammar refuses
 * ("..", "___", "._", a leading one) turned into one `-`, so that `docker
 * load` accepts the RepoTag.  Nothing left becomes "app". */
enum mk_name_kind { MK_NAME_FILE, MK_NAME_REF };
char *mk_clean_name(const char *s, size_t len, enum mk_name_kind kind);

/* Shared by the drivers (build*.c only). */
bool build_has_suffix(const char *s, const char *suf);
bool build_file_in(const char *dir, const char *name);
/* The regular files directly in dir whose names end in suffix, sorted. */
char **build_list_files(const char *dir, const char *suffix, size_t *n);
/* The module root above (or at) dir: the nearest directory with go.mod. */
int build_go_root(const char *dir, char *root, size_t len);
char *build_go_name(const char *dir);
int build_go(struct build_opts *o, const char *dir, const char *tmp, struct mb_err *err);
/* From go's output, the module it could not find ("example.com/x@v1.0.0"
 * or the package's path), into w; NULL when nothing is missing. */
const char *build_go_missing_module(const char *out, char *w, size_t len);
/* Compares Go versions ("1.22", "go1.23.5", "1.21rc1"): -1, 0, 1; -2 if bad. */
int build_go_version_cmp(const char *a, const char *b);
int build_c(struct build_opts *o, enum app_kind kind, const char *dir, const char *file,
            const char *tmp, struct mb_err *err);
int build_make(struct build_opts *o, const char *dir, const char *tmp, struct mb_err *err);
int build_cmake(struct build_opts *o, const char *dir, const char *tmp, struct mb_err *err);

/* ---- small helpers (util.c) ------------------------------------------- */

/* The command's own voice on stderr, "mkimage: " first (util.c): die
 * prints the message and returns code, for `return mk_die(...)` in the
 * commands; say is a progress line that --quiet silences. */
int mk_die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
struct mk_opts;
void mk_say(const struct mk_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A growable NULL-terminated list of owned strings, its count beside it
 * (strv.c): push appends a copy (-1 when out of memory); free takes the
 * list (NULL too).  struct strv holds the pair (zero-initialise it):
 * add/addf append a copy, -1 and nomem set when out of memory (a command
 * line may ignore that: util_run_strv refuses it); clear frees it. */
int strv_push(char ***v, size_t *n, const char *s);
void strv_free(char **v);
struct strv {
	char **v;                /* NULL-terminated once anything was added */
	size_t n;
	bool nomem;
};
int strv_add(struct strv *s, const char *str);
int strv_addf(struct strv *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strv_clear(struct strv *s);

/* Directory of the running executable (/proc/self/exe), malloc'd. */
char *util_self_dir(void);
/* Monotonic seconds. */
double util_now(void);
/* "4.4 MiB" style, into buf. */
const char *util_human_size(uint64_t n, char *buf, size_t len);
/* Copies (copy.c), cloned where the filesystem can: one regular file with
 * its mode; a whole tree as `cp -a` would (modes, times, symlinks as
 * links), into to, which is made. */
int util_copy_file(const char *from, const char *to, struct mb_err *err);
int util_copy_tree(const char *from, const char *to, struct mb_err *err);
/* Runs argv (execvp) with extra environment entries envp_add ("K=V", may be
 * NULL) in dir (may be NULL); stdout goes to stderr so that mkimage's own
 * stdout stays clean.  Returns the exit status, or -1 with err filled. */
int util_run(char *const argv[], char *const envp_add[], const char *dir,
             struct mb_err *err);
/* util_run, and when cap is not NULL the first caplen-1 bytes the tool
 * wrote (stdout and stderr, still passed on to our stderr) in cap. */
int util_run_tee(char *const argv[], char *const envp_add[], const char *dir,
                 char *cap, size_t caplen, struct mb_err *err);
/* Runs argv in dir with its output (stdout and stderr) into out only, not
 * shown: for questions to a tool (`go list`).  Returns the exit status. */
int util_run_capture(char *const argv[], const char *dir, char *out, size_t outlen,
                     struct mb_err *err);
/* snprintf into a path buffer: -1 when it does not fit (never cut). */
int util_pathf(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* util_run_tee of the command line a (strv.c's list: a directory may hold
 * any number of C files, none is ever dropped), with env's entries added
 * to the environment; refused when either ran out of memory. */
int util_run_strv(const struct strv *a, const struct strv *env, const char *dir,
                  char *cap, size_t caplen, struct mb_err *err);
/* On SIGINT/SIGTERM/SIGHUP, remove the registered temporary directories
 * (each with at most one file in it) and die of the signal: an interrupted
 * build leaves nothing behind.  push returns a slot for pop, or -1. */
void util_cleanup_on_signal(void);
int util_cleanup_push(const char *dir, const char *file);
/* The temporary output of image_write/image_set_write is not one the signal
 * handler knows: hold SIGINT/SIGTERM/SIGHUP while it exists, so an interrupt
 * comes before it (nothing written) or after the rename (a complete image),
 * then kills us.  release restores the mask hold saved. */
void util_interrupts_hold(sigset_t *old);
void util_interrupts_release(const sigset_t *old);
void util_cleanup_pop(int slot);
/* The signal that interrupted a build tool (then util_run fails and the
 * caller cleans up as for any error), or 0. */
int util_interrupted(void);
/* rm -rf, not following symlinks; errors ignored (cleanup only). */
void util_rm_rf(const char *path);
/* Whether an executable named prog is on PATH (or is a path that exists). */
bool util_have_program(const char *prog);

/* ---- option parsing and image composition (opts.c, compose.c) --------- */

struct mk_health {
	const char *http, *tcp, *exec;
	const char *grpc, *grpc_service;                /* --health-grpc HOST:PORT, NAME */
	const char *interval, *timeout, *start_period;  /* as given: "30s" */
	int retries;                                    /* -1 = unset */
};

/* Registry options shared by --push, `push` and `pull` (cmd_push.c). */
struct mk_remote {
	const char *ca;          /* --registry-ca FILE */
	char **insecure; size_t ninsecure;  /* --insecure-registry HOST[:PORT] */
	const char *retry_time;  /* --retry-time DURATION, default 2m */
};

#define MK_MAX_PLATFORMS 4

struct mk_opts {
	const char *app;         /* --static APP / build APP */
	const char *push;        /* --push REF */
	const char *base;        /* --base REF|FILE */
	struct mk_remote remote;
	const char *out;         /* -o */
	const char *tag;         /* default NAME:latest */
	const char *format;      /* "docker" (archive) or "oci" (layout dir) */
	const char *arch;        /* OCI arch; default host (--arch: may be a list "amd64,arm64") */
	const char *platform;    /* --platform linux/amd64,linux/arm64 (or NULL) */
	const char *load_platform; /* --load-platform: the image manifest.json names */
	const char *sbom;        /* --sbom FILE: the SBOM also there; "none": no SBOM */
	bool app_musl;           /* the service is C that mkimage linked with musl */
	const char *user;        /* numeric UID:GID, default 65532:65532 */
	const char *workdir;     /* default /app */
	const char *cache_dir;
	const char *bin, *go, *ldflags, *tags;   /* --bin, --go, --ldflags, --tags */
	const char *ca_file;
	const char *policy;      /* shipped name or JSON file */
	const char *caps;        /* comma-separated, "" = none */
	bool caps_set;
	bool no_init;
	bool tzdata;
	bool quiet;
	const char *entrypoint;  /* --entrypoint: program (and args, space-separated)
	                            started instead of /app/NAME */
	char **ports; size_t nports;
	char **env; size_t nenv;
	char **labels; size_t nlabels;
	char **adds; size_t nadds;          /* "SRC:DST" */
	char **writable; size_t nwritable;  /* "/data" */
	char **args; size_t nargs;          /* after -- */
	struct mk_health health;
	const char *plats[MK_MAX_PLATFORMS]; /* parsed by start_command */
	size_t nplats;
};

void mk_opts_init(struct mk_opts *o);
void mk_opts_free(struct mk_opts *o);
/* Parses the options of `mkimage [--static] APP` (image = true) or of
 * `mkimage build APP` (image = false).  Returns 0, 1 when --help was asked
 * (nothing else done), or -1 with err filled (err->usage: a usage error). */
int mk_opts_parse(int argc, char **argv, bool image, struct mk_opts *o,
                  struct mb_err *err);
/* Checks values: port syntax, K=V, numeric user, absolute paths, durations. */
int mk_opts_validate(const struct mk_opts *o, struct mb_err *err);
/* Platforms: --arch (a comma list of OCI or kernel names) or --platform
 * (os/arch[/variant], comma list), at most one of them; neither = the host.
 * Fills out[] with the OCI arch names, in the order given, each once. */
int mk_platforms_parse(const char *arch, const char *platform, const char **out, size_t *n,
                       struct mb_err *err);
/* "linux/arm64", "linux/arm64/v8", "arm64", "aarch64" -> "arm64"; NULL if not ours. */
const char *mk_platform_arch(const char *p);
/* The OCI platform variant of an arch: "v8" for arm64, else NULL. */
const char *arch_variant(const char *oci_arch);

/* Duration "30s", "500ms", "1m30s", "2h", or plain seconds -> ns; -1 if bad. */
int64_t mk_parse_duration(const char *s);
/* --env entries for the init (MINBASE_*, TINI_*): valid by the init's own
 * grammar, and not contradicting an option (envcheck.c); a usage error if not. */
int mk_env_check(const struct mk_opts *o, struct mb_err *err);
/* Where the compiled policy goes in the image. */
#define SECCOMP_PATH "/etc/minbase/seccomp.bpf"

/* ---- the image pipeline (pipeline.c; its top comment walks the path) -- */

/* What mk_image made: the image's (or, for several platforms, the index's)
 * digest and sizes, and the defaults it resolved, which o->out and o->tag
 * point to until mk_result_free. */
struct mk_result {
	char manifest_digest[80];
	uint64_t compressed, uncompressed;
	char *name;              /* the service name in /app */
	char *out, *tag;         /* the default -o and -t, when the user gave none */
	char pushdir[PATH_MAX];  /* --push without -o: the temporary layout's directory */
	char pushout[PATH_MAX + 8];
};
/* `mkimage --static APP` (--arch a,b: one image per platform under one
 * index at o->out): resolves every default once, builds, composes and
 * writes.  The caller prints (and pushes) what res says.  -1 with err
 * filled (err->usage when the options ask for an image that cannot be: a
 * refused --add). */
int mk_image(struct mk_opts *o, enum app_kind kind, const char *name, struct mk_result *res,
             struct mb_err *err);
/* Removes the temporary push layout and frees the defaults. */
void mk_result_free(struct mk_result *res);
/* --format's enum: "oci" a layout directory, else the archive. */
enum image_format mk_image_format(const char *format);
/* The error of a prebuilt binary given for several platforms; -1. */
int mk_need_sources(const struct mk_opts *o, struct mb_err *err);

/* The init of an image, read once and checked static for its arch, so
 * that the bytes checked are the bytes that go in:
 * $MINBASE_INIT_ARM64 (_AMD64), $MINBASE_INIT, else minbase-init beside
 * mkimage or in the build tree's / install's ARCH directory. */
struct mk_init {
	unsigned char *bytes;
	size_t len;
	char path[PATH_MAX];
};
int mk_init_load(const char *arch, struct mk_init *in, struct mb_err *err);
void mk_init_free(struct mk_init *in);
/* A whole regular file, read once (a NUL after its bytes): a binary that
 * is checked and then put in a layer from these very bytes. */
int mk_read_file(const char *path, unsigned char **out, size_t *len, struct mb_err *err);
/* SOURCE_DATE_EPOCH: unset or empty gives 0; a malformed value is an error. */
int mk_source_date_epoch(int64_t *out, struct mb_err *err);

/* One platform's image as the pipeline hands it to compose.c, every
 * default resolved. */
struct mk_image_in {
	const char *binary;      /* the service binary: read and checked by compose, once */
	const char *name;        /* its name: /app/NAME */
	struct mk_init *init;    /* NULL: --no-init; compose takes its bytes */
	int64_t epoch;           /* SOURCE_DATE_EPOCH: every mtime and the config's created */
	const char *cache_dir;   /* the layer cache, NULL: none */
};
/* Composes the image of in (o->arch) and writes it at o->out, or with set
 * adds it to that index instead.  -1 on failure; a usage error
 * (err->usage) when the options ask for an image that cannot be (an --add
 * onto what mkimage writes, or changing a base directory). */
struct image_set;
int mk_compose(const struct mk_opts *o, struct mk_image_in *in, struct image_set *set,
               struct mk_result *res, struct mb_err *err);

/* ---- several platforms (platforms.c) ---------------------------------- */
/* `mkimage build APP --arch amd64,arm64 -o DIR`: DIR/linux_ARCH/NAME. */
int mk_build_platforms(struct mk_opts *o, enum app_kind kind, const char *name);
/* The base layer's tree (compose.c): skeleton, CA, the init's bytes
 * (*init NULL: none; handed to the tree and set to NULL) and with it the shipped policies. */
struct rootfs_tree;
int mk_build_base(const struct mk_opts *o, unsigned char **init, size_t init_len,
                  struct rootfs_tree *t, struct mb_err *err);
/* `mkimage base` (cmd_base.c), and the shipped policies precompiled for
 * arch at /etc/minbase/policies/NAME.bpf. */
int cmd_base(int argc, char **argv);
int mk_base_add_policies(struct rootfs_tree *t, const char *arch, struct mb_err *err);

#endif
