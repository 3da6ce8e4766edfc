/* `mkimage help [TOPIC]` and every `--help`: the manual, in the program. */
#include <stdio.h>
#include <string.h>

#include "builder.h"

static const char HELP_MAIN[] =
"usage: mkimage --static APP [-o OUT.tar] [IMAGE OPTIONS] [-- ARGS...]\n"
"       mkimage build APP [-o BINARY] [--arch ARCH] [--cache DIR]\n"
"       mkimage inspect IMAGE [--json]\n"
"       mkimage push IMAGE REF    (to a registry: `mkimage push --help`)\n"
"       mkimage pull REF -o OUT   (from a registry: `mkimage pull --help`)\n"
"       mkimage policy ...        (seccomp policies: `mkimage policy --help`)\n"
"       mkimage help [TOPIC]\n"
"       mkimage --help | --version\n"
"\n"
"Turns a service into a minimal, hardened container image without a Docker\n"
"daemon.  APP is a Go main package (a module's root or ./cmd/NAME), a C file,\n"
"a directory of C files, a Makefile or CMake project, or a prebuilt static ELF\n"
"binary.  The image holds\n"
"a distroless-like base (passwd, group, CA certificates, /tmp, no shell), the\n"
"minbase init as PID 1 and the service at /app/NAME, run as 65532:65532.\n"
"\n"
"Common options (see `mkimage help image` for all of them):\n"
"  --static APP          build APP (or check the binary) and make an image of it\n"
"  -o, --output PATH     the image: a tar for `docker load` and OCI tools\n"
"                        (default NAME.tar), or a directory with --format oci\n"
"  -t, --tag NAME:TAG    image reference (default NAME:latest)\n"
"      --format FMT      docker (one tar, also an OCI layout; default) or oci\n"
"  -p, --port N/tcp      exposed port        -e, --env K=V     environment\n"
"  -u, --user UID:GID    numeric user (default 65532:65532)\n"
"  -q, --quiet           no progress lines (errors always print)\n"
"      --push REF        push the image to a registry too (-o is then optional);\n"
"                        stdout's last line is REF@sha256:...\n"
"      --base REF|FILE   put the service on another image (registry reference,\n"
"                        docker save tar, OCI layout, or our tar)\n"
"\n"
"Help topics: image, build, inspect, health, security, add, registry, examples,\n"
"dockerfile, base, sbom, exit-codes.  Exit codes: 0 ok, 1 failure, 2 usage error.\n"
"The manual page: man mkimage (builder/mkimage.1).\n";

static const char HELP_IMAGE[] =
"usage: mkimage --static APP [-o OUT] [OPTIONS] [-- ARGS...]\n"
"\n"
"Builds APP statically (see `mkimage help build`), checks the result is a\n"
"static ELF for the target architecture, and writes an image with two layers:\n"
"  1. \"minbase base layer\": the skeleton and /usr/bin/minbase-init (shared\n"
"     by every service built with the same minbase, so a rebuild reuses it);\n"
"  2. \"minbase: add /app/NAME\": the service, --add files, --writable dirs,\n"
"     and the compiled seccomp policy at /etc/minbase/seccomp.bpf.\n"
"ARGS after `--` become the image's Cmd (the service's arguments).\n"
"\n"
"Output:\n"
"  -o, --output PATH       default NAME.tar (NAME.oci with --format oci)\n"
"      --format docker|oci docker: one tar that is an OCI layout plus a\n"
"                          `docker load` manifest.json; oci: a layout dir\n"
"                          (into an existing layout: its other images stay)\n"
"  -t, --tag NAME[:TAG]    default NAME:latest (NAME = binary, Go package,\n"
"                          the program a Makefile builds, or the dir)\n"
"      --arch amd64|arm64  target architecture (default: this machine's);\n"
"                          amd64,arm64: one image per platform (own binary,\n"
"                          init and policy) under one OCI image index\n"
"      --platform linux/amd64,linux/arm64  the same, docker's spelling\n"
"      --load-platform P   the platform a multi-arch tar's manifest.json\n"
"                          gives `docker load` (default: this machine's)\n"
"      --cache DIR         a private build cache (default: Go's own caches;\n"
"                          $XDG_CACHE_HOME/minbase or ~/.cache/minbase for C)\n"
"      --bin NAME          the program to take when a Makefile/CMake project\n"
"                          builds several\n"
"      --go PATH           the go command (default $GO, else the newest Go\n"
"                          found that satisfies go.mod)\n"
"      --ldflags STR       more go -ldflags (e.g. '-X main.version=1.2')\n"
"      --tags LIST         go build tags, comma-separated\n"
"  -q, --quiet             no progress lines\n"
"Config:\n"
"  -p, --port N[/tcp|/udp] exposed port (repeatable)\n"
"  -e, --env KEY=VALUE     environment (repeatable; overrides the defaults\n"
"                          PATH and SSL_CERT_FILE)\n"
"  -l, --label KEY=VALUE   label (repeatable)\n"
"  -u, --user UID:GID      numeric user, default 65532:65532 (nonroot)\n"
"  -w, --workdir DIR       working directory, default /app (so relative paths\n"
"                          to --add'ed assets work as next to the binary)\n"
"      --entrypoint CMD    program (and words) the init starts instead of\n"
"                          /app/NAME; split on spaces\n"
"      --no-init           no init: Entrypoint is the service itself (no\n"
"                          reaping, health probes, caps or policy)\n"
"Files:\n"
"      --add SRC:DST       copy a host file or directory to DST (absolute, or\n"
"                          relative to /app); see `mkimage help add`\n"
"      --writable DIR      create DIR owned by the service's user\n"
"      --ca-file FILE      append a private CA (PEM) to the image's bundle\n"
"      --tzdata            add /usr/share/zoneinfo\n"
"      --sbom FILE|none    also write the image's SPDX SBOM to FILE; none: no SBOM\n"
"                          (see `mkimage help sbom`)\n"
"Health (see `mkimage help health`):\n"
"      --health-http URL | --health-tcp HOST:PORT | --health-exec 'PROG ARGS'\n"
"      | --health-grpc HOST:PORT [--health-grpc-service NAME]\n"
"      --health-interval D --health-timeout D --health-start-period D\n"
"      --health-retries N\n"
"Security (see `mkimage help security`):\n"
"      --caps CAP,...      capabilities the service keeps (e.g. NET_BIND_SERVICE)\n"
"      --policy NAME|FILE  seccomp policy: default, service, strict, or a JSON file\n"
"\n"
"Reproducible: the same input gives the same bytes (mtimes from\n"
"SOURCE_DATE_EPOCH, default 0).  The init is found beside mkimage or at\n"
"$MINBASE_INIT.\n";

static const char HELP_BUILD[] =
"usage: mkimage build APP [-o BINARY] [--arch amd64|arm64] [--cache DIR]\n"
"                        [--bin NAME] [--go PATH] [--ldflags STR] [--tags LIST] [-q]\n"
"\n"
"Builds APP into a static binary and stops (no image).  Default output: ./NAME.\n"
"With several platforms (--arch amd64,arm64 or --platform linux/amd64,...)\n"
"-o names a directory: DIR/linux_amd64/NAME, DIR/linux_arm64/NAME.\n"
"  Go main package: a module's root or any package in it (./cmd/server), the\n"
"      module found by walking up to go.mod; named as go build names it.\n"
"      go build -trimpath -buildvcs=false -ldflags='USER'S -s -w -buildid='\n"
"      with CGO_ENABLED=0 GOOS=linux GOARCH=ARCH, in your Go environment:\n"
"      GOPROXY, GOPRIVATE, GONOSUMDB, GONOPROXY, GOINSECURE, GOFLAGS (its\n"
"      -ldflags and -tags are joined with ours), GOTOOLCHAIN, go.work, `go env\n"
"      -w` settings, and Go's own GOCACHE/GOMODCACHE (--cache DIR: private).\n"
"      The toolchain: --go, else $GO, else the newest of `go` on PATH and\n"
"      /usr/lib/go-1.*/bin/go that satisfies go.mod's `go` line.\n"
"  C file, or a directory of C files: musl-gcc -static -Os -s, sections\n"
"      garbage-collected, -ffile-prefix-map and SOURCE_DATE_EPOCH=0 for\n"
"      reproducible output, against the minbase sysroot (kernel headers,\n"
"      libcap, libseccomp; build/sysroot beside mkimage or $MINBASE_SYSROOT).\n"
"      arm64 uses aarch64-linux-gnu-gcc with musl's specs against the arm64\n"
"      sysroot (build/sysroot-aarch64 or $MINBASE_SYSROOT_ARM64; `make deps`).\n"
"  Makefile project: make -B CC=musl-gcc CFLAGS=... LDFLAGS='-static -s' in a\n"
"      private copy of the directory (under $TMPDIR): your tree is not\n"
"      written.  The result is the new executable the Makefile built (named\n"
"      after it); --bin NAME chooses when it builds several.\n"
"  CMake project (CMakeLists.txt, preferred over a Makefile beside it):\n"
"      cmake with a musl toolchain file (static, the sysroot as find root),\n"
"      MinSizeRel, built out of tree under $TMPDIR.\n"
"  Prebuilt ELF: checked and copied.\n"
"The result is checked to be static for ARCH before it is written; a failed\n"
"build leaves nothing at BINARY.  A dynamic binary is explained: interpreter,\n"
"needed libraries, probable toolchain, and the flag that makes it static.\n";

static const char HELP_INSPECT[] =
"usage: mkimage inspect IMAGE [--json]\n"
"\n"
"Shows an image (a tar written by mkimage or docker save, or an OCI layout\n"
"directory): reference, digest, platform, user, entrypoint, cmd, env, ports,\n"
"labels, health check, the seccomp policy and capabilities the init applies,\n"
"and the layers with their compressed sizes.  --json prints the config blob.\n"
"A multi-platform image: its index digest and platforms, then each platform's\n"
"image as above (--json: one config per line, in index order).\n"
"In a layout that holds several images, DIR:REF picks the one whose\n"
"org.opencontainers.image.ref.name is REF (as skopeo's oci:DIR:REF).\n";

static const char HELP_HEALTH[] =
"Health checks\n"
"\n"
"One probe: --health-http http://127.0.0.1:8080/health (2xx/3xx is healthy),\n"
"--health-tcp 127.0.0.1:8080 (connect), --health-exec '/app/NAME check', or\n"
"--health-grpc 127.0.0.1:50051: the standard gRPC health check\n"
"(grpc.health.v1.Health/Check over h2c, as Kubernetes' gRPC probe makes it;\n"
"healthy only when the answer is SERVING), for the server's overall health\n"
"or, with --health-grpc-service NAME, for that service's.  No\n"
"grpc_health_probe binary is needed: the init speaks HTTP/2 itself.\n"
"Timing: --health-interval, --health-timeout, --health-start-period take\n"
"30s, 500ms, 1m30s, 1.5s or plain seconds; --health-retries N (>= 1).  The\n"
"init's own rules check them, and every -e MINBASE_*/TINI_* (an -e that\n"
"contradicts an option is refused).\n"
"\n"
"They are written twice: as MINBASE_HEALTH_* env for the init, which runs the\n"
"probe inside the container (Kubernetes: exec probe `minbase-init health`),\n"
"and as the image's Healthcheck [\"CMD\",\"/usr/bin/minbase-init\",\"health\"]\n"
"for Docker.  Needs the init (not with --no-init).\n";

static const char HELP_SECURITY[] =
"Security\n"
"\n"
"By default the service runs as 65532:65532 with no capabilities, even in a\n"
"container started as root (the init drops to MINBASE_USER, the --user); the init\n"
"sets no-new-privileges.  --policy NAME|FILE compiles a seccomp policy (shipped:\n"
"default, service, strict; or a Docker-format JSON file) to BPF at build time,\n"
"stores it at /etc/minbase/seccomp.bpf and sets MINBASE_SECCOMP; the init loads\n"
"it last, right before exec, and refuses to start the service if it cannot.\n"
"--caps NET_BIND_SERVICE,... keeps those capabilities: the image then starts as\n"
"0:0 and the init drops to the user (MINBASE_USER) keeping only them.  Without\n"
"--caps, a policy's own capability list is used.  `--caps ''` keeps none.\n";

static const char HELP_ADD[] =
"--add SRC:DST\n"
"\n"
"Copies a host file or directory into the service layer at DST (absolute, or\n"
"relative to /app: `--add products:products` gives /app/products).  Modes are\n"
"normalised, owned by root: directories and executables 0755, other files 0644.\n"
"A symlink inside a directory is kept only when it stays inside the image; it\n"
"is never followed out of SRC.  `..` in DST is refused.  Devices, sockets and\n"
"fifos are refused with a message.  For data the service writes, use\n"
"--writable DIR (owned by the service's user).\n"
"\n"
"DST follows Docker's COPY: a file goes into DST when DST ends with `/` or is\n"
"a directory already (`--add f:/tmp` gives /tmp/f; /tmp stays 1777), else it\n"
"becomes DST; a directory's contents go into DST.  Refused (exit 2): an --add\n"
"that would overwrite what mkimage writes itself (/app/NAME, the init, the\n"
"compiled --policy at /etc/minbase/seccomp.bpf), or turn a directory of the\n"
"base into a file or a file into a directory.\n";

static const char HELP_EXAMPLES[] =
"Examples\n"
"\n"
"  # A Go module, like a two-stage golang:alpine + distroless Dockerfile:\n"
"  mkimage --static ./devops-info -o devops-info.tar --port 8080/tcp \\\n"
"      --health-http http://127.0.0.1:8080/health --policy service\n"
"  docker load -i devops-info.tar && docker run --rm -p 8080:8080 devops-info\n"
"\n"
"  # A C service, static with musl, with its data next to it:\n"
"  mkimage --static server.c --add public:public --writable /data -t web:1.0\n"
"\n"
"  # Only the binary:\n"
"  mkimage build ./devops-info -o devops-info\n"
"\n"
"  # An OCI layout for skopeo/umoci/buildah, and a look inside:\n"
"  mkimage --static ./app --format oci -o app.oci && mkimage inspect app.oci\n";

static const char HELP_DOCKERFILE[] =
"The Dockerfile it replaces\n"
"\n"
"The usual production Dockerfile of a Go service (tests/examples/go-http/):\n"
"\n"
"  FROM golang:1.19-alpine AS builder\n"
"  WORKDIR /src\n"
"  COPY go.mod ./\n"
"  RUN go mod download\n"
"  COPY . .\n"
"  RUN --mount=type=cache,target=/root/.cache/go-build \\\n"
"      CGO_ENABLED=0 go build -trimpath -ldflags=\"-s -w\" -o /out/app .\n"
"  FROM gcr.io/distroless/static-debian12:nonroot\n"
"  COPY --from=builder /out/app /app/app\n"
"  USER 65532:65532\n"
"  ENTRYPOINT [\"/app/app\"]\n"
"\n"
"is one command, with no daemon and no base image to pull, and an init as\n"
"PID 1 that also runs the health probe and applies a seccomp policy:\n"
"\n"
"  mkimage --static . -o app.tar --port 8080/tcp \\\n"
"      --health-http http://127.0.0.1:8080/health --policy service\n"
"\n"
"Measured here (`make bench`, tests/bench/build) for tests/examples/go-http:\n"
"the image is 2.2 MB compressed (base layer 180 KB with the CA bundle and\n"
"the init, service layer 2.0 MB); rebuilding after an edit takes about as\n"
"long as `go build` itself.\n";

static const char HELP_REGISTRY[] =
"usage: mkimage push IMAGE REF [--ref NAME] [REGISTRY OPTIONS]\n"
"       mkimage pull REF -o OUT [--format docker|oci] [--platform OS/ARCH] [-t NAME:TAG]\n"
"       mkimage --static APP --push REF [-o OUT] [IMAGE OPTIONS]\n"
"       mkimage --static APP --base REF|FILE [IMAGE OPTIONS]\n"
"\n"
"push sends an image written before (a tar of mkimage, or an OCI layout\n"
"directory; --ref NAME picks one of a layout's references) to REF, e.g.\n"
"registry.example.com/team/app:1.0; a name without a registry is on Docker Hub\n"
"(nginx is docker.io/library/nginx), as with docker.  Blobs the registry has\n"
"are skipped, blobs it holds in another repository we pushed to are mounted,\n"
"the others uploaded (three at a time, large ones in chunks); the manifest goes\n"
"last, so a failed push leaves no tag.  The last line on stdout is\n"
"REF@sha256:..., the digest of the manifest pushed: the tar's own.\n"
"\n"
"pull writes REF (NAME:TAG or NAME@sha256:...) to OUT, an image tar (default)\n"
"or an OCI layout with --format oci; --platform picks from a multi-platform\n"
"index (default linux and this machine's architecture); -t, --tag names the\n"
"image in OUT (default REF).  Every blob and manifest is checked against its\n"
"digest; manifests over 4 MiB are refused.\n"
"\n"
"--base puts the service on another image instead of minbase's base layer: a\n"
"registry reference, a `docker save` tar, an OCI layout or a tar of mkimage.\n"
"Its layers are kept byte for byte, ours go on top (with the init, unless the\n"
"base has /usr/bin/minbase-init); its Env, Labels, ports and WorkingDir stay\n"
"unless an option sets them; User, Entrypoint, Cmd and the health check are\n"
"ours.  A base layer in a compression mkimage cannot read is refused.\n"
"\n"
"Registry options (push, pull, --push, --base):\n"
"  --registry-ca FILE              trust this PEM CA too (a private registry)\n"
"  --insecure-registry HOST[:PORT] allow plain http (and unverified TLS) for HOST;\n"
"                                  loopback registries need no flag, as in docker\n"
"  --retry-time DURATION           how long retries of failed requests may take\n"
"                                  in all (default 2m)\n"
"  --cache DIR                     where the record of pushed blobs is kept\n"
"  -q, --quiet                     no progress lines\n"
"\n"
"Credentials, first found: REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json or\n"
"~/.docker/config.json (auths, credHelpers, credsStore through\n"
"docker-credential-NAME), ${XDG_RUNTIME_DIR}/containers/auth.json (podman).\n"
"They never appear in messages or images.\n";

static const char HELP_EXIT[] =
"Exit codes\n"
"  0  success\n"
"  1  failure: bad input (missing, dynamic, wrong architecture...), a failed\n"
"     build, an unwritable output; nothing is left at the output path\n"
"  2  usage error: unknown option, missing or invalid option value\n";

static const char HELP_BASE[] =
"usage: mkimage base [-o OUT | --push REF] [--tag REF] [--debug] [--tzdata]\n"
"                    [--ca-file PEM] [--arch LIST] [--format docker|oci]\n"
"                    [--sbom FILE|none] [--cache DIR] [-q]\n"
"\n"
"The minbase base image for a Dockerfile's FROM: the skeleton, the CA bundle,\n"
"/usr/bin/minbase-init and every shipped seccomp policy precompiled for the\n"
"image's architecture at /etc/minbase/policies/NAME.bpf, User 65532:65532,\n"
"Entrypoint [\"/usr/bin/minbase-init\", \"--\"], the init's safe defaults in Env\n"
"(no capabilities kept, no-new-privs, MINBASE_USER), WorkingDir /app.  Its one\n"
"layer is the base layer of `mkimage --static` images of the same options.\n"
"--arch amd64,arm64 writes one image per platform under one image index.\n"
"A Dockerfile adds COPY, CMD and `ENV MINBASE_POLICY=service` (the filter, by\n"
"name); see README.md.\n"
"      --debug             add busybox (Debian's busybox-static) under /busybox\n"
"                          with its applet links, /busybox on PATH (a second\n"
"                          layer); default tag minbase/static:debug\n"
"  Defaults: --tag minbase/static:latest, -o static.tar (static-debug.tar).\n";

static const char HELP_SBOM[] =
"Every image mkimage writes carries an SPDX 2.3 SBOM (JSON): the image, the\n"
"init with the musl, libcap and libseccomp it was linked with, the CA bundle,\n"
"tzdata and busybox when present, the service with its SHA256, and for Go the\n"
"toolchain and every module of its build information (pkg:golang purls).\n"
"It is an OCI 1.1 artifact (artifactType application/spdx+json, subject = the\n"
"image manifest) in the image's blobs, named by the dev.minbase.sbom\n"
"annotation of the image's descriptor; `mkimage inspect` shows it, a push\n"
"sends it and lists it under the referrers tag sha256-<hex of the image>.\n"
"      --sbom FILE         write the same document to FILE too\n"
"      --sbom none         no SBOM\n";

static const struct {
	const char *name;
	const char *text;
} topics[] = {
	{ "base", HELP_BASE }, { "sbom", HELP_SBOM },
	{ "image", HELP_IMAGE },   { "static", HELP_IMAGE },  { "build", HELP_BUILD },
	{ "inspect", HELP_INSPECT }, { "health", HELP_HEALTH }, { "security", HELP_SECURITY },
	{ "caps", HELP_SECURITY }, { "policy", HELP_SECURITY }, { "add", HELP_ADD },
	{ "examples", HELP_EXAMPLES }, { "exit-codes", HELP_EXIT },
	{ "dockerfile", HELP_DOCKERFILE }, { "registry", HELP_REGISTRY }, { "push", HELP_REGISTRY },
	{ "pull", HELP_REGISTRY },
};

int cmd_help(int argc, char **argv)
{
	if (argc < 2) {
		fputs(HELP_MAIN, stdout);
		return MK_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++)
		if (!strcmp(argv[1], topics[i].name)) {
			fputs(topics[i].text, stdout);
			return MK_EXIT_OK;
		}
	fprintf(stderr, "mkimage: no help topic `%s`: try image, build, inspect, health, "
	        "security, add, registry, examples, dockerfile, base, sbom or exit-codes\n", argv[1]);
	return MK_EXIT_USAGE;
}
