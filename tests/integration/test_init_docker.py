"""minbase-init under a real Docker engine: mounted in tini's place by
`docker run --init` (the engine runs it as `INIT -- cmd args`), configured by
ENV, and answering HEALTHCHECK CMD ["/usr/bin/minbase-init","health"]."""
import io
import signal
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

import pytest

import testlib
from conftest import need_root, need_tools

IMAGE = "minbase-init-test:1"


@pytest.fixture(scope="module")
def engine(init_bin, tools):
    need_root()
    need_tools("dockerd", "docker")
    d = testlib.Dockerd(extra_args=["--init-path", str(init_bin.resolve())])
    try:
        # A two-file image: our init and the test helper, plus passwd/group.
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as t:
            def add(name, data=None, path=None, mode=0o755):
                if path:
                    data = Path(path).read_bytes()
                ti = tarfile.TarInfo(name)
                ti.size, ti.mode = len(data), mode
                t.addfile(ti, io.BytesIO(data))
            for dname in ("tmp", "etc", "usr", "usr/bin", "app"):
                ti = tarfile.TarInfo(dname)
                ti.type, ti.mode = tarfile.DIRTYPE, 0o1777 if dname == "tmp" else 0o755
                t.addfile(ti)
            add("usr/bin/minbase-init", path=init_bin)
            add("app/inithelper", path=tools / "inithelper")
            add("etc/passwd", b"root:x:0:0::/:/x\nnonroot:x:65532:65532::/:/x\n", mode=0o644)
            add("etc/group", b"root:x:0:\nnonroot:x:65532:\n", mode=0o644)
        tarp = d.dir / "rootfs.tar"
        tarp.write_bytes(buf.getvalue())
        d.docker("import", str(tarp), IMAGE)
        yield d
    finally:
        d.stop()


def test_docker_init_runs_minbase_init_in_tinis_place(engine):
    p = engine.docker("run", "--rm", "--init", "--network", "none", IMAGE,
                      "/app/inithelper", "exit", "3", check=False)
    assert p.returncode == 3, p.stderr
    # Only minbase-init understands MINBASE_USER: proof it is the init.
    p = engine.docker("run", "--rm", "--init", "--network", "none", "-e",
                      "MINBASE_USER=65532:65532", IMAGE, "/app/inithelper", "status")
    assert "Uid:\t65532\t65532\t65532\t65532" in p.stdout, p.stdout
    assert "NoNewPrivs:\t1" in p.stdout
    p = engine.docker("run", "--rm", "--init", "--network", "none", IMAGE,
                      "/app/inithelper", "kill", str(int(signal.SIGTERM)), check=False)
    assert p.returncode == 128 + signal.SIGTERM


def test_docker_stop_is_forwarded(engine):
    engine.docker("run", "-d", "--name", "mbi-stop", "--init", "--network", "none", IMAGE,
                  "/app/inithelper", "sigwait", "1")
    try:
        for _ in range(100):
            if "ready" in engine.docker("logs", "mbi-stop").stdout:
                break
            time.sleep(0.1)
        engine.docker("stop", "-t", "20", "mbi-stop")
        st = engine.docker("inspect", "-f", "{{.State.ExitCode}}", "mbi-stop").stdout.strip()
        assert st == "0"  # sigwait got SIGTERM from the init and exited 0
        assert "signal 15" in engine.docker("logs", "mbi-stop").stdout
    finally:
        engine.docker("rm", "-f", "mbi-stop", check=False)


def test_healthcheck_with_minbase_init_health(engine, tmp_path):
    (tmp_path / "Dockerfile").write_text(
        "FROM %s\n"
        "ENV MINBASE_HEALTH_TCP=127.0.0.1:8080 MINBASE_HEALTH_INTERVAL=200ms\n"
        "HEALTHCHECK --interval=1s --timeout=5s --retries=2 "
        "CMD [\"/usr/bin/minbase-init\",\"health\"]\n"
        "ENTRYPOINT [\"/usr/bin/minbase-init\",\"--\"]\n"
        "CMD [\"/app/inithelper\",\"tcpserver\",\"8080\"]\n" % IMAGE)
    engine.docker("build", "-q", "-t", "minbase-init-health:1", str(tmp_path))
    engine.docker("run", "-d", "--name", "mbi-health", "--network", "none",
                  "minbase-init-health:1")
    try:
        status = ""
        for _ in range(150):
            status = engine.docker("inspect", "-f", "{{.State.Health.Status}}",
                                   "mbi-health").stdout.strip()
            if status == "healthy":
                break
            time.sleep(0.2)
        assert status == "healthy", engine.docker("inspect", "mbi-health").stdout[-3000:]
        log = engine.docker("inspect", "-f", "{{json .State.Health.Log}}", "mbi-health").stdout
        assert "healthy: tcp connect to 127.0.0.1:8080 ok" in log
    finally:
        engine.docker("rm", "-f", "mbi-health", check=False)


def test_docker_run_as_root_still_runs_the_service_as_the_image_user(engine, mkimage, tools,
                                                                     tmp_path):
    """`docker run -u 0 --cap-add ...` (every capability this machine can
    grant: a sandbox may lack some, and `ALL` then fails in runc) on an image
    built without --user: the service runs as 65532 with nothing kept;
    `-u 1000` keeps 1000 and starts."""
    out = tmp_path / "u.tar"
    testlib.mk(mkimage, "--static", tools / "inithelper", "-o", out, "-t", "minbase-user:1",
               "--policy", "default", "-q")
    engine.docker("load", "-q", "-i", str(out))

    def status(*opts):
        p = engine.docker("run", "--rm", "--network", "none", *opts, "minbase-user:1", "status")
        return {l.split(":")[0]: l.split(":", 1)[1].split() for l in p.stdout.splitlines()}

    # Docker 20.10 knows the capabilities up to CAP_AUDIT_READ (37).
    known = set(testlib.ALL_CAPS[:38])
    caps = [a for c in testlib.host_bounding_caps() if c in known for a in ("--cap-add", c[4:])]
    s = status("-u", "0", *caps)
    assert s["Uid"] == ["65532"] * 4 and s["Gid"] == ["65532"] * 4, s
    for k in ("CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(s[k][0], 16) == 0, (k, s[k])
    assert s["NoNewPrivs"] == ["1"] and s["Seccomp"] == ["2"]
    s = status("-u", "1000:1000")
    assert s["Uid"] == ["1000"] * 4 and int(s["CapEff"][0], 16) == 0, s
    assert s["NoNewPrivs"] == ["1"] and s["Seccomp"] == ["2"]
    # Root without the capabilities to switch: the service is not run as
    # root instead (fail closed), and the message says what to grant.
    p = engine.docker("run", "--rm", "--network", "none", "-u", "0", "--cap-drop", "ALL",
                      "minbase-user:1", "status", check=False)
    assert p.returncode == 1 and p.stdout == "", p
    assert "runs as root without the capability" in p.stderr, p.stderr
