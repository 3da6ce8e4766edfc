"""Real runtimes for minbase's integration tests: runc, dockerd, a registry.

Nothing here is a mock: each class starts or drives the real program that
users run our images with.  Used by tests/integration/conftest.py and by the
quick-start demo (`python3 tests/tools/testlib.py run-runc IMAGE`).
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKER = "/usr/bin/docker"  # Debian's client matches Debian's engine (20.10)

ALL_CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
]


def host_bounding_caps():
    """ALL_CAPS limited to this machine's bounding set: runc cannot grant
    more than it has (some sandboxes lack e.g. CAP_SYS_RESOURCE)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapBnd:"):
            mask = int(line.split()[1], 16)
            return [c for i, c in enumerate(ALL_CAPS) if mask >> i & 1]
    return list(ALL_CAPS)


def run(cmd, check=True, timeout=120, **kw):
    """subprocess.run with captured text output and a readable failure."""
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                       timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise AssertionError("command failed (exit %d): %s\nstdout:\n%s\nstderr:\n%s"
                             % (p.returncode, " ".join(map(str, cmd)), p.stdout, p.stderr))
    return p


def mk(mkimage, *args, cwd=None, check=True, env=None, preexec=None, timeout=300):
    """Run mkimage with ARGS (extra env on top of ours); assert success by default."""
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([str(mkimage)] + [str(a) for a in args], capture_output=True,
                       text=True, cwd=cwd, env=e, preexec_fn=preexec, timeout=timeout)
    if check:
        assert p.returncode == 0, "mkimage failed (%d): %s" % (p.returncode, p.stderr)
    return p


def wait_http(port, path="/health", timeout=30, exited=None):
    """GET http://127.0.0.1:PORT/PATH until the server answers; return
    (status, body).  exited(): between tries, a message when the server is
    gone for good (fail at once), else None."""
    end = time.time() + timeout
    last = None
    while time.time() < end:
        why = exited() if exited else None
        if why:
            raise AssertionError(why)
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=2) as r:
                return r.status, r.read()
        except (OSError, http.client.HTTPException) as e:  # not up yet
            last = e
            time.sleep(0.1)
    raise AssertionError("no answer on 127.0.0.1:%d%s in %d s: %s" % (port, path, timeout, last))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def image_to_layout(image, workdir):
    """Return (layout_dir, ref) for an image archive (tar) or layout dir."""
    image = Path(image)
    if image.is_dir():
        layout = image
    else:
        layout = Path(workdir) / "layout"
        layout.mkdir(parents=True, exist_ok=True)
        run(["tar", "-C", layout, "-xf", image])
    index = json.loads((layout / "index.json").read_text())
    ann = index["manifests"][0].get("annotations", {})
    ref = ann.get("org.opencontainers.image.ref.name", "latest")
    return layout, ref


class Runc:
    """Unpack an image with umoci and run it as a real runc container."""

    def __init__(self, workdir):
        self.workdir = Path(workdir)
        self.state = self.workdir / "runc-state"
        self.state.mkdir(parents=True, exist_ok=True)

    def unpack(self, image):
        """umoci-unpack IMAGE into a fresh bundle; return the bundle path."""
        d = Path(tempfile.mkdtemp(prefix="bundle-", dir=self.workdir))
        layout, ref = image_to_layout(image, d)
        bundle = d / "bundle"
        run(["umoci", "unpack", "--image", "%s:%s" % (layout, ref), bundle])
        return bundle

    @staticmethod
    def fix_config(bundle, args=None, user=None, env=None, caps_full=False, mutate=None):
        """The tweaks ENVIRONMENT.md documents for this kernel, plus overrides."""
        cfgp = Path(bundle) / "config.json"
        cfg = json.loads(cfgp.read_text())
        lin = cfg.setdefault("linux", {})
        lin.pop("resources", None)
        lin["cgroupsPath"] = ""
        # umoci --rootless adds a user namespace; as root we run without it.
        lin["namespaces"] = [n for n in lin.get("namespaces", []) if n["type"] != "user"]
        lin.pop("uidMappings", None)
        lin.pop("gidMappings", None)
        proc = cfg["process"]
        proc["terminal"] = False
        if args is not None:
            proc["args"] = list(args)
        if user is not None:
            uid, _, gid = str(user).partition(":")
            proc["user"] = {"uid": int(uid), "gid": int(gid or uid)}
        if env:
            keys = {e.split("=", 1)[0] for e in env}
            proc["env"] = [e for e in proc.get("env", []) if e.split("=", 1)[0] not in keys]
            proc["env"] += list(env)
        if caps_full:
            proc["capabilities"] = {k: host_bounding_caps() for k in
                                    ("bounding", "effective", "permitted", "inheritable", "ambient")}
            proc["noNewPrivileges"] = False
        if mutate:
            mutate(cfg)
        cfgp.write_text(json.dumps(cfg, indent=1))
        return cfg

    def run_bundle(self, bundle, timeout=60, input=None):
        cid = "mb-" + uuid.uuid4().hex[:12]
        try:
            return subprocess.run(["runc", "--root", str(self.state), "run", "--bundle",
                                   str(bundle), cid], capture_output=True, text=True,
                                  timeout=timeout, input=input, stdin=None if input else subprocess.DEVNULL)
        finally:
            subprocess.run(["runc", "--root", str(self.state), "delete", "-f", cid],
                           capture_output=True)

    def run_image(self, image, args=None, user=None, env=None, caps_full=False,
                  mutate=None, timeout=60):
        bundle = self.unpack(image)
        self.fix_config(bundle, args, user, env, caps_full, mutate)
        return self.run_bundle(bundle, timeout)

    def run_rootfs(self, rootfs, args, user=None, env=None, caps_full=False,
                   mutate=None, timeout=60):
        """Run ARGS in an existing rootfs directory (runc spec's default config)."""
        bundle = Path(tempfile.mkdtemp(prefix="bundle-", dir=self.workdir))
        run(["runc", "spec", "--bundle", bundle])
        self.fix_config(bundle, args, user or "0:0", env, caps_full, mutate)
        cfgp = bundle / "config.json"
        cfg = json.loads(cfgp.read_text())
        cfg["root"] = {"path": os.path.abspath(rootfs), "readonly": False}
        cfgp.write_text(json.dumps(cfg))
        return self.run_bundle(bundle, timeout)


class Dockerd:
    """A real Docker engine with its own data dir, on a private socket."""

    def __init__(self, extra_args=()):
        # Short path: the engine's sockets must fit in sun_path.
        self.dir = Path(tempfile.mkdtemp(prefix="mbd.", dir="/tmp"))
        self.sock = self.dir / "docker.sock"
        self.log = open(self.dir / "dockerd.log", "w")
        self.proc = subprocess.Popen(
            ["dockerd", "--iptables=false", "--ip6tables=false", "--bridge=none",
             "--data-root=%s/data" % self.dir, "--exec-root=%s/exec" % self.dir,
             "-H", "unix://%s" % self.sock, "--pidfile", "%s/pid" % self.dir] + list(extra_args),
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("dockerd exited: " + (self.dir / "dockerd.log").read_text()[-2000:])
            if self.sock.exists() and self.docker("version", check=False).returncode == 0:
                return
            time.sleep(0.3)
        self.stop()
        raise RuntimeError("dockerd did not come up in 60 s")

    def docker(self, *args, check=True, timeout=180):
        return run([DOCKER, "-H", "unix://%s" % self.sock] + list(args), check=check,
                   timeout=timeout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        subprocess.run(["umount", "-R", "-l", str(self.dir / "data")], capture_output=True)
        subprocess.run(["umount", "-R", "-l", str(self.dir / "exec")], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


class Registry:
    """The CNCF distribution registry on 127.0.0.1 with its own storage.

    auth: None (open), ("token", TokenIssuer) or ("htpasswd", FILE);
    tls: (certificate, key) to serve https.  The access log (one line per
    request, Apache format) is in self.logfile: requests() counts them."""

    def __init__(self, auth=None, tls=None):
        self.dir = Path(tempfile.mkdtemp(prefix="mbreg."))
        self.port = free_port()
        self.addr = "127.0.0.1:%d" % self.port
        self.logfile = self.dir / "registry.log"
        cfg = self.dir / "config.yml"
        text = ("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
                "    rootdirectory: %s/data\n  delete:\n    enabled: true\n"
                "http:\n  addr: %s\n" % (self.dir, self.addr))
        if tls:
            text += "  tls:\n    certificate: %s\n    key: %s\n" % tuple(tls)
        if auth and auth[0] == "token":
            iss = auth[1]
            text += ("auth:\n  token:\n    realm: %s\n    service: %s\n    issuer: %s\n"
                     "    rootcertbundle: %s\n" % (iss.realm, "minbase-test-registry",
                                                  "minbase-test-issuer", iss.cert_path))
        elif auth and auth[0] == "htpasswd":
            text += "auth:\n  htpasswd:\n    realm: minbase-test\n    path: %s\n" % auth[1]
        cfg.write_text(text)
        self.log = open(self.logfile, "w")
        self.proc = subprocess.Popen(["docker-registry", "serve", str(cfg)], stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("registry exited: " + self.logfile.read_text())
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("registry did not come up in 30 s")

    def requests(self, method=None, contains="", status=None):
        """Access-log lines of requests, filtered by method, a substring of
        the request line and the status code."""
        out = []
        for line in self.logfile.read_text(errors="replace").splitlines():
            q1 = line.find('"')
            q2 = line.find('"', q1 + 1)
            if q1 < 0 or q2 < 0 or not line[:q1].startswith("127.0.0.1 "):
                continue
            req = line[q1 + 1:q2].split(" ")
            rest = line[q2 + 1:].split()
            if len(req) < 2 or not rest:
                continue
            if method and req[0] != method:
                continue
            if contains not in req[1]:
                continue
            if status is not None and rest[0] != str(status):
                continue
            out.append((req[0], req[1], rest[0]))
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def main(argv):
    """`testlib.py run-runc IMAGE [ARGS...]`: run an image under runc, print its output."""
    if len(argv) < 2 or argv[0] != "run-runc":
        print("usage: testlib.py run-runc IMAGE [ARGS...]", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="mbrun.") as d:
        p = Runc(d).run_image(argv[1], args=argv[2:] or None)
        sys.stdout.write(p.stdout)
        sys.stderr.write(p.stderr)
        return p.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
