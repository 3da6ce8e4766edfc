"""Issue 5, end to end: from source to a static binary to an image, in one
command.  Each kind of APP (Go module, C file, directory of C files,
directory with a Makefile) is built with mkimage; the HTTP examples run
under runc and a real dockerd and answer /health; two builds of the same
sources give identical binaries and identical image digests.

The Go build is the slow part (~15-20 s cold on 2 cores), so the images are
module-scoped fixtures shared by the tests."""
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

from conftest import ROOT, need_tools
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
    """make's CFLAGS hold the source path: one too long for them is refused
    with a message, never passed on cut short (other flags than ours)."""
    need_tools("musl-gcc", "make")
    d = tmp_path
    while len(str(d)) < 4000:
        d = d / ("p" * min(250, 4000 - len(str(d)) + 1))
    d.mkdir(parents=True)
    shutil.copy(EXAMPLES / "hello" / "hello.c", d / "hello.c")
    (d / "Makefile").write_text("deep: hello.c\n\t$(CC) $(CFLAGS) $(LDFLAGS) -o $@ hello.c\n")
    p = mk(mkimage, "build", d, "-o", work / "deep.bin", check=False)
    assert p.returncode == 1, p.stderr
    assert "compiler flags are longer than" in p.stderr, p.stderr
    assert not (work / "deep.bin").exists()


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
