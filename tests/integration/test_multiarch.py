"""Issue 13: amd64 and arm64 in one OCI image index, each platform with its
own service binary, its own static init and its own compiled policy.

Checked with other people's tools: skopeo picks each platform from the
index (--override-arch, --all), runc runs the arm64 image through
qemu-user-static registered in binfmt_misc with the F flag, a real dockerd
loads the archive, and libseccomp's own BPF simulator (scmp_bpf_sim, built
from the libseccomp tree of the sysroot) runs the aarch64 filters for
aarch64 syscall numbers read from the kernel's own headers."""
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from conftest import BUILD, need, need_root, need_tools
from testlib import mk, run

TAG = "minbase-test/where:1.0"
EM = {62: "amd64", 183: "arm64"}           # ELF e_machine -> OCI arch
KARCH = {"amd64": "x86_64", "arm64": "aarch64"}
AUDIT = {"amd64": 0xC000003E, "arm64": 0xC00000B7}
# The kernel's own syscall tables (linux-libc-dev, linux-libc-dev-arm64-cross).
UNISTD = {"amd64": "/usr/include/x86_64-linux-gnu/asm/unistd_64.h",
          "arm64": "/usr/aarch64-linux-gnu/include/asm-generic/unistd.h"}

WHERE_C = r"""
#include <stdio.h>
#include <sys/utsname.h>
#include <unistd.h>
/* What the service sees: the machine uname reports and who it runs as. */
int main(void)
{
	struct utsname u;
	if (uname(&u) != 0)
		return 1;
	printf("machine=%s uid=%d gid=%d\n", u.machine, (int)getuid(), (int)getgid());
	return 0;
}
"""


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    d = tmp_path_factory.mktemp("where")
    (d / "where.c").write_text(WHERE_C)
    return d / "where.c"


@pytest.fixture(scope="module")
def multi(mkimage, src, tmp_path_factory):
    """The multi-arch archive, without a policy (qemu-user has no seccomp)."""
    out = tmp_path_factory.mktemp("multi") / "where.tar"
    mk(mkimage, "--static", src, "--arch", "amd64,arm64", "-o", out, "--tag", TAG)
    return out


@pytest.fixture(scope="module")
def qemu_binfmt():
    """qemu-aarch64 registered in binfmt_misc with the F flag (ENVIRONMENT.md):
    the interpreter is opened at registration, so it works inside containers."""
    need_root()
    need(Path("/usr/bin/qemu-aarch64-static").exists() and shutil.which("update-binfmts"),
         "qemu-user-static and binfmt-support are not installed (run `make deps`)")
    mnt = Path("/proc/sys/fs/binfmt_misc")
    if not (mnt / "status").exists():
        run(["mount", "-t", "binfmt_misc", "binfmt_misc", mnt])
    entry = mnt / "qemu-aarch64"
    if not entry.exists() or "enabled" not in entry.read_text():
        run(["update-binfmts", "--enable", "qemu-aarch64"])
    text = entry.read_text()
    flags = re.search(r"^flags: *(\S*)", text, re.M)
    need(flags and "F" in flags.group(1), "qemu-aarch64 is registered without the F flag: " + text)
    return entry


class Archive:
    """Blobs and JSON of an image archive (tar) or OCI layout directory."""

    def __init__(self, path):
        self.path = Path(path)
        if self.path.is_dir():
            self.get = lambda n: (self.path / n).read_bytes()
            self.names = [str(p.relative_to(self.path)) for p in self.path.rglob("*")
                          if p.is_file()]
        else:
            tf = tarfile.open(self.path)
            self.get = lambda n: tf.extractfile(n).read()
            self.names = [m.name for m in tf.getmembers() if m.isfile()]

    def json(self, name):
        return json.loads(self.get(name))

    def blob(self, digest):
        data = self.get("blobs/sha256/" + digest.split(":")[1])
        assert "sha256:" + hashlib.sha256(data).hexdigest() == digest
        return data

    def index(self):
        """(index.json, the image index it points at)."""
        top = self.json("index.json")
        assert len(top["manifests"]) == 1
        d = top["manifests"][0]
        assert d["mediaType"] == "application/vnd.oci.image.index.v1+json"
        return top, json.loads(self.blob(d["digest"]))

    def platforms(self):
        """{arch: (descriptor, manifest, config)} over the image index."""
        out = {}
        for d in self.index()[1]["manifests"]:
            man = json.loads(self.blob(d["digest"]))
            cfg = json.loads(self.blob(man["config"]["digest"]))
            out[d["platform"]["architecture"]] = (d, man, cfg)
        return out

    def file_in_layer(self, layer_digest, path):
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(self.blob(layer_digest)))) as tf:
            return tf.extractfile(path.lstrip("/")).read()


def elf_arch(data):
    assert data[:4] == b"\x7fELF", "not an ELF file"
    return EM.get(int.from_bytes(data[18:20], "little"), "other")


def syscall_numbers(arch, names):
    """The numbers of names on arch, from the kernel's header for arch."""
    text = Path(UNISTD[arch]).read_text()
    out = {}
    for n in names:
        m = re.search(r"^#define __NR_%s\s+(\d+)\s*$" % n, text, re.M)
        assert m, "no __NR_%s in %s" % (n, UNISTD[arch])
        out[n] = int(m.group(1))
    return out


# ---- the index --------------------------------------------------------------

def test_index_has_exactly_amd64_and_arm64(multi):
    a = Archive(multi)
    top, idx = a.index()
    ann = top["manifests"][0]["annotations"]
    assert ann["org.opencontainers.image.ref.name"] == "1.0"
    assert ann["io.containerd.image.name"] == TAG
    plats = sorted((d["platform"]["os"], d["platform"]["architecture"],
                    d["platform"].get("variant")) for d in idx["manifests"])
    assert plats == [("linux", "amd64", None), ("linux", "arm64", "v8")]
    for arch, (d, man, cfg) in a.platforms().items():
        assert d["mediaType"] == man["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
        assert cfg["architecture"] == arch and cfg["os"] == "linux"
        assert cfg["config"]["User"] == "65532:65532"
        # its own init and its own service, both built for its machine
        init = a.file_in_layer(man["layers"][0]["digest"], "/usr/bin/minbase-init")
        svc = a.file_in_layer(man["layers"][1]["digest"], "/app/where")
        assert elf_arch(init) == arch and elf_arch(svc) == arch
    # docker load reads manifest.json: the machine's own platform
    dm = a.json("manifest.json")
    assert len(dm) == 1 and dm[0]["RepoTags"] == [TAG]
    host = {"x86_64": "amd64", "aarch64": "arm64"}[os.uname().machine]
    assert dm[0]["Config"] == "blobs/sha256/" + a.platforms()[host][1]["config"]["digest"][7:]


def test_skopeo_picks_each_platform(multi, tmp_path):
    need_tools("skopeo")
    a = Archive(multi)
    want = {arch: d["digest"] for arch, (d, _, _) in a.platforms().items()}
    for arch in ("amd64", "arm64"):
        info = json.loads(run(["skopeo", "inspect", "--override-arch", arch,
                               "oci-archive:%s" % multi]).stdout)
        assert info["Architecture"] == arch and info["Os"] == "linux"
        run(["skopeo", "copy", "-q", "--override-arch", arch, "oci-archive:%s" % multi,
             "oci:%s/%s:x" % (tmp_path, arch)])
        got = json.loads((tmp_path / arch / "index.json").read_text())["manifests"][0]
        assert got["digest"] == want[arch]
    # --all keeps the index and every platform, byte for byte
    run(["skopeo", "copy", "-q", "--all", "oci-archive:%s" % multi, "oci:%s/all:x" % tmp_path])
    raw = json.loads(run(["skopeo", "inspect", "--raw", "oci:%s/all:x" % tmp_path]).stdout)
    assert sorted(m["digest"] for m in raw["manifests"]) == sorted(want.values())


def test_identical_layers_are_stored_once(mkimage, src, tmp_path):
    """Without the init the base layer is the same bytes on both platforms:
    both manifests name it, the layout holds it once."""
    out = tmp_path / "noinit.tar"
    mk(mkimage, "--static", src, "--arch", "amd64,arm64", "--no-init", "-o", out, "-q")
    a = Archive(out)
    p = a.platforms()
    base = {arch: man["layers"][0]["digest"] for arch, (_, man, _) in p.items()}
    svc = {arch: man["layers"][1]["digest"] for arch, (_, man, _) in p.items()}
    assert base["amd64"] == base["arm64"]
    assert svc["amd64"] != svc["arm64"]
    blobs = [n for n in a.names if n.startswith("blobs/sha256/")]
    assert len(blobs) == len(set(blobs))
    # index + 2 x (manifest, config, service layer) + one shared base layer,
    # + 2 x (SBOM, its artifact manifest) + the artifacts' one empty config
    assert len(blobs) == 1 + 2 * 3 + 1 + 2 * 2 + 1


def test_oci_layout_and_platform_spelling(mkimage, src, multi, tmp_path):
    """--platform (the docker/ko spelling) is --arch; --format oci writes the
    same index as a directory."""
    out = tmp_path / "where.oci"
    mk(mkimage, "--static", src, "--platform", "linux/amd64,linux/arm64/v8", "--format", "oci",
       "-o", out, "--tag", TAG, "-q")
    assert Archive(out).index()[0] == Archive(multi).index()[0]
    assert not (out / "manifest.json").exists()
    need_tools("skopeo")
    info = json.loads(run(["skopeo", "inspect", "--override-arch", "arm64",
                           "oci:%s:1.0" % out]).stdout)
    assert info["Architecture"] == "arm64"


def test_two_builds_give_the_same_index_digest(mkimage, src, multi, tmp_path):
    other = tmp_path / "elsewhere"
    other.mkdir()
    shutil.copy(src, other / "where.c")
    out = tmp_path / "again.tar"
    mk(mkimage, "--static", "where.c", "--arch", "amd64,arm64", "-o", out, "--tag", TAG, "-q",
       cwd=other, env={"TMPDIR": str(tmp_path)})
    assert Archive(out).index()[0] == Archive(multi).index()[0]
    assert out.read_bytes() == multi.read_bytes()


# ---- running them -----------------------------------------------------------

def test_each_platform_runs_under_runc(multi, runc, qemu_binfmt, tmp_path):
    """The arm64 image runs through qemu-user (binfmt_misc, F flag) as 65532,
    and its service sees an aarch64 machine; the amd64 one sees x86_64.
    umoci reads one platform per tag, so skopeo picks it first (as users do)."""
    need_tools("skopeo", "umoci")
    for arch in ("arm64", "amd64"):
        layout = tmp_path / arch
        run(["skopeo", "copy", "-q", "--override-arch", arch, "oci-archive:%s" % multi,
             "oci:%s:run" % layout])
        bundle = runc.unpack(layout)
        rootfs = bundle / "rootfs"
        assert elf_arch((rootfs / "usr/bin/minbase-init").read_bytes()) == arch
        assert elf_arch((rootfs / "app/where").read_bytes()) == arch
        runc.fix_config(bundle)
        p = runc.run_bundle(bundle, timeout=120)
        assert p.returncode == 0, p.stderr
        assert p.stdout.strip() == "machine=%s uid=65532 gid=65532" % KARCH[arch], p.stdout


def test_docker_loads_the_chosen_platform(mkimage, src, multi, dockerd, qemu_binfmt, tmp_path):
    """The archive stays `docker load`-able: the host's image by default,
    the arm64 one with --load-platform, and dockerd runs that one (qemu)."""
    dockerd.docker("load", "-i", multi)
    p = dockerd.docker("run", "--rm", "--network", "none", TAG)
    assert p.stdout.strip() == "machine=x86_64 uid=65532 gid=65532"
    arm = tmp_path / "arm-load.tar"
    tag = "minbase-test/where:arm"
    mk(mkimage, "--static", src, "--arch", "amd64,arm64", "--load-platform", "linux/arm64",
       "-o", arm, "--tag", tag, "-q")
    dockerd.docker("load", "-i", arm)
    info = json.loads(dockerd.docker("image", "inspect", tag).stdout)[0]
    assert info["Architecture"] == "arm64"
    p = dockerd.docker("run", "--rm", "--network", "none", "--platform", "linux/arm64", tag)
    assert p.stdout.strip() == "machine=aarch64 uid=65532 gid=65532"


# ---- seccomp filters for aarch64, without arm64 hardware ----------------------

def test_aarch64_filters_in_libseccomps_simulator(mkimage, src, tmp_path):
    """Each platform's image carries a filter for its own syscall numbers.
    libseccomp's scmp_bpf_sim runs it: the numbers of allowed calls on that
    machine are allowed, denied ones get EPERM, and the other machine's
    audit arch is killed."""
    sim = BUILD / "tools" / "scmp_bpf_sim"
    assert sim.exists(), "build/tools/scmp_bpf_sim missing: run `make test-support`"
    out = tmp_path / "pol.tar"
    mk(mkimage, "--static", src, "--arch", "amd64,arm64", "--policy", "default", "-o", out, "-q")
    a = Archive(out)
    allowed = ["read", "write", "openat", "execve", "exit_group", "futex"]
    denied = ["mount", "reboot", "kexec_load", "init_module", "umount2"]
    filters = {}
    for arch, (_, man, cfg) in a.platforms().items():
        assert "MINBASE_SECCOMP=/etc/minbase/seccomp.bpf" in cfg["config"]["Env"]
        data = a.file_in_layer(man["layers"][1]["digest"], "/etc/minbase/seccomp.bpf")
        assert data[:8] == b"MBSECCMP"
        assert int.from_bytes(data[12:16], "little") == AUDIT[arch]
        n = int.from_bytes(data[16:20], "little")
        assert len(data) == 28 + 8 * n
        raw = tmp_path / ("%s.bpf" % arch)
        raw.write_bytes(data[24:24 + 8 * n])
        filters[arch] = raw

    def sim_run(arch_filter, audit_arch, nr):
        p = run([sim, "-f", filters[arch_filter], "-a", audit_arch, "-s", nr])
        return p.stdout.strip()

    for arch in ("arm64", "amd64"):
        nums = syscall_numbers(arch, allowed + denied)
        for name in allowed:
            assert sim_run(arch, KARCH[arch], nums[name]) == "ALLOW", (arch, name)
        for name in denied:
            assert sim_run(arch, KARCH[arch], nums[name]) == "ERRNO(1)", (arch, name)
        other = "amd64" if arch == "arm64" else "arm64"
        assert sim_run(arch, KARCH[other], nums["read"]) == "KILL_PROCESS"
    # The numbers differ: aarch64's mount is another, allowed call on x86_64,
    # so an x86_64 filter in an arm64 image would be wrong, not just loose.
    a64 = syscall_numbers("arm64", ["mount"])["mount"]
    assert sim_run("arm64", "aarch64", a64) == "ERRNO(1)"
    assert sim_run("amd64", "x86_64", a64) == "ALLOW"


# ---- mkimage build, inspect, bad input ---------------------------------------

def test_build_one_binary_per_platform(mkimage, src, qemu_binfmt, tmp_path):
    out = tmp_path / "bins"
    mk(mkimage, "build", src, "--arch", "amd64,arm64", "-o", out, "-q")
    assert sorted(p.name for p in out.iterdir()) == ["linux_amd64", "linux_arm64"]
    for arch in ("amd64", "arm64"):
        b = out / ("linux_" + arch) / "where"
        assert elf_arch(b.read_bytes()) == arch
        p = run([b])
        assert p.stdout.startswith("machine=%s " % KARCH[arch])


def test_inspect_shows_every_platform(mkimage, multi):
    p = mk(mkimage, "inspect", multi)
    a = Archive(multi)
    assert Archive(multi).index()[0]["manifests"][0]["digest"] in p.stdout
    for arch, (d, _, _) in a.platforms().items():
        assert "linux/%s" % arch in p.stdout
        assert d["digest"] in p.stdout


@pytest.mark.parametrize("args,code,words", [
    (["--arch", "amd64,mips"], 2, ["--arch", "mips"]),
    (["--arch", "amd64,"], 2, ["empty"]),
    (["--arch", "amd64,x86_64"], 2, ["twice"]),
    (["--platform", "linux/arm64/v7"], 2, ["--platform"]),
    (["--platform", "windows/amd64"], 2, ["--platform"]),
    (["--arch", "amd64", "--platform", "linux/arm64"], 2, ["not both"]),
    (["--arch", "amd64,arm64", "--load-platform", "linux/s390x"], 2, ["--load-platform"]),
    (["--arch", "amd64", "--load-platform", "linux/arm64"], 2, ["--load-platform"]),
])
def test_bad_platforms_refused(mkimage, src, tmp_path, args, code, words):
    out = tmp_path / "out"
    out.mkdir()
    p = mk(mkimage, "--static", src, *args, "-o", out / "x.tar", check=False)
    assert p.returncode == code, p.stderr
    assert p.stderr.startswith("mkimage: ")
    for w in words:
        assert w in p.stderr.lower() or w in p.stderr, p.stderr
    assert list(out.iterdir()) == []


def test_prebuilt_binary_is_one_platform(mkimage, tools, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    p = mk(mkimage, "--static", tools / "mbtest", "--arch", "amd64,arm64", "-o", out / "x.tar",
           check=False, env={"TMPDIR": str(tmp_path)})
    assert p.returncode == 1 and "prebuilt binary" in p.stderr and "sources" in p.stderr
    assert list(out.iterdir()) == []


def test_failed_platform_leaves_nothing(mkimage, tmp_path):
    """arm64 fails to compile (an #error for aarch64 only): no image, no temp."""
    src = tmp_path / "amd64only.c"
    src.write_text("#ifdef __aarch64__\n#error no arm64 here\n#endif\nint main(void){return 0;}\n")
    out = tmp_path / "out"
    out.mkdir()
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    p = mk(mkimage, "--static", src, "--arch", "amd64,arm64", "-o", out / "x.tar", check=False,
           env={"TMPDIR": str(tmp)})
    assert p.returncode == 1 and "linux/arm64" in p.stderr, p.stderr
    assert list(out.iterdir()) == [] and list(tmp.iterdir()) == []
    p = mk(mkimage, "build", src, "--arch", "amd64,arm64", "-o", out / "bins", check=False)
    assert p.returncode == 1
    assert list(out.iterdir()) == []


# ---- through a real registry --------------------------------------------------

def test_registry_push_then_dockerd_pulls_each_platform(mkimage, multi, registry, dockerd,
                                                         qemu_binfmt, tmp_path):
    """`mkimage push` sends the index with every image; a real dockerd pulls
    --platform linux/arm64 and the host's platform from the same reference
    and runs each (arm64 through qemu)."""
    ref = "%s/multiarch/where:1.0" % registry.addr
    env = {"DOCKER_CONFIG": str(tmp_path / "docker-config"), "REGISTRY_AUTH_FILE": "",
           "XDG_CACHE_HOME": str(tmp_path / "cache")}
    (tmp_path / "docker-config").mkdir()
    p = mk(mkimage, "push", multi, ref, env=env)
    top = Archive(multi).index()[0]["manifests"][0]["digest"]
    assert p.stdout.strip().splitlines()[-1] == "%s@%s" % (ref, top)
    need_tools("skopeo")
    raw = json.loads(run(["skopeo", "inspect", "--raw", "--tls-verify=false",
                          "docker://" + ref]).stdout)
    want = {arch: d["digest"] for arch, (d, _, _) in Archive(multi).platforms().items()}
    assert sorted(m["digest"] for m in raw["manifests"]) == sorted(want.values())
    for arch in ("arm64", "amd64"):
        dockerd.docker("pull", "--platform", "linux/" + arch, ref, timeout=300)
        info = json.loads(dockerd.docker("image", "inspect", ref).stdout)[0]
        assert info["Architecture"] == arch
        out = dockerd.docker("run", "--rm", "--network", "none", "--platform", "linux/" + arch,
                             ref)
        assert out.stdout.strip() == "machine=%s uid=65532 gid=65532" % KARCH[arch]
        dockerd.docker("rmi", "-f", ref, check=False)


def test_static_push_sends_the_whole_index(mkimage, src, multi, registry, tmp_path):
    """`mkimage --static APP --arch amd64,arm64 --push REF` (no -o) pushes the
    index with both images, as --push does for one platform; it was once
    ignored without a word (exit 0, nothing pushed)."""
    need_tools("skopeo")
    ref = "%s/multiarch/pushed:1.0" % registry.addr
    env = {"DOCKER_CONFIG": str(tmp_path / "docker-config"), "REGISTRY_AUTH_FILE": "",
           "XDG_CACHE_HOME": str(tmp_path / "cache"), "TMPDIR": str(tmp_path / "tmp")}
    (tmp_path / "docker-config").mkdir()
    (tmp_path / "tmp").mkdir()
    p = mk(mkimage, "--static", src, "--arch", "amd64,arm64", "--tag", TAG, "--push", ref,
           "-q", cwd=tmp_path, env=env)
    top = Archive(multi).index()[0]["manifests"][0]["digest"]
    assert p.stdout.strip().splitlines()[-1] == "%s@%s" % (ref, top)
    raw = json.loads(run(["skopeo", "inspect", "--raw", "--tls-verify=false",
                          "docker://" + ref]).stdout)
    want = {d["digest"] for d, _, _ in Archive(multi).platforms().values()}
    assert {m["digest"] for m in raw["manifests"]} == want
    assert list((tmp_path / "tmp").iterdir()) == []
    # a registry that is not there: an error, not a silent success
    bad = mk(mkimage, "--static", src, "--arch", "amd64,arm64", "--tag", TAG, "--push",
             "127.0.0.1:1/x/y:z", "--retry-time", "1s", "-q", cwd=tmp_path, env=env, check=False)
    assert bad.returncode == 1 and "cannot push to `127.0.0.1:1/x/y:z`" in bad.stderr, bad.stderr
