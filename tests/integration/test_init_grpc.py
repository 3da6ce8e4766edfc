"""minbase-init's gRPC health probe against a real gRPC server: grpc-go's own
health service (google.golang.org/grpc/health, Debian's golang-google-grpc-dev)
in tests/examples/grpc-health, built here in GOPATH mode and kept in build/.
`minbase-init probe` on the host for the answers (SERVING, NOT_SERVING, a named
service, an unknown one), a server that never answers and HTTP/1 servers; the
supervising init's state file; and the image path: mkimage --health-grpc, run
by a real dockerd, seen in `docker inspect` .State.Health.Status."""
import os
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BUILD, ROOT, need, need_root, need_tools
from testlib import free_port, mk

GRPC_DEV = Path("/usr/share/gocode/src/google.golang.org/grpc/health")


@pytest.fixture(scope="module")
def server_bin():
    need_tools("go")
    need(GRPC_DEV.is_dir(), "golang-google-grpc-dev is not installed (run `make deps`)")
    out = (BUILD / "grpc-health" / "grpc-health").resolve()
    subprocess.run([str(ROOT / "tests/examples/grpc-health/build"), str(out)], check=True,
                   timeout=900)
    return out


def wait_port(port, proc, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server exited: %s" % proc.stderr.read()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("nothing listens on %d" % port)


class Server:
    def __init__(self, argv, port):
        self.port, self.addr = port, "127.0.0.1:%d" % port
        self.proc = subprocess.Popen([str(a) for a in argv], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wait_port(port, self.proc)

    def stop(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def serve():
    started = []

    def start(argv, port):
        s = Server(argv, port)
        started.append(s)
        return s
    yield start
    for s in started:
        s.stop()


def grpc_server(serve, server_bin, *args):
    port = free_port()
    return serve([server_bin, "-addr", "127.0.0.1:%d" % port, *args], port)


def probe(init_bin, *args, env=None, timeout=60):
    e = {k: v for k, v in os.environ.items() if not k.startswith("MINBASE_")}
    e.update(env or {})
    p = subprocess.run([str(init_bin), "probe", *args], capture_output=True, text=True, env=e,
                       timeout=timeout)
    assert p.stdout.count("\n") == 1, p.stdout + p.stderr
    word = p.stdout.split(":")[0]
    assert (p.returncode == 0) == (word == "healthy"), p.stdout
    return word, p.stdout.strip()


def test_serving_not_serving_and_unknown_service(init_bin, server_bin, serve):
    s = grpc_server(serve, server_bin, "-status", "SERVING", "-service", "db=NOT_SERVING")
    assert probe(init_bin, "--health-grpc", s.addr) == \
        ("healthy", "healthy: grpc %s: SERVING" % s.addr)
    word, line = probe(init_bin, "--health-grpc", s.addr, "--health-grpc-service", "db")
    assert (word, line) == ("unhealthy", "unhealthy: grpc %s service `db`: NOT_SERVING" % s.addr)
    # grpc-go answers an unknown name with a trailers-only NOT_FOUND.
    word, line = probe(init_bin, "--health-grpc", s.addr, "--health-grpc-service", "nope")
    assert word == "unhealthy"
    assert "grpc-status 5 (NOT_FOUND): unknown service" in line, line


def test_named_service_serving_while_overall_not(init_bin, server_bin, serve):
    s = grpc_server(serve, server_bin, "-status", "NOT_SERVING", "-service",
                    "shop.Cart=SERVING")
    word, line = probe(init_bin, "--health-grpc", s.addr)
    assert (word, line.endswith(": NOT_SERVING")) == ("unhealthy", True), line
    assert probe(init_bin, "--health-grpc", s.addr, "--health-grpc-service", "shop.Cart")[0] == \
        "healthy"
    # The environment form, as an image carries it; localhost is 127.0.0.1.
    env = {"MINBASE_HEALTH_GRPC": "localhost:%d" % s.port,
           "MINBASE_HEALTH_GRPC_SERVICE": "shop.Cart"}
    assert probe(init_bin, env=env)[0] == "healthy"
    # ...and the command line wins over it.
    assert probe(init_bin, "--health-grpc-service", "", env=env)[0] == "unhealthy"


def test_server_that_never_answers(init_bin, tools, serve):
    port = free_port()
    serve([tools / "inithelper", "httpserver", port, "slow"], port)
    t = time.monotonic()
    word, line = probe(init_bin, "--health-grpc", "127.0.0.1:%d" % port,
                       "--health-timeout", "1s")
    assert word == "unhealthy"
    # The probe child gives up just before the init's kill, saying what
    # the server left unanswered.
    assert "no answer in 900ms, waiting for its HTTP/2 SETTINGS" in line, line
    assert time.monotonic() - t < 30


def test_http1_servers_are_named(init_bin, tools, serve):
    # Python's HTTP/1.1 server answers the HTTP/2 preface with a bare 505 page.
    port = free_port()
    serve(["/usr/bin/python3", "-m", "http.server", "--bind", "127.0.0.1", "--protocol",
           "HTTP/1.1", port], port)
    word, line = probe(init_bin, "--health-grpc", "127.0.0.1:%d" % port)
    assert word == "unhealthy"
    assert "not an HTTP/2 (h2c) server: it answered with text, as HTTP/1 servers do" in line, line
    port = free_port()
    serve([tools / "inithelper", "httpserver", port, "200"], port)
    word, line = probe(init_bin, "--health-grpc", "127.0.0.1:%d" % port)
    assert "as HTTP/1 servers do: `HTTP/1.0 200 X`" in line, line
    # Nothing listening: the connect error.
    port = free_port()
    assert "Connection refused" in probe(init_bin, "--health-grpc", "127.0.0.1:%d" % port)[1]


def test_option_errors(init_bin):
    for args, words in ((["--health-grpc", "nohost"], "invalid address `nohost`"),
                        (["--health-grpc-service", "x"], "needs a gRPC probe"),
                        (["--health-grpc", "127.0.0.1:1", "--health-grpc-service", "a b"],
                         "invalid service name `a b`"),
                        (["--health-grpc", "127.0.0.1:1", "--health-tcp", "127.0.0.1:1"],
                         "choose one health probe"),
                        (["--grace", "1s"], "--grace does not apply to `probe`")):
        p = subprocess.run([str(init_bin), "probe", *args], capture_output=True, text=True)
        assert p.returncode == 1 and words in p.stderr, (args, p.stderr)


def test_mkimage_refuses_bad_grpc_options(mkimage, server_bin, tmp_path):
    for args, words in ((["--health-grpc-service", "app"], "needs --health-grpc"),
                        (["--health-grpc", "nohost"], "--health-grpc: invalid address `nohost`"),
                        (["--health-grpc", "127.0.0.1:1", "--health-grpc-service", "a b"],
                         "--health-grpc-service: invalid service name `a b`"),
                        (["--health-grpc", "127.0.0.1:1", "--health-tcp", "127.0.0.1:1"],
                         "give only one of"),
                        # the init's grammar, applied to --env at build time
                        (["-e", "MINBASE_HEALTH_GRPC=nohost"], "would refuse to start"),
                        (["--health-tcp", "127.0.0.1:1", "-e", "MINBASE_HEALTH_GRPC=127.0.0.1:2"],
                         "contradicts --health-tcp"),
                        (["--health-grpc", "127.0.0.1:1", "--health-grpc-service", "a", "-e",
                          "MINBASE_HEALTH_GRPC_SERVICE=b"], "contradicts --health-grpc-service")):
        out = tmp_path / "x.tar"
        p = mk(mkimage, "--static", server_bin, "-o", out, *args, check=False)
        assert p.returncode == 2 and words in p.stderr, (args, p.stderr)
        assert not out.exists()


def test_supervising_init_publishes_grpc_health(init_bin, server_bin, tmp_path):
    """The init runs the gRPC server as its service and probes it."""
    need_root()
    need_tools("unshare")
    state = tmp_path / "health"
    port = free_port()
    p = subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc", "--kill-child",
                          str(init_bin), "--health-grpc", "127.0.0.1:%d" % port,
                          "--health-interval", "200ms", "--health-timeout", "5s",
                          "--health-retries", "1", "--health-file", str(state), "--",
                          str(server_bin), "-addr", "127.0.0.1:%d" % port],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    try:
        deadline, line = time.monotonic() + 60, ""
        while time.monotonic() < deadline and not line.startswith("healthy"):
            line = subprocess.run([str(init_bin), "health"], capture_output=True, text=True,
                                  env=dict(os.environ, MINBASE_HEALTH_FILE=str(state))).stdout
            time.sleep(0.05)
        assert line == "healthy: grpc 127.0.0.1:%d: SERVING\n" % port, line
    finally:
        p.kill()
        p.wait()


def test_image_health_in_dockerd(mkimage, dockerd, server_bin, tmp_path):
    """mkimage --health-grpc writes the probe into the image; Docker's own
    HEALTHCHECK machinery then reports the server's health."""
    img, tag = tmp_path / "grpc.tar", "minbase-test/grpc-health:1"
    mk(mkimage, "--static", server_bin, "-o", img, "--tag", tag,
       "--health-grpc", "127.0.0.1:50051", "--health-grpc-service", "app",
       "--health-interval", "500ms", "--health-timeout", "5s", "--health-retries", "1",
       "--", "-addr", "127.0.0.1:50051", "-service", "app=SERVING")
    shown = mk(mkimage, "inspect", img).stdout
    assert re.search(r"\n  GRPC +127\.0\.0\.1:50051\n  GRPC_SERVICE +app\n", shown), shown
    dockerd.docker("load", "-i", str(img))
    env = dockerd.docker("inspect", "-f", "{{json .Config.Env}}", tag)
    assert "MINBASE_HEALTH_GRPC=127.0.0.1:50051" in env.stdout
    assert "MINBASE_HEALTH_GRPC_SERVICE=app" in env.stdout
    names = []
    try:
        for name, extra, want in (("mbgrpc-ok", [], "healthy"),
                                  ("mbgrpc-bad", ["-addr", "127.0.0.1:50051", "-service",
                                                  "app=NOT_SERVING"], "unhealthy")):
            dockerd.docker("run", "-d", "--name", name, "--network", "none", tag, *extra)
            names.append(name)
            deadline, st = time.monotonic() + 120, ""
            while time.monotonic() < deadline and st != want:
                st = dockerd.docker("inspect", "-f", "{{.State.Health.Status}}",
                                    name).stdout.strip()
                time.sleep(0.2)
            log = dockerd.docker("inspect", "-f", "{{json .State.Health.Log}}", name).stdout
            assert st == want, (st, log)
            assert "service `app`: %s" % ("SERVING" if want == "healthy" else "NOT_SERVING") \
                in log, log
    finally:
        for n in names:
            dockerd.docker("rm", "-f", n, check=False)
