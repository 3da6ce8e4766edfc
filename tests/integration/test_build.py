"""Issues 5 and 10, end to end: from source to a static binary to an image,
in one command.  Each kind of APP (Go package anywhere in a module, C file,
directory of C files, Makefile project, CMake project) is built with
mkimage from example projects laid out as real ones are (tests/examples/);
the images run under runc (and the HTTP examples under a real dockerd) and
print what is expected; two builds of the same sources give identical
binaries and image digests; every refusal is tried (exit code, message,
nothing left behind).

This machine reaches no Go module proxy: conftest.py sets GOPROXY=off
for the tests (mkimage passes the user's Go environment through, it forces
none).  The Go build is the slow part (~15-20 s cold on 2 cores), so the
images are module-scoped fixtures shared by the tests."""
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from conftest import ROOT, need, need_tools
from testlib import free_port, mk, run, wait_http

EXAMPLES = ROOT / "tests" / "examples"


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def manifest_digest(image):
    with tarfile.open(image) as tf:
        index = json.loads(tf.extractfile("index.json").read())
    return index["manifests"][0]["digest"]


def assert_static(path, machine="x86-64"):
    out = run(["file", "-L", path]).stdout
    assert "statically linked" in out or "static-pie" in out, out
    assert machine in out, out
    assert "interpreter" not in out, out


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("build")


@pytest.fixture(scope="module")
def go_cache(work):
    return work / "cache-a"


@pytest.fixture(scope="module")
def go_image(mkimage, work, go_cache):
    need_tools("go")
    out = work / "devops-info.tar"
    p = mk(mkimage, "--static", EXAMPLES / "go-http", "-o", out, "--cache", go_cache,
           "--tag", "minbase-test/devops-info:go", "--port", "8080/tcp")
    return out, p.stderr


@pytest.fixture(scope="module")
def c_image(mkimage, work):
    need_tools("musl-gcc")
    out = work / "c-http.tar"
    mk(mkimage, "--static", EXAMPLES / "c-http" / "server.c", "-o", out,
       "--tag", "minbase-test/c-http:c", "--port", "8080/tcp")
    return out


# ---- each APP kind builds ------------------------------------------------------

def test_go_module_builds_static_image(go_image):
    image, stderr = go_image
    # progress: one line per stage, then the summary
    for stage in ("build", "binary", "layer 1", "layer 2", "write", "digest sha256:"):
        assert stage in stderr, stderr
    assert "go module" in stderr and "devops-info" in stderr
    with tarfile.open(image) as tf:
        names = tf.getnames()
    assert "index.json" in names and "manifest.json" in names


def test_go_module_build_only(mkimage, work, go_cache):
    need_tools("go")
    out = work / "devops-info.bin"
    p = mk(mkimage, "build", EXAMPLES / "go-http", "-o", out, "--cache", go_cache)
    assert_static(out)
    assert "done" in p.stderr
    # the cache is warm now (go_image built first in this module or here)
    assert (go_cache / "go-build").is_dir()
    # a relative --cache is the same cache (Go needs absolute paths: mkimage resolves it)
    mk(mkimage, "build", EXAMPLES / "go-http", "-o", "rel.bin", "--cache",
       go_cache.relative_to(work), cwd=work)
    assert (work / "rel.bin").read_bytes() == out.read_bytes()


def test_go_module_with_vendored_dependency(mkimage, work, go_cache):
    """Builds are offline (GOPROXY=off): a vendored dependency is used."""
    need_tools("go")
    app = work / "vapp"
    (app / "vendor" / "example.com" / "greet").mkdir(parents=True)
    (app / "go.mod").write_text("module example.com/vapp\n\ngo 1.19\n\n"
                                "require example.com/greet v1.0.0\n")
    (app / "main.go").write_text('package main\n\nimport (\n\t"fmt"\n\t"example.com/greet"\n)\n\n'
                                 "func main() { fmt.Println(greet.Hello()) }\n")
    (app / "vendor" / "example.com" / "greet" / "greet.go").write_text(
        'package greet\n\nfunc Hello() string { return "hi from vendor" }\n')
    (app / "vendor" / "modules.txt").write_text(
        "# example.com/greet v1.0.0\n## explicit\nexample.com/greet\n")
    mk(mkimage, "build", app, "-o", work / "vapp.bin", "--cache", go_cache)
    assert_static(work / "vapp.bin")
    assert run([work / "vapp.bin"]).stdout == "hi from vendor\n"


def test_c_file_builds_and_is_small(mkimage, work):
    need_tools("musl-gcc")
    out = work / "hello"
    mk(mkimage, "build", EXAMPLES / "hello" / "hello.c", "-o", out)
    assert_static(out)
    assert out.stat().st_size < 200_000
    p = run([out, "x"])
    assert p.stdout.startswith("hello from minbase (uid=")
    assert "arg 1: x" in p.stdout


def test_c_dir_and_makefile_dir(mkimage, work):
    need_tools("musl-gcc", "make")
    cdir = work / "cdir"
    cdir.mkdir()
    (cdir / "main.c").write_text('#include <stdio.h>\nint two(void);\n'
                                 'int main(void){ printf("sum=%d\\n", 1 + two()); return 0; }\n')
    (cdir / "two.c").write_text("int two(void){ return 2; }\n")
    mk(mkimage, "build", cdir, "-o", work / "cdir.bin")
    assert_static(work / "cdir.bin")
    assert run([work / "cdir.bin"]).stdout == "sum=3\n"

    mdir = work / "withmake"
    mdir.mkdir()
    shutil.copy(EXAMPLES / "hello" / "hello.c", mdir / "hello.c")
    (mdir / "Makefile").write_text("withmake: hello.c\n\t$(CC) $(CFLAGS) $(LDFLAGS) -o $@ hello.c\n")
    p = mk(mkimage, "build", mdir, "-o", work / "withmake.bin")
    assert "makefile" in p.stderr
    assert_static(work / "withmake.bin")
    assert "hello from minbase" in run([work / "withmake.bin"]).stdout
    # again, with the program from the first run up to date in the directory
    time.sleep(2)
    mk(mkimage, "build", mdir, "-o", work / "withmake2.bin")
    assert sha256(work / "withmake2.bin") == sha256(work / "withmake.bin")


def test_c_dir_with_many_files(mkimage, work):
    """Every C file of a directory is compiled, however many there are (the
    command line once held 95 words and dropped the rest)."""
    need_tools("musl-gcc")
    cdir = work / "manyc"
    cdir.mkdir()
    n = 150
    calls = "".join("int f%d(void);\n" % i for i in range(n))
    (cdir / "main.c").write_text('#include <stdio.h>\n%sint main(void){ int s = 0;\n%s'
                                 'printf("sum=%%d\\n", s); return 0; }\n'
                                 % (calls, "".join("s += f%d();\n" % i for i in range(n))))
    for i in range(n):
        (cdir / ("f%03d.c" % i)).write_text("int f%d(void){ return 1; }\n" % i)
    mk(mkimage, "build", cdir, "-o", work / "manyc.bin", "-q")
    assert run([work / "manyc.bin"]).stdout == "sum=%d\n" % n


def test_makefile_dir_at_a_very_long_path(mkimage, work, tmp_path):
    """make runs in a private copy, so a long path to the sources builds;
    make's CFLAGS hold the copy's path: one too long for them (a very long
    TMPDIR) is refused with a message, never passed on cut short (other
    flags than ours), and the private copy is gone."""
    need_tools("musl-gcc", "make")
    d = tmp_path / "src"
    while len(str(d)) < 4000:
        d = d / ("p" * min(250, 4000 - len(str(d)) + 1))
    d.mkdir(parents=True)
    shutil.copy(EXAMPLES / "hello" / "hello.c", d / "hello.c")
    (d / "Makefile").write_text("deep: hello.c\n\t$(CC) $(CFLAGS) $(LDFLAGS) -o $@ hello.c\n")
    mk(mkimage, "build", d, "-o", work / "deep.bin", "-q")
    assert "hello from minbase" in run([work / "deep.bin"]).stdout
    (work / "deep.bin").unlink()
    t = tmp_path / "tmp"
    while len(str(t)) < 4020:
        t = t / ("t" * min(250, 4020 - len(str(t)) + 1))
    t.mkdir(parents=True)
    p = mk(mkimage, "build", EXAMPLES / "c-make", "-o", work / "deep.bin", check=False,
           env={"TMPDIR": str(t)})
    assert p.returncode == 1, p.stderr
    assert "compiler flags are longer than" in p.stderr, p.stderr
    assert not (work / "deep.bin").exists()
    assert listing(t) == []


def test_c_image_runs_hello_under_runc(mkimage, runc, work):
    need_tools("musl-gcc")
    out = work / "hello.tar"
    mk(mkimage, "--static", EXAMPLES / "hello" / "hello.c", "-o", out, "--", "one")
    p = runc.run_image(out)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "hello from minbase (uid=65532 gid=65532)\narg 1: one\n"


# ---- the HTTP examples run for real -----------------------------------------------

def get_json(port, path, deadline=20):
    status, body = wait_http(port, path, timeout=deadline)
    return status, json.loads(body)


def check_service(port):
    code, h = get_json(port, "/health")
    assert code == 200 and h["status"] == "healthy", h
    assert h["timestamp"].endswith("Z") and isinstance(h["uptime_seconds"], int)
    code, info = get_json(port, "/")
    assert info["service"]["name"] == "devops-info-service"
    assert info["runtime"]["uid"] == 65532, info


def run_http_under_runc(runc, image):
    """Start the image's service in runc on the host's network (so the test
    can reach it on loopback), check it, stop it with SIGTERM: exit 0."""
    bundle = runc.unpack(image)
    port = free_port()

    def host_net(cfg):
        cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"]
                                      if n["type"] != "network"]
    runc.fix_config(bundle, env=["PORT=%d" % port], mutate=host_net)
    cid = "mb-" + uuid.uuid4().hex[:12]
    root = ["runc", "--root", str(runc.state)]
    p = subprocess.Popen(root + ["run", "--bundle", str(bundle), cid], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        check_service(port)
        subprocess.run(root + ["kill", cid, "TERM"], check=True, capture_output=True)
        out, err = p.communicate(timeout=30)
        assert p.returncode == 0, "exit %d: %s" % (p.returncode, err)
        assert "listening on :%d" % port in out + err
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        subprocess.run(root + ["delete", "-f", cid], capture_output=True)


def test_go_service_under_runc(runc, go_image):
    run_http_under_runc(runc, go_image[0])


def test_c_service_under_runc(runc, c_image):
    run_http_under_runc(runc, c_image)


@pytest.mark.parametrize("which", ["go", "c"])
def test_services_under_dockerd(dockerd, go_image, c_image, which):
    image, tag = ((go_image[0], "minbase-test/devops-info:go") if which == "go"
                  else (c_image, "minbase-test/c-http:c"))
    assert tag in dockerd.docker("load", "-i", str(image)).stdout
    port = free_port()
    # no bridge on this machine: the host network lets the test reach it
    cid = dockerd.docker("run", "-d", "--network", "host", "-e", "PORT=%d" % port,
                         tag).stdout.strip()
    try:
        check_service(port)
        dockerd.docker("stop", "-t", "20", cid)
        state = json.loads(dockerd.docker("inspect", cid).stdout)[0]["State"]
        assert state["ExitCode"] == 0, state
        assert "listening on :%d" % port in dockerd.docker("logs", cid).stderr + \
            dockerd.docker("logs", cid).stdout
    finally:
        dockerd.docker("rm", "-f", cid, check=False)


# ---- reproducible: same sources, same bytes --------------------------------------

def test_go_two_builds_identical(mkimage, work, go_image, go_cache):
    """A copy of the module at another path, built cold with another cache,
    from another working directory: same binary, same image digest."""
    need_tools("go")
    src = work / "elsewhere" / "src" / "devops"
    shutil.copytree(EXAMPLES / "go-http", src)
    os.utime(src / "main.go", (2000000000, 2000000000))
    (work / "other-cwd").mkdir()
    out = work / "other-cwd" / "again.tar"
    mk(mkimage, "--static", src, "-o", out, "--cache", work / "cache-b",
       "--tag", "minbase-test/devops-info:go", "--port", "8080/tcp", cwd=work / "other-cwd",
       env={"HOME": str(work)})
    assert manifest_digest(out) == manifest_digest(go_image[0])
    assert sha256(out) == sha256(go_image[0])
    b1, b2 = work / "b1", work / "b2"
    mk(mkimage, "build", EXAMPLES / "go-http", "-o", b1, "--cache", go_cache)
    mk(mkimage, "build", src, "-o", b2, "--cache", work / "cache-b")
    assert sha256(b1) == sha256(b2)


def test_c_two_builds_identical(mkimage, work, c_image):
    need_tools("musl-gcc")
    src = work / "c-elsewhere" / "deeper"
    src.mkdir(parents=True)
    shutil.copy(EXAMPLES / "c-http" / "server.c", src / "server.c")
    out = work / "c-again.tar"
    mk(mkimage, "--static", src / "server.c", "-o", out, "--tag", "minbase-test/c-http:c",
       "--port", "8080/tcp", cwd=src)
    assert manifest_digest(out) == manifest_digest(c_image)
    mk(mkimage, "build", src / "server.c", "-o", work / "s1")
    mk(mkimage, "build", EXAMPLES / "c-http" / "server.c", "-o", work / "s2")
    assert sha256(work / "s1") == sha256(work / "s2")


def test_arm64_go_cross_build(mkimage, work, go_cache):
    """Go cross-compiles with no extra toolchain: the image says arm64."""
    need_tools("go")
    out = work / "arm.tar"
    mk(mkimage, "--static", EXAMPLES / "go-http", "--arch", "arm64", "-o", out,
       "--cache", go_cache, "--no-init", "-q")
    with tarfile.open(out) as tf:
        index = json.loads(tf.extractfile("index.json").read())
        man = json.loads(tf.extractfile("blobs/sha256/" +
                                        index["manifests"][0]["digest"][7:]).read())
        cfg = json.loads(tf.extractfile("blobs/sha256/" + man["config"]["digest"][7:]).read())
    assert cfg["architecture"] == "arm64"
    mk(mkimage, "build", EXAMPLES / "go-http", "--arch", "arm64", "-o", work / "arm.bin",
       "--cache", go_cache, "-q")
    assert_static(work / "arm.bin", machine="aarch64")


def test_go_service_hardened_and_healthy_under_dockerd(mkimage, dockerd, work, go_cache):
    """The whole pipeline: the Go example under the shipped `service`
    seccomp policy, with the init's HTTP probe as Docker's HEALTHCHECK,
    reported healthy, then stopped gracefully (exit 0)."""
    need_tools("go")
    port = free_port()
    out = work / "hardened.tar"
    mk(mkimage, "--static", EXAMPLES / "go-http", "-o", out, "--cache", go_cache,
       "-t", "minbase-test/devops-info:hardened", "--policy", "service",
       "--health-http", "http://127.0.0.1:%d/health" % port, "--health-interval", "1s",
       "--health-start-period", "10s", "-e", "PORT=%d" % port, "-q")
    dockerd.docker("load", "-i", str(out))
    cid = dockerd.docker("run", "-d", "--network", "host",
                         "minbase-test/devops-info:hardened").stdout.strip()
    try:
        health = None
        deadline = time.time() + 40
        while time.time() < deadline:
            state = json.loads(dockerd.docker("inspect", cid).stdout)[0]["State"]
            health = state.get("Health", {}).get("Status")
            if health in ("healthy", "unhealthy") or state["Status"] != "running":
                break
            time.sleep(0.5)
        assert health == "healthy", (state, dockerd.docker("logs", cid).stderr[-2000:])
        check_service(port)
        dockerd.docker("stop", "-t", "20", cid)
        state = json.loads(dockerd.docker("inspect", cid).stdout)[0]["State"]
        assert state["ExitCode"] == 0, state
    finally:
        dockerd.docker("rm", "-f", cid, check=False)


# ---- issue 10: Go repositories as they are laid out ------------------------------

def image_config(image):
    with tarfile.open(image) as tf:
        index = json.loads(tf.extractfile("index.json").read())
        man = json.loads(tf.extractfile("blobs/sha256/" +
                                        index["manifests"][0]["digest"][7:]).read())
        return json.loads(tf.extractfile("blobs/sha256/" + man["config"]["digest"][7:]).read())


def image_tag(image):
    with tarfile.open(image) as tf:
        return json.loads(tf.extractfile("manifest.json").read())[0]["RepoTags"][0]


def tree_digest(root):
    """Every name, type, mode, mtime and content under root: a Makefile
    build that writes one object file, or touches one, changes it."""
    h = hashlib.sha256()
    for dirpath, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(dirs + files):
            p = Path(dirpath) / name
            st = p.lstat()
            h.update(("%s %o %d\n" % (p.relative_to(root), st.st_mode, st.st_mtime_ns)).encode())
            if p.is_file() and not p.is_symlink():
                h.update(p.read_bytes())
    return h.hexdigest()


def listing(d):
    return sorted(os.listdir(d))


def go_versions():
    """The Go toolchains mkimage can find here (PATH's go, /usr/lib/go-1.*)."""
    vs = set()
    for v in Path("/usr/lib").glob("go-1.*/VERSION"):
        vs.add(v.read_text().split()[0][2:])
    return vs


def newest_go():
    vs = go_versions()
    return max(vs, key=lambda v: [int(x) for x in v.split(".")]) if vs else None


def need_go(minor):
    v = newest_go()
    need(v is not None and int(v.split(".")[1]) >= minor,
         "a Go >= 1.%d in /usr/lib/go-1.* (`make deps` installs golang-1.23 from "
         "bookworm-backports)" % minor)


@pytest.mark.parametrize("cmd,want", [
    ("counter", "counter: 1 2 3\n"),
    ("greeter", "greeter: hello world\ngreeter: version dev flavour plain\n"),
])
def test_go_cmd_layout_each_main_package_its_own_image(mkimage, runc, work, go_cache, cmd, want):
    """`mkimage --static ./cmd/NAME` inside the module, as `go build
    ./cmd/NAME`: the service, the default output and tag are named NAME."""
    need_tools("go")
    d = work / ("cmd-" + cmd)
    d.mkdir()
    p = mk(mkimage, "--static", "./cmd/" + cmd, "-o", d / (cmd + ".tar"), "--cache", go_cache,
           cwd=EXAMPLES / "go-cmd")
    assert "go module" in p.stderr, p.stderr
    cfg = image_config(d / (cmd + ".tar"))
    assert cfg["config"]["Entrypoint"][-1] == "/app/" + cmd, cfg
    assert image_tag(d / (cmd + ".tar")) == cmd + ":latest"
    r = runc.run_image(d / (cmd + ".tar"))
    assert r.returncode == 0, r.stderr
    assert r.stdout == want
    # no -o: the default output is named after the package too
    mk(mkimage, "--static", EXAMPLES / "go-cmd" / "cmd" / cmd, "--cache", go_cache, "-q", cwd=d)
    assert (d / (cmd + ".tar")).is_file()


@pytest.mark.parametrize("sub", [".", "internal/msg", "cmd"])
def test_go_dir_that_is_not_a_main_package_lists_the_main_packages(mkimage, work, go_cache, sub):
    need_tools("go")
    before = listing(work)
    p = mk(mkimage, "--static", EXAMPLES / "go-cmd" / sub, "-o", work / "notmain.tar",
           "--cache", go_cache, check=False)
    assert p.returncode == 1, p.stderr
    msg = p.stderr.strip().splitlines()[-1]
    assert "main packages of the module" in msg and "./cmd/counter, ./cmd/greeter" in msg, msg
    if sub == "internal/msg":
        assert "the package `msg`, not main" in msg, msg
    assert listing(work) == before


def test_go_ldflags_tags_and_user_goflags_reach_go_build(mkimage, work, go_cache):
    need_tools("go")
    app = EXAMPLES / "go-cmd" / "cmd" / "greeter"
    out = work / "greeter-v"
    mk(mkimage, "build", app, "-o", out, "--cache", go_cache, "-q",
       "--ldflags", "-X main.version=1.2.3", "--tags", "extra")
    assert run([out, "x"]).stdout == "greeter: hello x\ngreeter: version 1.2.3 flavour extra\n"
    assert_static(out)
    # the user's GOFLAGS are kept: their -ldflags and ours are joined, not replaced
    mk(mkimage, "build", app, "-o", out, "--cache", go_cache, "-q",
       env={"GOFLAGS": "-ldflags=-X=main.version=9 -tags=extra"})
    assert run([out]).stdout == "greeter: hello world\ngreeter: version 9 flavour extra\n"
    assert "stripped" in run(["file", out]).stdout  # minbase's -s -w still there


def test_go_uses_the_users_caches_and_cache_dir_stays_private(mkimage, work):
    """Without --cache, Go's own caches (GOCACHE, GOMODCACHE as the user
    set them, here a fresh pair); with --cache, a private one."""
    need_tools("go")
    gocache, modcache = work / "user-gocache", work / "user-modcache"
    env = {"GOCACHE": str(gocache), "GOMODCACHE": str(modcache)}
    mk(mkimage, "build", EXAMPLES / "go-cmd" / "cmd" / "counter", "-o", work / "uc", "-q",
       env=env)
    assert any(gocache.iterdir()), "GOCACHE was not used"
    private = work / "private-cache"
    mk(mkimage, "build", EXAMPLES / "go-cmd" / "cmd" / "counter", "-o", work / "uc2", "-q",
       "--cache", private, env={"GOCACHE": str(work / "unused")})
    assert (private / "go-build").is_dir() and not (work / "unused").exists()
    assert sha256(work / "uc") == sha256(work / "uc2")


def test_go_toolchain_setting_is_passed_to_go(mkimage, work, go_cache):
    """GOTOOLCHAIN is the user's: asked for a toolchain this machine cannot
    download, go itself says so (mkimage no longer forces `local`)."""
    need_go(21)
    p = mk(mkimage, "build", EXAMPLES / "go-cmd" / "cmd" / "counter", "-o", work / "tc",
           "--cache", go_cache, env={"GOTOOLCHAIN": "go1.99.1"}, check=False)
    assert p.returncode == 1, p.stderr
    assert "go1.99.1" in p.stderr, p.stderr
    assert not (work / "tc").exists()


def test_go_vendored_dependency_runs_in_a_container(mkimage, runc, work, go_cache):
    need_tools("go")
    out = work / "vendored.tar"
    mk(mkimage, "--static", EXAMPLES / "go-vendored", "-o", out, "--cache", go_cache, "-q")
    assert image_tag(out) == "vendored:latest"
    r = runc.run_image(out)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "HELLO FROM A VENDORED MODULE!\n"


def test_go_122_module_gets_a_go_that_can_build_it(mkimage, runc, work, go_cache):
    """go.mod says `go 1.22` and the code ranges over an int: the newest Go
    found builds it, not the first `go` on PATH (Debian 12's is 1.19)."""
    need_go(22)
    out = work / "rangeint.tar"
    mk(mkimage, "--static", EXAMPLES / "go-122", "-o", out, "--cache", go_cache, "-q")
    r = runc.run_image(out)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "tick 0\ntick 1\ntick 2\n"


def test_go_module_needing_a_newer_go_than_any_found(mkimage, work, go_cache):
    need_tools("go")
    app = work / "future"
    app.mkdir()
    (app / "go.mod").write_text("module example.com/future\n\ngo 1.99\n")
    (app / "main.go").write_text("package main\n\nfunc main() {}\n")
    before = listing(work)
    p = mk(mkimage, "--static", app, "-o", work / "future.tar", "--cache", go_cache, check=False)
    assert p.returncode == 1, p.stderr
    msg = p.stderr.strip().splitlines()[-1]
    assert "needs Go 1.99" in msg and "`go 1.99`" in msg, msg
    for v in go_versions():
        assert v in msg, (v, msg)
    assert "vendor" not in msg, msg
    assert listing(work) == before
    # --go that is no go, and --go older than the module
    p = mk(mkimage, "build", app, "-o", work / "f", "--go", work / "nogo", check=False)
    assert p.returncode == 1 and "--go `" in p.stderr and "not a working go" in p.stderr, p.stderr
    p = mk(mkimage, "build", EXAMPLES / "go-122", "-o", work / "f", "--go", "/usr/lib/go-1.19/bin/go",
           check=False)
    if Path("/usr/lib/go-1.19/bin/go").exists():
        assert p.returncode == 1 and "needs Go 1.22" in p.stderr and "1.19" in p.stderr, p.stderr
    assert listing(work) == before


def test_go_missing_module_is_named_and_leaves_no_lock_files(mkimage, work):
    need_tools("go")
    app = work / "needsdep"
    app.mkdir()
    (app / "go.mod").write_text("module example.com/needsdep\n\ngo 1.21\n\n"
                                "require example.com/absent v1.0.0\n")
    (app / "go.sum").write_text(
        "example.com/absent v1.0.0 h1:9n3hHgDBd/PmUYMwHjtGxRkdlAq1xIBgMEFmvaeoHNU=\n"
        "example.com/absent v1.0.0/go.mod h1:9n3hHgDBd/PmUYMwHjtGxRkdlAq1xIBgMEFmvaeoHNU=\n")
    (app / "main.go").write_text('package main\n\nimport "example.com/absent"\n\n'
                                 "func main() { absent.Run() }\n")
    cache = work / "dep-cache"
    before = listing(work)
    p = mk(mkimage, "build", app, "-o", work / "needsdep.bin", "--cache", cache, check=False)
    assert p.returncode == 1, p.stderr
    msg = p.stderr.strip().splitlines()[-1]
    assert "`example.com/absent@v1.0.0`" in msg and "go mod vendor" in msg, msg
    assert not list(cache.rglob("*.lock")), list(cache.rglob("*.lock"))
    assert listing(work) == sorted(before + ["dep-cache"])
    # without go.sum: go says no module provides the package
    (app / "go.sum").unlink()
    p = mk(mkimage, "build", app, "-o", work / "needsdep.bin", "--cache", cache, check=False)
    assert p.returncode == 1 and "`example.com/absent`" in p.stderr, p.stderr
    # a compile error is a compile error: no vendoring hint
    (app / "go.mod").write_text("module example.com/needsdep\n\ngo 1.21\n")
    (app / "main.go").write_text("package main\n\nfunc main() { undefinedThing() }\n")
    p = mk(mkimage, "build", app, "-o", work / "needsdep.bin", "--cache", cache, check=False)
    assert p.returncode == 1, p.stderr
    msg = p.stderr.strip().splitlines()[-1]
    assert "compiler's messages above" in msg and "vendor" not in msg, msg
    assert "undefined: undefinedThing" in p.stderr
    assert not (work / "needsdep.bin").exists()
    assert not list(cache.rglob("*.lock"))


# ---- issue 10: C projects, their trees left as they were -------------------------

def test_makefile_project_tree_unchanged_service_named_after_program(mkimage, runc, work):
    need_tools("musl-gcc", "make")
    src = EXAMPLES / "c-make"
    before = tree_digest(src)
    d = work / "make-out"
    d.mkdir()
    p = mk(mkimage, "--static", src, "--", "one", "two", cwd=d)
    assert tree_digest(src) == before, "the Makefile build wrote into the source tree"
    # the program the Makefile builds names the service, the output, the tag
    assert listing(d) == ["tinyecho.tar"], (listing(d), p.stderr)
    assert image_tag(d / "tinyecho.tar") == "tinyecho:latest"
    cfg = image_config(d / "tinyecho.tar")["config"]
    assert cfg["Entrypoint"][-1] == "/app/tinyecho" and cfg["Cmd"] == ["one", "two"], cfg
    r = runc.run_image(d / "tinyecho.tar")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "tinyecho: one two\n"
    # after a plain `make` in a copy (objects and program present), same result,
    # and that tree too is left as it was
    cp = work / "c-make-built"
    shutil.copytree(src, cp)
    run(["make", "-s"], cwd=cp)
    before = tree_digest(cp)
    mk(mkimage, "build", cp, "-o", d / "again", "-q")
    assert tree_digest(cp) == before
    assert run([d / "again", "x"]).stdout == "tinyecho: x\n"
    assert_static(d / "again")


def test_makefile_with_several_programs_needs_bin(mkimage, runc, work):
    need_tools("musl-gcc", "make")
    src = EXAMPLES / "c-multi"
    before, tdir = tree_digest(src), work / "multi-tmp"
    tdir.mkdir()
    d = work / "multi"
    d.mkdir()
    p = mk(mkimage, "--static", src, check=False, cwd=d, env={"TMPDIR": str(tdir)})
    assert p.returncode == 1, p.stderr
    msg = p.stderr.strip().splitlines()[-1]
    assert "several programs (ping-tool, pong-tool)" in msg and "--bin NAME" in msg, msg
    p = mk(mkimage, "--static", src, "--bin", "nope", check=False, cwd=d,
           env={"TMPDIR": str(tdir)})
    assert p.returncode == 1, p.stderr
    assert "no program named `nope`" in p.stderr and "ping-tool, pong-tool" in p.stderr
    assert listing(d) == [] and listing(tdir) == [] and tree_digest(src) == before
    mk(mkimage, "--static", src, "--bin", "pong-tool", "-q", cwd=d)
    assert listing(d) == ["pong-tool.tar"]
    r = runc.run_image(d / "pong-tool.tar")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "pong-tool: pong\n"
    assert tree_digest(src) == before


def test_cmake_project_static_out_of_tree(mkimage, runc, work):
    need_tools("musl-gcc", "cmake")
    src = EXAMPLES / "c-cmake"
    before = tree_digest(src)
    d = work / "cm"
    d.mkdir()
    p = mk(mkimage, "--static", src, cwd=d)
    assert "cmake project" in p.stderr, p.stderr
    assert tree_digest(src) == before, "cmake wrote into the source tree"
    assert listing(d) == ["cmgreet.tar"]
    r = runc.run_image(d / "cmgreet.tar")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "cmgreet 1.0: hello from cmake\n"
    mk(mkimage, "build", src, "-o", d / "cmgreet", "-q")
    assert_static(d / "cmgreet")
    assert d.joinpath("cmgreet").stat().st_size < 100_000


def test_c_build_failures_leave_nothing_behind(mkimage, work):
    need_tools("musl-gcc", "make", "cmake")
    tdir = work / "fail-tmp"
    tdir.mkdir()
    bad_make = work / "badmake"
    bad_make.mkdir()
    (bad_make / "Makefile").write_text("prog: prog.c\n\t$(CC) $(CFLAGS) -o $@ prog.c\n")
    (bad_make / "prog.c").write_text("int main(void) { return missing(); }\n")
    bad_cmake = work / "badcmake"
    bad_cmake.mkdir()
    (bad_cmake / "CMakeLists.txt").write_text("project(x C\n")
    for app, want in ((bad_make, "make in `%s` failed" % bad_make),
                      (bad_cmake, "cmake could not configure `%s`" % bad_cmake)):
        before = tree_digest(app)
        outs = listing(work)
        p = mk(mkimage, "--static", app, "-o", work / "bad.tar", check=False,
               env={"TMPDIR": str(tdir)})
        assert p.returncode == 1, p.stderr
        assert want in p.stderr.strip().splitlines()[-1], p.stderr
        assert tree_digest(app) == before and listing(tdir) == [] and listing(work) == outs


def test_paths_with_spaces_every_driver(mkimage, runc, work, go_cache):
    need_tools("musl-gcc", "make", "cmake", "go")
    base = work / "my projects" / "with space"
    base.mkdir(parents=True)
    for name in ("c-make", "c-cmake", "go-cmd", "hello"):
        shutil.copytree(EXAMPLES / name, base / name)
    shutil.copytree(EXAMPLES / "c-make", base / "c dir")
    (base / "c dir" / "Makefile").unlink()
    out = work / "out dir"
    out.mkdir()
    tmp = work / "tmp dir"
    tmp.mkdir()
    env = {"TMPDIR": str(tmp)}
    cases = [
        (base / "hello" / "hello.c", [], "hello from minbase"),
        (base / "c dir", ["a b"], "tinyecho: a b\n"),
        (base / "c-make", ["z"], "tinyecho: z\n"),
        (base / "c-cmake", [], "cmgreet 1.0: hello from cmake\n"),
        (base / "go-cmd" / "cmd" / "counter", [], "counter: 1 2 3\n"),
    ]
    for i, (app, args, want) in enumerate(cases):
        b = out / ("bin %d" % i)
        mk(mkimage, "build", app, "-o", b, "-q", "--cache", go_cache, env=env)
        assert want in run([b] + args).stdout, app
    mk(mkimage, "--static", base / "c-make", "-o", out / "tiny echo.tar", "-q", env=env,
       cwd=base / "c-make")
    r = runc.run_image(out / "tiny echo.tar")
    assert r.returncode == 0 and r.stdout == "tinyecho: (nothing to echo)\n", r.stderr
    assert listing(tmp) == []
