"""Issue 4, end to end: seccomp policies compiled by `mkimage policy` and
loaded by the real minbase-init in real runc containers (and exported to a
real dockerd).  tests/tools/sysprobe makes named syscalls and prints what
each returned, so every test compares what a filter allows against what
happens with no filter at all."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from conftest import ROOT, need, need_tools
import testlib

# Each probe's result with no filter, as root with every capability (see
# sysprobe.c): a filter's answer differs from these.
PROBES = ["getppid", "mount", "unshare", "keyctl", "ptrace", "clone3",
          "personality-query", "personality-bad", "socket-inet", "socket-packet",
          "mseal", "chroot", "fork"]
UNFILTERED = {"getppid": "ok", "mount": "ENOENT", "unshare": "ok", "keyctl": "EOPNOTSUPP",
              "ptrace": "ESRCH", "clone3": "EINVAL", "personality-query": "ok",
              "personality-bad": "ok", "socket-inet": "ok", "socket-packet": "ok",
              "mseal": "ok", "chroot": "ENOENT", "fork": "ok"}
# What Docker's default profile gives (and so our `default`): blocks
# mount/unshare/keyctl/chroot and odd personalities, ENOSYS for clone3 and
# for syscalls newer than it knows; allows ptrace (kernel >= 4.8).
DOCKER_LIKE = dict(UNFILTERED, mount="EPERM", unshare="EPERM", keyctl="EPERM",
                   clone3="ENOSYS", **{"personality-bad": "EPERM"}, mseal="ENOSYS",
                   chroot="EPERM")
SERVICE = dict(DOCKER_LIKE, ptrace="EPERM", **{"personality-query": "EPERM",
               "socket-packet": "EPERM"}, fork="EPERM")


def parse_probes(text):
    res = {}
    for line in text.splitlines():
        name, _, val = line.partition(" ")
        if name in UNFILTERED:
            res[name] = val
    return res


def mk(mkimage, *args, check=True, env=None, timeout=120):
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([str(mkimage)] + [str(a) for a in args], capture_output=True,
                       text=True, env=e, timeout=timeout)
    if check:
        assert p.returncode == 0, "mkimage %s failed (%d): %s" % (args[:2], p.returncode, p.stderr)
    return p


@pytest.fixture(scope="module")
def moby_profile(build):
    p = build / "tests" / "fixtures" / "moby-default.json"
    assert p.exists(), "%s missing: run `make test-support`" % p
    return p


@pytest.fixture(scope="module")
def sysprobe(tools):
    p = tools / "sysprobe"
    assert p.exists(), "build/tests/bin/sysprobe missing: run `make test-support`"
    return p


@pytest.fixture(scope="module")
def go_server(tmp_path_factory):
    need_tools("go")
    out = tmp_path_factory.mktemp("go") / "go-http"
    env = dict(os.environ, CGO_ENABLED="0", GOFLAGS="-mod=mod", GOPROXY="off",
               GOTOOLCHAIN="local", GOCACHE=str(out.parent / "cache"), HOME=str(out.parent))
    testlib.run(["go", "build", "-trimpath", "-ldflags=-s -w -buildid=", "-o", str(out), "."],
                cwd=ROOT / "tests" / "examples" / "go-http", env=env, timeout=300)
    return out


@pytest.fixture(scope="module")
def c_server(tmp_path_factory):
    need_tools("musl-gcc")
    out = tmp_path_factory.mktemp("c") / "c-http"
    testlib.run(["musl-gcc", "-static", "-Os", "-o", str(out),
                 str(ROOT / "tests" / "examples" / "c-http" / "server.c")])
    return out


def make_rootfs(root, init_bin, app, bpf=None):
    """A minimal rootfs: the init, one program at /app, and the filter."""
    for d in ("usr/bin", "app", "etc/minbase", "tmp", "proc", "dev", "sys"):
        (root / d).mkdir(parents=True, exist_ok=True)
    os.chmod(root / "tmp", 0o1777)
    shutil.copy(init_bin, root / "usr/bin/minbase-init")
    shutil.copy(app, root / "app" / Path(app).name)
    (root / "etc/passwd").write_text("root:x:0:0::/:/nonexistent\nnonroot:x:65532:65532::/home/nonroot:/nonexistent\n")
    (root / "etc/group").write_text("root:x:0:\nnonroot:x:65532:\n")
    if bpf:
        shutil.copy(bpf, root / "etc/minbase/seccomp.bpf")
    return root


def host_network(cfg):
    """Share the host's network namespace so 127.0.0.1 reaches the server."""
    cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "network"]


def held_caps():
    """Every capability this machine's bounding set has (a sandbox may lack
    some, e.g. CAP_SYS_RESOURCE; runc fails to apply one it lacks)."""
    bnd = int([l for l in Path("/proc/self/status").read_text().splitlines()
               if l.startswith("CapBnd:")][0].split()[1], 16)
    return [c for i, c in enumerate(testlib.ALL_CAPS) if bnd >> i & 1]


def full_caps(cfg):
    caps = held_caps()
    cfg["process"]["capabilities"] = {k: list(caps) for k in
                                      ("bounding", "effective", "permitted", "inheritable", "ambient")}
    cfg["process"]["noNewPrivileges"] = False


def probe_under_init(runc, tmp_path, init_bin, sysprobe, bpf, probes=PROBES, caps=None):
    root = make_rootfs(tmp_path / ("rootfs-" + uuid.uuid4().hex[:6]), init_bin, sysprobe, bpf)
    # The init drops every capability it is not told to keep when it loads
    # a filter: keep them all, so that only the filter can deny.
    env = ["MINBASE_CAPS=" + ",".join(held_caps() if caps is None else caps)]
    env += ["MINBASE_SECCOMP=/etc/minbase/seccomp.bpf"] if bpf else []
    r = runc.run_rootfs(root, ["/usr/bin/minbase-init", "--", "/app/sysprobe"] + list(probes),
                        user="0:0", env=env, mutate=full_caps)
    assert r.returncode == 0, "container failed (%d): %s %s" % (r.returncode, r.stdout, r.stderr)
    return parse_probes(r.stdout)


def compile_policy(mkimage, policy, out, *extra):
    mk(mkimage, "policy", "compile", policy, "-o", out, *extra)
    return out


# ---- compile, check, export: the CLI --------------------------------------

def test_moby_default_compiles_as_is(mkimage, moby_profile, tmp_path):
    for arch in ("x86_64", "aarch64"):
        out = tmp_path / ("moby.%s.bpf" % arch)
        compile_policy(mkimage, moby_profile, out, "--arch", arch)
        data = out.read_bytes()
        assert data[:8] == b"MBSECCMP"
        n = int.from_bytes(data[16:20], "little")
        assert len(data) == 28 + 8 * n
        assert int.from_bytes(data[12:16], "little") == {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}[arch]
    # With capabilities, Docker's cap-gated rules join in.
    compile_policy(mkimage, moby_profile, tmp_path / "admin.bpf", "--caps", "CAP_SYS_ADMIN,sys_ptrace")
    assert (tmp_path / "admin.bpf").read_bytes() != (tmp_path / "moby.x86_64.bpf").read_bytes()


def test_default_is_docker_default(mkimage, moby_profile):
    """Our `default` allows nothing Docker's profile denies, for any of
    Docker's capability groups, and Docker's allows nothing ours denies;
    the only differences are newer harmless syscalls later Moby allows."""
    newer = {"cachestat", "fchmodat2", "map_shadow_stack", "futex_wake", "futex_wait",
             "futex_requeue", "set_mempolicy_home_node"}
    for caps in ("", "CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_SYS_NICE,CAP_SYSLOG",
                 "CAP_SYS_BOOT,CAP_SYS_CHROOT,CAP_SYS_MODULE,CAP_SYS_PACCT,CAP_SYS_RAWIO,"
                 "CAP_SYS_TIME,CAP_SYS_TTY_CONFIG,CAP_DAC_READ_SEARCH"):
        for arch in ("x86_64", "aarch64"):
            ours = mk(mkimage, "policy", "check", "default", "--caps", caps, "--arch", arch,
                      "--against", moby_profile).stdout
            line = [l for l in ours.splitlines() if "denied by" in l or "allows nothing" in l]
            extra = set(line[0].split(":", 1)[1].split()) if "denied by" in line[0] else set()
            assert extra <= newer, (caps, arch, extra - newer)
            theirs = mk(mkimage, "policy", "check", moby_profile, "--caps", caps, "--arch", arch,
                        "--against", "default").stdout
            assert "allows nothing that" in theirs, (caps, arch, theirs)


def test_precompiled_policies_match(mkimage, build, tmp_path):
    share = build / "share" / "minbase" / "policies"
    for name in ("default", "service", "strict"):
        pre = share / ("%s.x86_64.bpf" % name)
        assert pre.exists(), "%s missing: run `make test-support`" % pre
        out = compile_policy(mkimage, share / ("%s.json" % name), tmp_path / (name + ".bpf"))
        assert out.read_bytes() == pre.read_bytes()
        summary = mk(mkimage, "policy", "check", name).stdout
        assert "default action: SCMP_ACT_ERRNO" in summary
        if name != "default":
            assert "allows nothing that" in summary, summary


def test_check_reports_what_default_denies(mkimage, tmp_path):
    p = tmp_path / "loose.json"
    p.write_text(json.dumps({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["read", "write", "mount", "keyctl"], "action": "SCMP_ACT_ALLOW"}]}))
    out = mk(mkimage, "policy", "check", p).stdout
    assert "rules: 1" in out
    line = [l for l in out.splitlines() if "denied by" in l][0]
    assert set(line.split(":", 1)[1].split()) == {"mount", "keyctl"}


@pytest.mark.parametrize("body,want", [
    ('{"defaultAction": "SCMP_ACT_ERRNO",\n  "syscalls": [\n    {"names": ["read"],}\n  ]}',
     "invalid JSON at line 3 column"),
    ('{"defaultAction": "SCMP_ACT_DENY"}', "unknown action `SCMP_ACT_DENY`"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": '
     '"SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_SOMETIMES"}]}]}',
     "syscalls[0].args[0]: unknown operator `SCMP_CMP_SOMETIMES`"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": '
     '"SCMP_ACT_ALLOW"}, {"names": ["write", "frobnicate"], "action": "SCMP_ACT_ALLOW"}]}',
     "syscalls[1].names[1]: unknown syscall `frobnicate`"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_AARCH64"]}',
     "does not cover x86_64"),
    # Syscalls newer than libseccomp are known by number: a typo of one is
    # still unknown, and one of another architecture still does not exist.
    ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["mseal", "listmnt"], '
     '"action": "SCMP_ACT_ALLOW"}]}', "syscalls[0].names[1]: unknown syscall `listmnt`"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["riscv_hwprobe"], '
     '"action": "SCMP_ACT_ALLOW"}]}', "syscall `riscv_hwprobe` does not exist on x86_64"),
])
def test_bad_policy(mkimage, tmp_path, body, want):
    p = tmp_path / "bad.json"
    p.write_text(body)
    out = tmp_path / "out.bpf"
    r = mk(mkimage, "policy", "compile", p, "-o", out, "--arch", "x86_64", check=False)
    assert r.returncode == 1, r.stderr
    assert r.stderr.startswith("mkimage: ") and want in r.stderr, r.stderr
    assert list(tmp_path.iterdir()) == [p], "output left behind"
    r = mk(mkimage, "policy", "check", p, check=False)
    assert r.returncode == 1 and want in r.stderr


def test_bad_files_and_usage(mkimage, tmp_path):
    r = mk(mkimage, "policy", "compile", tmp_path / "missing.json", "-o", tmp_path / "o.bpf", check=False)
    assert r.returncode == 1 and "cannot open policy" in r.stderr and "No such file" in r.stderr
    r = mk(mkimage, "policy", "compile", "nosuchpolicy", "-o", tmp_path / "o.bpf", check=False)
    assert r.returncode == 1 and "no shipped policy named `nosuchpolicy`" in r.stderr
    if os.geteuid() != 0:  # root reads anything: only a non-root user can see EACCES
        unreadable = tmp_path / "unreadable.json"
        unreadable.write_text("{}")
        unreadable.chmod(0)
        r = mk(mkimage, "policy", "check", unreadable, check=False)
        assert r.returncode == 1 and "Permission denied" in r.stderr
    r = mk(mkimage, "policy", "compile", "default", "-o", tmp_path / "nodir" / "o.bpf", check=False)
    assert r.returncode == 1 and "cannot write" in r.stderr
    r = mk(mkimage, "policy", "compile", "default", "-o", tmp_path / "o.bpf", "--arch", "mips", check=False)
    assert r.returncode == 1 and "unsupported architecture `mips`" in r.stderr
    r = mk(mkimage, "policy", "compile", "default", "-o", tmp_path / "o.bpf", "--caps", "CAP_FLY", check=False)
    assert r.returncode == 1 and "unknown capability `CAP_FLY`" in r.stderr
    assert not (tmp_path / "o.bpf").exists()
    for args in (["policy"], ["policy", "frob"], ["policy", "compile", "default"],
                 ["policy", "export", "default"], ["policy", "export", "default", "--format", "yaml"],
                 ["policy", "learn", "-o", tmp_path / "l.json"], ["policy", "check", "--bogus", "x"]):
        r = mk(mkimage, *args, check=False)
        assert r.returncode == 2, (args, r.stderr)
        assert "usage: mkimage policy" in r.stderr
    assert mk(mkimage, "policy", "--help").stdout.startswith("usage: mkimage policy")
    r = mk(mkimage, "policy", "learn", "-o", tmp_path / "l.json", "--", tmp_path / "noprog", check=False)
    assert r.returncode == 1 and "cannot run" in r.stderr and "noprog" in r.stderr
    assert not (tmp_path / "l.json").exists()


def test_compile_notes_left_out_names(mkimage, moby_profile, tmp_path):
    r = mk(mkimage, "policy", "compile", moby_profile, "-o", tmp_path / "m.bpf", "--arch", "aarch64")
    assert "note: 105 syscall names" in r.stderr and "left out for aarch64" in r.stderr
    out = mk(mkimage, "policy", "check", moby_profile, "--arch", "aarch64").stdout
    assert "left out for aarch64:" in out and " alarm" in out


def test_export_flat(mkimage, moby_profile, tmp_path):
    out = tmp_path / "flat.json"
    mk(mkimage, "policy", "export", moby_profile, "--format", "docker", "-o", out)
    j = json.loads(out.read_text())
    assert j["defaultAction"] == "SCMP_ACT_ERRNO" and j["architectures"] == ["SCMP_ARCH_X86_64"]
    text = out.read_text()
    assert "includes" not in text and "excludes" not in text and "archMap" not in text
    names = {n for r in j["syscalls"] for n in r["names"]}
    assert "read" in names and "mount" not in names and "_llseek" not in names
    admin = json.loads(mk(mkimage, "policy", "export", moby_profile, "--format", "oci",
                          "--caps", "CAP_SYS_ADMIN").stdout)
    assert "mount" in {n for r in admin["syscalls"] for n in r["names"]}
    # The flat export compiles to the same decisions: it is a policy too.
    compile_policy(mkimage, out, tmp_path / "flat.bpf")


# ---- filters loaded by the real init in real containers -------------------

# The names Moby's current default allows that libseccomp 2.5.4 does not
# know (ours, not a copy of Moby's file: the shipped `default` plus them).
NEWER_NAMES = ["getxattrat", "setxattrat", "listxattrat", "removexattrat", "listmount",
               "statmount", "mseal", "lsm_get_self_attr", "lsm_set_self_attr",
               "lsm_list_modules", "uretprobe", "riscv_hwprobe"]
NEWER_PROBES = ["mseal", "listmount", "statmount", "open_tree_attr", "getppid"]


def newer_profile(tmp_path):
    prof = json.loads((ROOT / "policies" / "default.json").read_text())
    prof["syscalls"].append({"names": [n for n in NEWER_NAMES if n not in ("uretprobe", "riscv_hwprobe")],
                             "action": "SCMP_ACT_ALLOW"})
    prof["syscalls"].append({"names": ["uretprobe"], "action": "SCMP_ACT_ALLOW",
                             "includes": {"arches": ["amd64"]}})
    prof["syscalls"].append({"names": ["riscv_hwprobe"], "action": "SCMP_ACT_ALLOW",
                             "includes": {"arches": ["riscv64"]}})
    p = tmp_path / "newer.json"
    p.write_text(json.dumps(prof, indent=1))
    return p


def run_probes(runc, tmp_path, init_bin, sysprobe, bpf, probes):
    root = make_rootfs(tmp_path / ("rootfs-" + uuid.uuid4().hex[:6]), init_bin, sysprobe, bpf)
    env = ["MINBASE_CAPS=" + ",".join(held_caps())]
    env += ["MINBASE_SECCOMP=/etc/minbase/seccomp.bpf"] if bpf else []
    r = runc.run_rootfs(root, ["/usr/bin/minbase-init", "--", "/app/sysprobe"] + probes,
                        user="0:0", env=env, mutate=full_caps)
    assert r.returncode == 0, "container failed (%d): %s %s" % (r.returncode, r.stdout, r.stderr)
    return dict(l.split(" ", 1) for l in r.stdout.splitlines() if l.split(" ", 1)[0] in probes)


def test_newer_syscalls_allowed_by_number(runc, mkimage, init_bin, sysprobe, tmp_path):
    """A profile naming syscalls newer than libseccomp compiles for both
    arches, and under the init-loaded filter they get the kernel's own
    answer (what they get with no filter), not EPERM; the shipped
    `default`, which names none of them, still answers ENOSYS."""
    prof = newer_profile(tmp_path)
    for arch in ("x86_64", "aarch64"):
        compile_policy(mkimage, prof, tmp_path / ("newer.%s.bpf" % arch), "--arch", arch)
    check = mk(mkimage, "policy", "check", prof).stdout
    assert "allowed here but denied by" in check and " mseal" in check and " uretprobe" in check
    bare = run_probes(runc, tmp_path, init_bin, sysprobe, None, NEWER_PROBES)
    need(bare["mseal"] != "ENOSYS" and bare["listmount"] != "ENOSYS",
         "a kernel with mseal and listmount (6.10): this one answers %s" % bare)
    assert bare["listmount"] == "EFAULT" and bare["mseal"] == "ok", bare
    got = run_probes(runc, tmp_path, init_bin, sysprobe, tmp_path / "newer.x86_64.bpf", NEWER_PROBES)
    # open_tree_attr (467) is above the newest name the profile knows.
    assert got == dict(bare, open_tree_attr="ENOSYS"), (got, bare)
    old = compile_policy(mkimage, "default", tmp_path / "default.bpf")
    got = run_probes(runc, tmp_path, init_bin, sysprobe, old, NEWER_PROBES)
    assert got == {"mseal": "ENOSYS", "listmount": "ENOSYS", "statmount": "ENOSYS",
                   "open_tree_attr": "ENOSYS", "getppid": "ok"}, got


def test_no_filter_baseline(runc, init_bin, sysprobe, tmp_path):
    """Without a filter every probe gets its natural answer: what the
    filtered runs below see differently is the filter's doing."""
    assert probe_under_init(runc, tmp_path, init_bin, sysprobe, None) == UNFILTERED


@pytest.mark.parametrize("policy", ["default", "moby"])
def test_default_policy_like_docker(runc, mkimage, init_bin, sysprobe, moby_profile, tmp_path, policy):
    src = moby_profile if policy == "moby" else "default"
    bpf = compile_policy(mkimage, src, tmp_path / "f.bpf")
    assert probe_under_init(runc, tmp_path, init_bin, sysprobe, bpf) == DOCKER_LIKE


def test_linear_and_tree_agree(runc, mkimage, init_bin, sysprobe, moby_profile, tmp_path):
    bpf = compile_policy(mkimage, moby_profile, tmp_path / "lin.bpf", "--linear")
    assert probe_under_init(runc, tmp_path, init_bin, sysprobe, bpf) == DOCKER_LIKE


def test_strict_policy(runc, mkimage, init_bin, sysprobe, tmp_path):
    bpf = compile_policy(mkimage, "strict", tmp_path / "s.bpf")
    got = probe_under_init(runc, tmp_path, init_bin, sysprobe, bpf)
    assert got == dict(SERVICE, **{"socket-inet": "EPERM"})


def test_service_policy_probes(runc, mkimage, init_bin, sysprobe, tmp_path):
    bpf = compile_policy(mkimage, "service", tmp_path / "s.bpf")
    assert probe_under_init(runc, tmp_path, init_bin, sysprobe, bpf) == SERVICE


def test_broken_filter_fails_closed(runc, init_bin, sysprobe, tmp_path, mkimage):
    bpf = compile_policy(mkimage, "service", tmp_path / "s.bpf")
    data = bytearray(bpf.read_bytes())
    data[40] ^= 0xFF
    bpf.write_bytes(bytes(data))
    root = make_rootfs(tmp_path / "rootfs", init_bin, sysprobe, bpf)
    r = runc.run_rootfs(root, ["/usr/bin/minbase-init", "--", "/app/sysprobe", "getppid"],
                        user="0:0", env=["MINBASE_SECCOMP=/etc/minbase/seccomp.bpf"],
                        mutate=full_caps)
    assert r.returncode != 0 and "getppid" not in r.stdout


class Server:
    """A server in a runc container (host network) under minbase-init."""

    def __init__(self, runc, tmp_path, init_bin, app, bpf, port):
        self.runc, self.port = runc, port
        root = make_rootfs(tmp_path / ("rootfs-" + uuid.uuid4().hex[:6]), init_bin, app, bpf)
        self.bundle = Path(tempfile.mkdtemp(prefix="bundle-", dir=tmp_path))
        testlib.run(["runc", "spec", "--bundle", self.bundle])
        env = ["PORT=%d" % port] + (["MINBASE_SECCOMP=/etc/minbase/seccomp.bpf"] if bpf else [])
        runc.fix_config(self.bundle, ["/usr/bin/minbase-init", "--", "/app/" + Path(app).name],
                        "65532:65532", env, mutate=host_network)
        cfgp = self.bundle / "config.json"
        cfg = json.loads(cfgp.read_text())
        cfg["root"] = {"path": str(root), "readonly": True}
        cfgp.write_text(json.dumps(cfg))
        self.cid = "mbp-" + uuid.uuid4().hex[:10]
        self.proc = subprocess.Popen(["runc", "--root", str(runc.state), "run", "--bundle",
                                      str(self.bundle), self.cid], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)

    def get(self, path):
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.port, path), timeout=5) as r:
            return r.status, r.read()

    def wait_up(self):
        return testlib.wait_http(self.port, exited=lambda: self.proc.poll() is not None and
                                 "server exited: " + self.proc.stdout.read())

    def stop(self):
        subprocess.run(["runc", "--root", str(self.runc.state), "kill", self.cid, "TERM"],
                       capture_output=True)
        try:
            out, _ = self.proc.communicate(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            subprocess.run(["runc", "--root", str(self.runc.state), "delete", "-f", self.cid],
                           capture_output=True)
        return self.proc.returncode, out


def request_cycle(srv, n=20):
    """Listen, accept, read, write: n requests on each endpoint."""
    status, body = srv.wait_up()
    assert status == 200 and json.loads(body)["status"] == "healthy"
    for _ in range(n):
        for path in ("/health", "/"):
            status, body = srv.get(path)
            assert status == 200
            json.loads(body)


@pytest.mark.parametrize("which", ["go", "c"])
def test_service_policy_runs_servers(runc, mkimage, init_bin, go_server, c_server, tmp_path, which):
    """The example servers do a full request cycle under `service` and stop
    gracefully on SIGTERM (signals, shutdown, exit 0)."""
    bpf = compile_policy(mkimage, "service", tmp_path / "s.bpf")
    srv = Server(runc, tmp_path, init_bin, go_server if which == "go" else c_server, bpf,
                 testlib.free_port())
    try:
        request_cycle(srv)
    finally:
        rc, out = srv.stop()
    assert rc == 0, out


def test_learn_go_server(runc, mkimage, init_bin, go_server, sysprobe, tmp_path):
    """Learn the Go server's policy while driving requests at it; the same
    workload then runs under the learned policy, and calls outside it fail."""
    port = testlib.free_port()
    learned = tmp_path / "learned.json"
    p = subprocess.Popen([str(mkimage), "policy", "learn", "-o", str(learned), "--", str(go_server)],
                         env=dict(os.environ, PORT=str(port)), stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    try:
        testlib.wait_http(port, exited=lambda: p.poll() is not None and
                          "learned server exited: " + p.stdout.read())
        for _ in range(20):
            for path in ("/health", "/"):
                urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5).read()
        p.send_signal(signal.SIGTERM)  # mkimage forwards it; the server stops gracefully
        out, _ = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, out
    pol = json.loads(learned.read_text())
    names = pol["syscalls"][0]["names"]
    assert names == sorted(names) and "accept4" in names and "execve" in names
    assert "ptrace" not in names and "wait4" not in names  # the recorder's calls are not there
    bpf = compile_policy(mkimage, learned, tmp_path / "learned.bpf")
    srv = Server(runc, tmp_path, init_bin, go_server, bpf, testlib.free_port())
    try:
        request_cycle(srv)
    finally:
        rc, out = srv.stop()
    assert rc == 0, out
    got = probe_under_init(runc, tmp_path, init_bin, sysprobe, bpf, ["mount", "ptrace", "keyctl"])
    assert got == {"mount": "EPERM", "ptrace": "EPERM", "keyctl": "EPERM"}


@pytest.fixture(scope="module")
def probe_image(dockerd, sysprobe, tmp_path_factory):
    """A one-file image holding /sysprobe, imported into the real dockerd."""
    d = tmp_path_factory.mktemp("probe-image")
    (d / "root").mkdir()
    shutil.copy(sysprobe, d / "root" / "sysprobe")
    testlib.run(["tar", "-C", d / "root", "-cf", d / "probe.tar", "sysprobe"])
    dockerd.docker("import", str(d / "probe.tar"), "minbase-test/sysprobe:1")
    return "minbase-test/sysprobe:1"


DOCKER_DEFAULT_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
                       "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
                       "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]


# Engine 20.10 knows no CAP_PERFMON, CAP_BPF, CAP_CHECKPOINT_RESTORE (none
# matters to the probes).
def docker_caps():
    return [c for c in held_caps() if c not in ("CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE")]


def test_export_accepted_by_dockerd(dockerd, probe_image, mkimage, runc, init_bin, sysprobe, tmp_path):
    """`docker run --security-opt seccomp=EXPORTED` behaves like the same
    policy loaded by minbase-init."""
    for policy in ("default", "service", "strict"):
        exported = tmp_path / ("%s.docker.json" % policy)
        mk(mkimage, "policy", "export", policy, "--format", "docker", "-o", exported)
        caps = [a for c in docker_caps() for a in ("--cap-add", c)]
        r = dockerd.docker("run", "--rm", "--network", "none", *caps,
                           "--security-opt", "seccomp=%s" % exported,
                           probe_image, "/sysprobe", *PROBES)
        in_docker = parse_probes(r.stdout)
        bpf = compile_policy(mkimage, policy, tmp_path / ("%s.bpf" % policy))
        under_init = probe_under_init(runc, tmp_path, init_bin, sysprobe, bpf)
        assert in_docker == under_init, (policy, in_docker, under_init)


def test_image_with_policy(mkimage, runc, sysprobe, tmp_path):
    """`mkimage --static APP --policy NAME` puts the filter in the image and
    the init loads it."""
    img = tmp_path / "img.tar"
    mk(mkimage, "--static", sysprobe, "--policy", "service", "-o", img, "-q")
    r = runc.run_image(img, args=["/usr/bin/minbase-init", "--", "/app/sysprobe", "getppid",
                                  "mount", "ptrace", "socket-packet"])
    assert r.returncode == 0, r.stderr
    assert parse_probes(r.stdout) == {"getppid": "ok", "mount": "EPERM", "ptrace": "EPERM",
                                      "socket-packet": "EPERM"}


def test_default_matches_dockers_builtin_profile(dockerd, probe_image, mkimage, runc, init_bin,
                                                sysprobe, tmp_path):
    """Docker's own built-in profile (no --security-opt) and our `default`
    compiled for the same capabilities answer every probe alike, with the
    capability-gated groups open (every capability kept) and closed (none)."""
    caps = [a for c in docker_caps() for a in ("--cap-add", c)]
    r = dockerd.docker("run", "--rm", "--network", "none", *caps, probe_image, "/sysprobe", *PROBES)
    in_docker = parse_probes(r.stdout)
    assert in_docker["mount"] == "ENOENT" and in_docker["keyctl"] == "EPERM", in_docker
    bpf = compile_policy(mkimage, "default", tmp_path / "d.bpf", "--caps", ",".join(docker_caps()))
    assert probe_under_init(runc, tmp_path, init_bin, sysprobe, bpf) == in_docker
    # Docker's default capability set: the gated groups stay closed but for
    # CAP_SYS_CHROOT's chroot.
    r = dockerd.docker("run", "--rm", "--network", "none", probe_image, "/sysprobe", *PROBES)
    in_docker = parse_probes(r.stdout)
    assert in_docker["chroot"] == "ENOENT" and in_docker["unshare"] == "EPERM", in_docker
    bpf = compile_policy(mkimage, "default", tmp_path / "d0.bpf", "--caps", ",".join(DOCKER_DEFAULT_CAPS))
    assert probe_under_init(runc, tmp_path, init_bin, sysprobe, bpf, caps=DOCKER_DEFAULT_CAPS) == in_docker


def test_exported_service_runs_go_server_in_docker(dockerd, mkimage, go_server, tmp_path):
    """The exported `service` profile carries the Go server through a request
    cycle and a graceful `docker stop` in a real Docker container."""
    d = tmp_path / "root"
    d.mkdir()
    shutil.copy(go_server, d / "go-http")
    testlib.run(["tar", "-C", d, "-cf", tmp_path / "go.tar", "go-http"])
    dockerd.docker("import", str(tmp_path / "go.tar"), "minbase-test/go-http:1")
    prof = tmp_path / "service.json"
    mk(mkimage, "policy", "export", "service", "--format", "docker", "-o", prof)
    port = testlib.free_port()
    name = "mbp-" + uuid.uuid4().hex[:8]
    dockerd.docker("run", "-d", "--name", name, "--network", "host", "--user", "65532:65532",
                   "-e", "PORT=%d" % port, "--security-opt", "seccomp=%s" % prof,
                   "minbase-test/go-http:1", "/go-http")
    try:
        testlib.wait_http(port)
        for _ in range(20):
            for path in ("/health", "/"):
                with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
                    assert r.status == 200
                    json.loads(r.read())
        dockerd.docker("stop", "-t", "20", name)
        code = dockerd.docker("inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip()
        assert code == "0", dockerd.docker("logs", name, check=False)
    finally:
        dockerd.docker("rm", "-f", name, check=False)
