"""minbase-init hardening inside a real runc container: the service's
credentials, capabilities, no-new-privs and seccomp as /proc/self/status
shows them, a syscall the loaded filter denies, and every bad option or bad
seccomp file refused before the service starts (fail closed).

The seccomp files are written here by a small independent generator
(Python struct + zlib.crc32, hand-written BPF), which also checks the file
format v1 of init/README.md from the outside."""
import platform
import shutil
import struct
import zlib
from pathlib import Path

import pytest

from conftest import need

AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_AARCH64 = 0xC00000B7
NR_MOUNT, NR_UNSHARE = 165, 272
EXDEV, EACCES = 18, 13
RET_ALLOW, RET_ERRNO, RET_KILL_PROCESS = 0x7FFF0000, 0x00050000, 0x80000000

INIT = "/usr/bin/minbase-init"
APP = "/app/inithelper"
FILTER = "/etc/minbase/seccomp.bpf"


def bpf(code, jt, jf, k):
    return struct.pack("<HBBI", code, jt, jf, k)


def deny_mount_program():
    """Allow everything except mount (EXDEV) and unshare (EACCES)."""
    return b"".join([
        bpf(0x20, 0, 0, 4),                          # ld arch
        bpf(0x15, 1, 0, AUDIT_ARCH_X86_64),          # jeq x86_64 ? +1 : 0
        bpf(0x06, 0, 0, RET_KILL_PROCESS),
        bpf(0x20, 0, 0, 0),                          # ld nr
        bpf(0x15, 0, 1, NR_MOUNT),
        bpf(0x06, 0, 0, RET_ERRNO | EXDEV),
        bpf(0x15, 0, 1, NR_UNSHARE),
        bpf(0x06, 0, 0, RET_ERRNO | EACCES),
        bpf(0x06, 0, 0, RET_ALLOW),
    ])


def seccomp_file(prog, arch=AUDIT_ARCH_X86_64, version=1, flags=0, count=None, magic=b"MBSECCMP"):
    n = len(prog) // 8 if count is None else count
    body = magic + struct.pack("<IIII", version, arch, n, flags) + prog
    return body + struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF)


@pytest.fixture
def rootfs(tmp_path, init_bin, tools, runc):
    need(platform.machine() == "x86_64", "the hand-written filter here is x86_64 only")
    r = tmp_path / "rootfs"
    for d in ("usr/bin", "app", "etc/minbase", "proc", "dev", "sys", "tmp"):
        (r / d).mkdir(parents=True)
    (r / "tmp").chmod(0o1777)
    shutil.copy(init_bin, r / "usr/bin/minbase-init")
    shutil.copy(tools / "inithelper", r / "app/inithelper")
    (r / "etc/passwd").write_text("root:x:0:0:root:/root:/sbin/nologin\n"
                                  "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")
    (r / "etc/group").write_text("root:x:0:\nnonroot:x:65532:\n")
    (r / "etc/minbase/seccomp.bpf").write_bytes(seccomp_file(deny_mount_program()))
    return r


def host_caps():
    """The capabilities this machine can give a container: testlib's
    caps_full names all 41, but a sandbox may lack some in its bounding set
    (this one lacks CAP_SYS_RESOURCE), and runc then refuses to start."""
    import testlib
    bnd = int([l for l in open("/proc/self/status") if l.startswith("CapBnd:")][0].split()[1], 16)
    return [c for i, c in enumerate(testlib.ALL_CAPS) if bnd & (1 << i)]


def full_caps(cfg):
    caps = host_caps()
    cfg["process"]["capabilities"] = {k: list(caps) for k in
                                      ("bounding", "effective", "permitted", "inheritable", "ambient")}
    cfg["process"]["noNewPrivileges"] = False


def status(out):
    d = {}
    for line in out.splitlines():
        k, _, v = line.partition(":")
        d[k] = v.split()
    return d


HARDEN = ["MINBASE_USER=65532:65532", "MINBASE_SECCOMP=" + FILTER]


def test_root_with_full_caps_drops_everything(runc, rootfs):
    p = runc.run_rootfs(rootfs, [INIT, "--", APP, "status"], env=HARDEN, mutate=full_caps)
    assert p.returncode == 0, p.stderr
    s = status(p.stdout)
    assert s["Uid"] == ["65532"] * 4 and s["Gid"] == ["65532"] * 4
    assert s["Groups"] == ["65532"]
    for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(s[k][0], 16) == 0, (k, s[k])
    assert s["NoNewPrivs"] == ["1"] and s["Seccomp"] == ["2"]


def test_the_filter_denies_as_the_policy_says(runc, rootfs):
    p = runc.run_rootfs(rootfs, [INIT, "--", APP, "syscall", "mount", "unshare", "getpid"],
                        env=HARDEN, mutate=full_caps)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["mount errno %d %s" % (EXDEV, "Cross-device link"),
                                     "unshare errno %d %s" % (EACCES, "Permission denied"),
                                     "getpid ok"]
    # Without the filter the same service gets the kernel's own answer.
    p = runc.run_rootfs(rootfs, [INIT, "--", APP, "syscall", "mount"], env=HARDEN[:1],
                        mutate=full_caps)
    assert p.stdout.startswith("mount errno 1 ")


def test_kept_capability_is_raised_ambient(runc, rootfs):
    env = HARDEN + ["MINBASE_CAPS=net_bind_service"]
    p = runc.run_rootfs(rootfs, [INIT, "--", APP, "status"], env=env, mutate=full_caps)
    assert p.returncode == 0, p.stderr
    s = status(p.stdout)
    assert s["Uid"] == ["65532"] * 4
    for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(s[k][0], 16) == 1 << 10, (k, s[k])
    p = runc.run_rootfs(rootfs, [INIT, "--", APP, "bindport", "80"], env=env, mutate=full_caps)
    assert p.stdout.strip() == "bind ok", p.stdout + p.stderr
    p = runc.run_rootfs(rootfs, [INIT, "--", APP, "bindport", "80"], env=HARDEN, mutate=full_caps)
    assert p.stdout.strip() == "bind errno 13 Permission denied"


def test_command_line_options_match_env(runc, rootfs):
    p = runc.run_rootfs(rootfs, [INIT, "--user", "nonroot", "--caps", "CAP_KILL", "--seccomp",
                                 FILTER, "--", APP, "status"], mutate=full_caps)
    assert p.returncode == 0, p.stderr
    s = status(p.stdout)
    assert s["Uid"] == ["65532"] * 4 and int(s["CapAmb"][0], 16) == 1 << 5
    assert s["Seccomp"] == ["2"]


def test_the_init_keeps_no_privilege_once_the_service_runs(runc, rootfs):
    p = runc.run_rootfs(rootfs, [INIT, "--", APP, "status", "1"], env=HARDEN, mutate=full_caps)
    assert p.returncode == 0, p.stderr
    s = status(p.stdout)
    assert s["Uid"] == ["65532"] * 4
    for k in ("CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(s[k][0], 16) == 0, (k, s[k])
    assert s["NoNewPrivs"] == ["1"]
    assert s["Seccomp"] == ["0"]  # the init needs wait4/kill/...: no filter on itself


def no_caps(cfg):
    cfg["process"]["capabilities"] = {}


def test_nonroot_init_applies_nnp_and_seccomp(runc, rootfs):
    p = runc.run_rootfs(rootfs, [INIT, "--", APP, "status"], user="65532:65532",
                        env=["MINBASE_SECCOMP=" + FILTER], mutate=no_caps)
    assert p.returncode == 0, p.stderr
    s = status(p.stdout)
    assert s["Uid"] == ["65532"] * 4 and s["NoNewPrivs"] == ["1"] and s["Seccomp"] == ["2"]
    # The mkimage contract: MINBASE_USER set to the user it already is.
    p = runc.run_rootfs(rootfs, [INIT, "--", APP, "status"], user="65532:65532",
                        env=HARDEN, mutate=no_caps)
    assert p.returncode == 0, p.stderr
    assert status(p.stdout)["Seccomp"] == ["2"]


def test_nonroot_init_cannot_keep_caps_fails_closed(runc, rootfs):
    p = runc.run_rootfs(rootfs, [INIT, "--", APP, "status"], user="65532:65532",
                        env=HARDEN + ["MINBASE_CAPS=NET_BIND_SERVICE"], mutate=no_caps)
    assert p.returncode == 1
    assert p.stdout == ""
    assert "cannot set capabilities" in p.stderr and "User 0:0" in p.stderr
    # An explicit --user the nonroot init cannot become stops the start
    # (MINBASE_USER, the image's user for a root start, does not: see
    # test_nonroot_start_keeps_its_uid).
    p = runc.run_rootfs(rootfs, [INIT, "--user", "0:0", "--", APP, "status"], user="65532:65532",
                        mutate=no_caps)
    assert p.returncode == 1 and p.stdout == ""
    assert "cannot set" in p.stderr


BAD_FILES = [
    ("wrong-arch", lambda: seccomp_file(deny_mount_program(), arch=AUDIT_ARCH_AARCH64),
     "is for aarch64"),
    ("truncated", lambda: seccomp_file(deny_mount_program())[:-5], "truncated"),
    ("corrupt", lambda: bytes(b ^ (1 if i == 40 else 0) for i, b in
                              enumerate(seccomp_file(deny_mount_program()))), "checksum mismatch"),
    ("bad-magic", lambda: seccomp_file(deny_mount_program(), magic=b"NOTSECCP"), "bad magic"),
    ("version-2", lambda: seccomp_file(deny_mount_program(), version=2), "version 2"),
    ("flags", lambda: seccomp_file(deny_mount_program(), flags=1), "flags"),
    ("empty", lambda: b"", "too short"),
    # Well-formed file, but a BPF program the kernel refuses (bad opcode).
    ("kernel-rejects", lambda: seccomp_file(bpf(0xFFFF, 0, 0, 0) + bpf(0x06, 0, 0, RET_ALLOW)),
     "cannot load the seccomp filter: Invalid argument"),
    ("missing", None, "No such file or directory"),
]


@pytest.mark.parametrize("name,make,needle", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_seccomp_file_stops_the_start(runc, rootfs, name, make, needle):
    f = rootfs / "etc/minbase/seccomp.bpf"
    if make:
        f.write_bytes(make())
    else:
        f.unlink()
    p = runc.run_rootfs(rootfs, [INIT, "--", APP, "status"], env=HARDEN, mutate=full_caps)
    assert p.returncode == 1, p
    assert p.stdout == "", "the service ran: " + p.stdout
    assert "seccomp" in p.stderr and needle in p.stderr, p.stderr


BAD_OPTIONS = [
    (["MINBASE_USER=nosuch"], "unknown user `nosuch`"),
    (["MINBASE_USER=nonroot:nogroup"], "unknown group `nogroup`"),
    (["MINBASE_CAPS=NET_BIND_SERVIC"], "unknown capability"),
    (["MINBASE_HEALTH_INTERVAL=soon", "MINBASE_HEALTH_TCP=127.0.0.1:1"], "invalid duration"),
    (["MINBASE_HEALTH_RETRIES=0", "MINBASE_HEALTH_TCP=127.0.0.1:1"], "--health-retries"),
    (["MINBASE_HEALTH_HTTP=https://x/"], "only http://"),
    (["MINBASE_HEALTH_TCP=nohost"], "invalid address"),
    (["MINBASE_ON_UNHEALTHY=restart", "MINBASE_HEALTH_TCP=127.0.0.1:1"], "use exit or none"),
    (["MINBASE_HEALTH_TCP=127.0.0.1:1", "MINBASE_HEALTH_EXEC=/app/inithelper true"],
     "choose one health probe"),
    (["MINBASE_GRACE=later"], "--grace"),
]


@pytest.mark.parametrize("env,needle", BAD_OPTIONS, ids=[b[1] for b in BAD_OPTIONS])
def test_bad_option_stops_the_start(runc, rootfs, env, needle):
    p = runc.run_rootfs(rootfs, [INIT, "--", APP, "status"], env=env, mutate=full_caps)
    assert p.returncode == 1, p
    assert p.stdout == ""
    assert p.stderr.startswith("minbase-init: ") and needle in p.stderr, p.stderr


def test_supervision_in_runc(runc, rootfs):
    p = runc.run_rootfs(rootfs, [INIT, "--", APP, "exit", "42"], env=HARDEN, mutate=full_caps)
    assert p.returncode == 42, p.stderr
    p = runc.run_rootfs(rootfs, [INIT, "--", APP, "orphans", "1000"], env=HARDEN,
                        mutate=full_caps, timeout=120)
    assert p.returncode == 0 and p.stdout.strip() == "made 1000 left 0", p.stdout + p.stderr
    p = runc.run_rootfs(rootfs, [INIT, "--", "/app/nothing"], env=HARDEN, mutate=full_caps)
    assert p.returncode == 127 and "/app/nothing" in p.stderr


@pytest.mark.parametrize("policy", ["default", "service", "strict"])
def test_shipped_policies_load(runc, rootfs, build, policy):
    """The policy compiler's files (policies/, built by `make`) load here."""
    f = build / ("share/minbase/policies/%s.x86_64.bpf" % policy)
    assert f.exists(), "%s missing: run `make`" % f
    shutil.copy(f, rootfs / "etc/minbase/seccomp.bpf")
    p = runc.run_rootfs(rootfs, [INIT, "--", APP, "status"], env=HARDEN, mutate=full_caps)
    assert p.returncode == 0, p.stderr
    assert status(p.stdout)["Seccomp"] == ["2"]
    # Root with every capability kept still cannot mount: the filter says no.
    p = runc.run_rootfs(rootfs, [INIT, "--", APP, "syscall", "mount", "getpid"],
                        env=["MINBASE_SECCOMP=" + FILTER, "MINBASE_CAPS=SYS_ADMIN"],
                        mutate=full_caps)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["mount errno 1 Operation not permitted", "getpid ok"]


def test_the_service_cannot_reach_into_the_unfiltered_init(runc, rootfs):
    """A nonroot init (config User 65532, the mkimage default) shares its uid
    with the service, which a filter like the shipped default one lets call
    ptrace and process_vm_writev.  The init has no filter of its own, so if
    it stayed dumpable the service could drive it (ptrace, /proc/1/mem) to
    make the syscalls its own filter denies: the init must not be."""
    for user, mutate in (("65532:65532", no_caps), ("0:0", full_caps)):
        p = runc.run_rootfs(rootfs, [INIT, "--", APP, "open", "/proc/1/mem", "rw"], user=user,
                            env=HARDEN, mutate=mutate)
        assert p.returncode == 0, p.stderr
        assert p.stdout.strip() == "open errno 13 Permission denied", (user, p.stdout)
    # The service itself stays dumpable (execve resets it): its own /proc works.
    p = runc.run_rootfs(rootfs, [INIT, "--", APP, "open", "/proc/self/mem", "rw"],
                        user="65532:65532", env=HARDEN, mutate=no_caps)
    assert p.stdout.strip() == "open ok", p.stdout + p.stderr


def test_probe_subcommand_runs_an_exec_probe_as_the_service(runc, rootfs):
    """`minbase-init probe` is started by the runtime (docker exec, a
    Kubernetes exec probe) as the config's user: root with every capability
    when the image keeps some.  Its exec probe must still run as the service
    would, with the user, no capability, no-new-privs and the filter."""
    env = HARDEN + ["MINBASE_CAPS=net_bind_service"]
    p = runc.run_rootfs(rootfs, [INIT, "probe"], mutate=full_caps,
                        env=env + ["MINBASE_HEALTH_EXEC=%s syscall mount" % APP])
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.strip().endswith("mount errno %d Cross-device link" % EXDEV), p.stdout
    p = runc.run_rootfs(rootfs, [INIT, "probe"], mutate=full_caps,
                        env=HARDEN[:1] + ["MINBASE_HEALTH_EXEC=%s syscall mount" % APP])
    assert p.stdout.strip().endswith("mount errno 1 Operation not permitted"), p.stdout
    p = runc.run_rootfs(rootfs, [INIT, "probe"], mutate=full_caps,
                        env=env + ["MINBASE_HEALTH_EXEC=%s status" % APP])
    assert p.returncode == 0 and "Uid:\t65532\t65532\t65532\t65532" in p.stdout, p.stdout
    # A drop that cannot be done stops the probe, which then fails.
    p = runc.run_rootfs(rootfs, [INIT, "probe", "--user", "0:0"], user="65532:65532",
                        mutate=no_caps, env=["MINBASE_HEALTH_EXEC=%s true" % APP])
    assert p.returncode == 1 and "healthy" not in p.stdout, p.stdout
    # So does a filter that cannot be loaded.
    (rootfs / "etc/minbase/bad.bpf").write_bytes(
        seccomp_file(bpf(0xFFFF, 0, 0, 0) + bpf(0x06, 0, 0, RET_ALLOW)))
    p = runc.run_rootfs(rootfs, [INIT, "probe"], user="65532:65532", mutate=no_caps,
                        env=["MINBASE_SECCOMP=/etc/minbase/bad.bpf",
                             "MINBASE_HEALTH_EXEC=%s true" % APP])
    assert p.returncode == 1 and "cannot load the seccomp filter" in p.stdout, p.stdout


def test_nonroot_start_keeps_its_uid(runc, rootfs):
    """MINBASE_USER is the image's user for a root start.  A container the
    runtime starts as another non-root uid (docker run -u 1000, OpenShift)
    keeps that uid, hardened as ever, and starts."""
    for mutate in (no_caps, full_caps):
        for want in ("0:0", "65532:65532"):
            p = runc.run_rootfs(rootfs, [INIT, "--", APP, "status"], user="1000:1000",
                                env=["MINBASE_USER=" + want, "MINBASE_CAPS=",
                                     "MINBASE_SECCOMP=" + FILTER], mutate=mutate)
            assert p.returncode == 0, (want, p.stderr)
            s = status(p.stdout)
            assert s["Uid"] == ["1000"] * 4 and s["Gid"] == ["1000"] * 4, (want, s)
            for k in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
                assert int(s[k][0], 16) == 0, (k, s[k])
            assert s["NoNewPrivs"] == ["1"] and s["Seccomp"] == ["2"]
    # A bad MINBASE_USER is still a bad image, whoever starts it.
    p = runc.run_rootfs(rootfs, [INIT, "--", APP, "status"], user="1000:1000",
                        env=["MINBASE_USER=nosuch"], mutate=no_caps)
    assert p.returncode == 1 and "unknown user `nosuch`" in p.stderr


# ---- images built by mkimage: the image's user whatever uid the runtime gives --

@pytest.fixture
def image_of(mkimage, tools, tmp_path):
    import testlib

    def build(*opts):
        out = tmp_path / ("img%d.tar" % len(list(tmp_path.glob("img*.tar"))))
        testlib.mk(mkimage, "--static", tools / "inithelper", "-o", out, "--policy", "default",
                   "-q", *opts)
        return out
    return build


def image_status(runc, image, user, mutate):
    p = runc.run_image(image, args=[INIT, "--", "/app/inithelper", "status"], user=user,
                       mutate=mutate)
    assert p.returncode == 0, p.stderr
    return status(p.stdout)


def test_image_started_as_root_runs_its_service_as_65532(runc, image_of):
    """`docker run -u 0`, runAsUser: 0, a runtime config with uid 0 and
    every capability: an image built without --user still runs its service
    as 65532:65532, with nothing left to regain root."""
    s = image_status(runc, image_of(), "0:0", full_caps)
    assert s["Uid"] == ["65532"] * 4 and s["Gid"] == ["65532"] * 4, s
    for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(s[k][0], 16) == 0, (k, s[k])
    assert s["NoNewPrivs"] == ["1"] and s["Seccomp"] == ["2"]
    # Root with no capability at all cannot switch: fail closed, not root.
    p = runc.run_image(image_of(), args=[INIT, "--", "/app/inithelper", "status"], user="0:0",
                       mutate=no_caps)
    assert p.returncode == 1 and p.stdout == "", p
    assert "cannot set" in p.stderr and "CAP_SETUID" in p.stderr, p.stderr


def test_image_user_choice_is_kept(runc, image_of):
    """An image built with --user keeps that choice on a root start (0:0
    stays root, without capabilities); a start as another non-root uid
    keeps that uid and starts."""
    s = image_status(runc, image_of("--user", "0:0"), "0:0", full_caps)
    assert s["Uid"] == ["0"] * 4, s
    assert int(s["CapEff"][0], 16) == 0 and s["NoNewPrivs"] == ["1"] and s["Seccomp"] == ["2"]
    s = image_status(runc, image_of("--user", "1000:1001"), "0:0", full_caps)
    assert s["Uid"] == ["1000"] * 4 and s["Gid"] == ["1001"] * 4, s
    img = image_of()
    for mutate in (no_caps, full_caps):
        s = image_status(runc, img, "1000:1000", mutate)
        assert s["Uid"] == ["1000"] * 4, s
        assert int(s["CapEff"][0], 16) == 0 and int(s["CapPrm"][0], 16) == 0
        assert s["NoNewPrivs"] == ["1"] and s["Seccomp"] == ["2"]
    s = image_status(runc, img, "65532:65532", no_caps)
    assert s["Uid"] == ["65532"] * 4 and s["Seccomp"] == ["2"]


# ---- policies by name (MINBASE_POLICY, --policy) ---------------------------------

@pytest.fixture
def with_policies(rootfs, build, mkimage):
    import testlib
    d = rootfs / "etc/minbase/policies"
    d.mkdir()
    for name in ("service", "strict"):
        shutil.copy(build / ("share/minbase/policies/%s.x86_64.bpf" % name), d / (name + ".bpf"))
    testlib.mk(mkimage, "policy", "compile", "service", "-o", d / "arm.bpf", "--arch", "aarch64")
    (d / "README").write_text("not a policy\n")
    return rootfs


def test_policy_by_name_loads_the_image_file(runc, with_policies):
    for args, env in (([], ["MINBASE_POLICY=service"]), (["--policy", "strict"], []),
                      # the command line wins over the environment, of either kind
                      (["--policy", "service"], ["MINBASE_SECCOMP=/nonexistent"]),
                      (["--seccomp", FILTER], ["MINBASE_POLICY=nosuch"])):
        p = runc.run_rootfs(with_policies, [INIT] + args + ["--", APP, "status"],
                            env=HARDEN[:1] + env, mutate=full_caps)
        assert p.returncode == 0, (args, env, p.stderr)
        s = status(p.stdout)
        assert s["Seccomp"] == ["2"] and s["Uid"] == ["65532"] * 4, (args, env, s)
    # It is the named file that is loaded: strict has no sockets, service has.
    out = {}
    for name in ("service", "strict"):
        p = runc.run_rootfs(with_policies, [INIT, "--", APP, "bindport", "8080"],
                            env=HARDEN[:1] + ["MINBASE_POLICY=" + name], mutate=full_caps)
        assert p.returncode == 0, p.stderr
        out[name] = p.stdout.strip()
    assert out["service"] == "bind ok" and out["strict"].startswith("bind errno "), out


POLICY_ERRORS = [
    (["MINBASE_POLICY=nosuch"], "unknown policy `nosuch`", True),
    (["MINBASE_POLICY=arm"], "is for aarch64", True),
    (["MINBASE_POLICY=../seccomp"], "invalid policy name", False),
    (["MINBASE_POLICY=/etc/minbase/seccomp.bpf"], "invalid policy name", False),
    (["MINBASE_POLICY=Service"], "invalid policy name", False),
    (["MINBASE_POLICY=service", "MINBASE_SECCOMP=" + FILTER], "choose one filter", False),
]


@pytest.mark.parametrize("env,needle,lists", POLICY_ERRORS, ids=[e[0][0] for e in POLICY_ERRORS])
def test_policy_by_name_fails_closed(runc, with_policies, env, needle, lists):
    p = runc.run_rootfs(with_policies, [INIT, "--", APP, "status"], env=HARDEN[:1] + env,
                        mutate=full_caps)
    assert p.returncode == 1 and p.stdout == "", p
    assert p.stderr.startswith("minbase-init: ") and needle in p.stderr, p.stderr
    if lists:
        assert "policies: arm, service, strict)" in p.stderr, p.stderr


def test_policy_by_name_in_an_image_without_policies(runc, rootfs):
    p = runc.run_rootfs(rootfs, [INIT, "--policy", "service", "--", APP, "status"],
                        env=HARDEN[:1], mutate=full_caps)
    assert p.returncode == 1 and p.stdout == ""
    assert "unknown policy `service`" in p.stderr and "policies: none)" in p.stderr, p.stderr


def test_seccomp_under_qemu_user_says_emulation(build, mkimage, tmp_path):
    """An arm64 init run by qemu-user on this x86_64 machine (what binfmt_misc
    does for arm64 images on Docker Desktop and buildx): qemu implements no
    seccomp for the program it emulates.  The init stays fail-closed and says
    that this looks like emulation and what to do."""
    import subprocess
    import testlib
    from conftest import need
    init64 = build / "bin/aarch64/minbase-init"
    need(init64.exists(), "no aarch64 minbase-init in %s (built by `make` with the arm64 "
         "cross toolchain of `make deps`)" % init64.parent)
    qemu = shutil.which("qemu-aarch64-static")
    need(qemu is not None, "qemu-aarch64-static is not installed (run `make deps`)")
    f = tmp_path / "service.aarch64.bpf"
    testlib.mk(mkimage, "policy", "compile", "service", "-o", f, "--arch", "aarch64")
    for args in (["--seccomp", str(f)], ["probe", "--seccomp", str(f), "--health-exec", "/x"]):
        p = subprocess.run([qemu, str(init64)] + args + (["--", "/nonexistent"] if args[0] != "probe"
                                                          else []),
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 1, (args, p)
        for want in ("cannot load the seccomp filter", "looks like emulation", "qemu-user",
                     "run the image natively", "without --policy"):
            assert want in p.stderr, (args, want, p.stderr)
