"""`mkimage base` (issue 14): the base image for a Dockerfile's FROM.

The base is pushed to a local registry (distribution 2.8) by mkimage itself;
a real dockerd builds the production Dockerfile of tests/examples/go-http
(Dockerfile.minbase) FROM it with the classic builder and with BuildKit, and
Debian's buildah builds it too.  The Go builder stage uses a local toolchain
image (no image can be pulled from the internet here): Debian's statically
linked Go 1.23 on top of the debug base, pushed to the same registry.

The container is started as root with extra capabilities; the init still
runs the service as 65532 with no capabilities, no-new-privs and the named
seccomp policy (mode 2), reports healthy through HEALTHCHECK, and the
container ends with the service's exit code.  An unknown policy stops the
start.  The debug base gives a busybox shell as 65532."""
import io
import json
import os
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from conftest import need, need_root, need_tools
import testlib

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "tests" / "examples" / "go-http"
GO_ROOT = Path("/usr/lib/go-1.23")
# what `go build` of a program does not run (the toolchain image is smaller)
UNUSED_TOOLS = ("addr2line", "covdata", "cover", "dist", "distpack", "doc", "fix", "nm",
                "objdump", "pprof", "preprofile", "test2json", "trace", "vet")
ULIMITS = ["--ulimit", "nofile=20000:20000", "--ulimit", "nproc=4096:4096"]

TOOLCHAIN_DOCKERFILE = """ARG BASE
FROM ${BASE}
USER 0
RUN ["/busybox/mkdir", "-p", "/bin"]
RUN ["/busybox/ln", "-s", "/busybox/sh", "/bin/sh"]
ADD go.tar /usr/local/
ENV PATH=/usr/local/go-1.23/bin:/usr/local/bin:/usr/bin:/bin:/busybox HOME=/root \\
    GOPROXY=off GOTOOLCHAIN=local GOFLAGS=-mod=mod
ENTRYPOINT []
CMD ["/bin/sh"]
# the packages of the standard library the example uses, compiled once here
# as its stage builds them (the three builders reuse them)
RUN CGO_ENABLED=0 go build -trimpath net/http encoding/json os/signal log
"""


def layers_of(tar):
    with tarfile.open(tar) as t:
        idx = json.load(t.extractfile("index.json"))
        man = json.load(t.extractfile("blobs/sha256/" + idx["manifests"][0]["digest"][7:]))
        cfg = json.load(t.extractfile("blobs/sha256/" + man["config"]["digest"][7:]))
        blobs = [t.extractfile("blobs/sha256/" + l["digest"][7:]).read() for l in man["layers"]]
    return man, cfg, blobs


def names_in(blob):
    with tarfile.open(fileobj=io.BytesIO(blob)) as t:
        return {m.name: m for m in t.getmembers()}


@pytest.fixture(scope="module")
def bases(mkimage, registry, tmp_path_factory):
    """The base and the debug base, written and pushed by mkimage."""
    tmp = tmp_path_factory.mktemp("bases")
    env = {"SOURCE_DATE_EPOCH": "1700000000", "XDG_CACHE_HOME": str(tmp / "cache")}
    out = {}
    for name, extra in (("latest", []), ("debug", ["--debug"])):
        tar = tmp / ("static-%s.tar" % name)
        ref = "%s/minbase/static:%s" % (registry.addr, name)
        testlib.mk(mkimage, "base", "-o", tar, "-q", *extra, env=env)
        testlib.mk(mkimage, "base", "--push", ref, "-q", *extra, env=env)
        out[name] = (tar, ref)
    return tmp, out


def test_base_image_contents_and_config(mkimage, bases, tmp_path):
    tmp, out = bases
    man, cfg, blobs = layers_of(out["latest"][0])
    assert len(blobs) == 1
    c = cfg["config"]
    assert c["User"] == "65532:65532"
    assert c["Entrypoint"] == ["/usr/bin/minbase-init", "--"]
    assert c["WorkingDir"] == "/app"
    assert "MINBASE_CAPS=" in c["Env"] and "MINBASE_NO_NEW_PRIVS=1" in c["Env"]
    assert "MINBASE_USER=65532:65532" in c["Env"]
    files = names_in(blobs[0])
    for n in ("usr/bin/minbase-init", "etc/ssl/certs/ca-certificates.crt", "etc/passwd"):
        assert n in files
    arch = os.uname().machine
    for pol in ("default", "service", "strict"):
        m = files["etc/minbase/policies/%s.bpf" % pol]
        with tarfile.open(fileobj=io.BytesIO(blobs[0])) as t:
            data = t.extractfile(m).read()
        shipped = ROOT / ("build/share/minbase/policies/%s.%s.bpf" % (pol, arch))
        assert data == shipped.read_bytes(), pol
    # the same blob as the base layer of a --static image of the same options
    svc = tmp_path / "svc.tar"
    testlib.mk(mkimage, "--static", ROOT / "tests/examples/c-http", "-o", svc, "-q",
               env={"SOURCE_DATE_EPOCH": "1700000000", "XDG_CACHE_HOME": str(tmp / "cache")})
    sman, _, _ = layers_of(svc)
    assert sman["layers"][0]["digest"] == man["layers"][0]["digest"]
    # the debug base: that layer, and busybox above it
    dman, dcfg, dblobs = layers_of(out["debug"][0])
    assert dman["layers"][0] == man["layers"][0]
    bb = names_in(dblobs[1])
    assert bb["busybox/busybox"].isfile() and bb["busybox/sh"].issym()
    assert bb["busybox/sh"].linkname == "busybox"
    assert "PATH=/usr/local/bin:/usr/bin:/bin:/busybox" in dcfg["config"]["Env"]
    assert dcfg["config"]["User"] == "65532:65532"


def test_base_bad_options(mkimage, tmp_path):
    for args, msg in ((["--arch", "s390x"], "invalid --arch"), (["extra"], "unexpected argument"),
                      (["--tag", "Bad:Tag"], "--tag"), (["--ca-file", tmp_path / "none.pem"],
                                                       "invalid --ca-file")):
        p = testlib.mk(mkimage, "base", "-o", tmp_path / "b.tar", *args, check=False)
        assert p.returncode == 2 and msg in p.stderr, p.stderr
        assert not (tmp_path / "b.tar").exists()


@pytest.fixture(scope="module")
def toolchain(dockerd, registry, bases):
    """REGISTRY/go:1.23: Debian's Go 1.23 on the debug base (pulled from the
    registry), with std precompiled as the service's stage builds it."""
    need(GO_ROOT.joinpath("bin", "go").exists(), "Debian's golang-1.23 is needed (make deps)")
    tmp, out = bases
    ctx = tmp / "toolchain"
    ctx.mkdir()
    testlib.run(["tar", "-h", "-C", GO_ROOT.parent, "-cf", ctx / "go.tar",
                 "--exclude=go-1.23/test", "--exclude=go-1.23/api", "--exclude=go-1.23/misc",
                 "--exclude=go-1.23/src/cmd", "--exclude=testdata", "--exclude=*_test.go"] +
                ["--exclude=go-1.23/pkg/tool/linux_amd64/" + t for t in UNUSED_TOOLS] +
                ["go-1.23"], timeout=300)
    (ctx / "Dockerfile").write_text(TOOLCHAIN_DOCKERFILE)
    ref = "%s/go:1.23" % registry.addr
    dockerd.docker("build", "-q", "--network", "none", "--build-arg", "BASE=" + out["debug"][1],
                   "-t", ref, str(ctx), timeout=900)
    dockerd.docker("push", ref, timeout=600)
    return ref


def docker_build(dockerd, toolchain, base_ref, tag, buildkit):
    env = dict(os.environ, DOCKER_BUILDKIT="1" if buildkit else "0")
    cmd = [testlib.DOCKER, "-H", "unix://%s" % dockerd.sock, "build", "--network", "none",
           "-f", str(APP / "Dockerfile.minbase"), "--build-arg", "GO_IMAGE=" + toolchain,
           "--build-arg", "BASE_IMAGE=" + base_ref, "-t", tag, str(APP)]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]


def service_status(host_pid):
    """/proc status fields of the init's child that runs /app/devops-info."""
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            kids = Path("/proc/%d/task/%d/children" % (host_pid, host_pid)).read_text().split()
        except OSError:
            kids = []
        for k in kids:
            try:
                cmd = Path("/proc/%s/cmdline" % k).read_bytes().split(b"\0")[0]
                if cmd == b"/app/devops-info":
                    st = Path("/proc/%s/status" % k).read_text()
                    return dict(l.split(":", 1) for l in st.splitlines() if ":" in l)
            except OSError:
                pass
        time.sleep(0.2)
    raise AssertionError("no /app/devops-info under the init (pid %d)" % host_pid)


def check_hardened(status):
    assert status["Uid"].split()[:2] == ["65532", "65532"], status["Uid"]
    assert status["Gid"].split()[:2] == ["65532", "65532"], status["Gid"]
    assert int(status["CapEff"].strip(), 16) == 0
    assert int(status["CapPrm"].strip(), 16) == 0
    assert status["NoNewPrivs"].strip() == "1"
    assert status["Seccomp"].strip() == "2"


def wait_health(inspect, want="healthy", timeout=120):
    deadline = time.time() + timeout
    state = None
    while time.time() < deadline:
        state = inspect()
        if state == want:
            return
        time.sleep(0.5)
    raise AssertionError("health stayed %r, not %r" % (state, want))


@pytest.fixture(scope="module", params=["classic", "buildkit"])
def built(request, dockerd, toolchain, bases):
    tag = "minbase-test/devops-info:%s" % request.param
    docker_build(dockerd, toolchain, bases[1]["latest"][1], tag, request.param == "buildkit")
    return tag


def test_dockerfile_on_the_base_runs_hardened(dockerd, built):
    d = dockerd.docker
    cid = d("run", "-d", "--network", "none", "-u", "0", "--cap-add", "NET_ADMIN",
            "--cap-add", "SYS_PTRACE", built).stdout.strip()
    try:
        pid = int(d("inspect", "-f", "{{.State.Pid}}", cid).stdout)
        check_hardened(service_status(pid))
        wait_health(lambda: d("inspect", "-f", "{{.State.Health.Status}}", cid).stdout.strip())
        d("stop", "-t", "20", cid, timeout=60)
        assert d("inspect", "-f", "{{.State.ExitCode}}", cid).stdout.strip() == "0"
    finally:
        d("rm", "-f", cid, check=False)
    # the service's own failure is the container's exit code
    p = d("run", "--rm", "--network", "none", "-e", "PORT=notaport", built, check=False)
    assert p.returncode == 1, p.stderr
    assert "listen" in p.stderr


def test_unknown_policy_stops_the_start(dockerd, built):
    p = dockerd.docker("run", "--rm", "--network", "none", "-e", "MINBASE_POLICY=servce", built,
                       check=False, timeout=60)
    assert p.returncode != 0
    assert "servce" in p.stderr and "service" in p.stderr, p.stderr
    assert "devops-info" not in p.stdout


def test_debug_base_gives_a_shell_as_nonroot(dockerd, bases):
    ref = bases[1]["debug"][1]
    p = dockerd.docker("run", "--rm", "--network", "none", "--entrypoint", "/busybox/sh", ref,
                       "-c", "id -u; id -g; echo $PATH; ls /etc/minbase/policies")
    lines = p.stdout.split()
    assert lines[:2] == ["65532", "65532"]
    assert lines[2].endswith(":/busybox")
    assert {"default.bpf", "service.bpf", "strict.bpf"} <= set(lines[3:])


def test_buildah_builds_it_and_podman_runs_it(toolchain, bases, tmp_path):
    need_root()
    need_tools("buildah", "podman")
    tag = "localhost/minbase-test/devops-info:buildah"
    p = testlib.run(["buildah", "bud", "--network", "none", "--tls-verify=false",
                     "-f", APP / "Dockerfile.minbase", "--build-arg", "GO_IMAGE=" + toolchain,
                     "--build-arg", "BASE_IMAGE=" + bases[1]["latest"][1], "-t", tag, APP],
                    check=False, timeout=900)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    try:
        cid = testlib.run(["podman", "run", "-d", "--network", "none", *ULIMITS, "-u", "0",
                           "--cap-add", "NET_ADMIN", tag]).stdout.strip()
        pid = int(testlib.run(["podman", "inspect", "-f", "{{.State.Pid}}", cid]).stdout)
        check_hardened(service_status(pid))
        testlib.run(["podman", "stop", "-t", "20", cid], timeout=60)
        code = testlib.run(["podman", "inspect", "-f", "{{.State.ExitCode}}", cid]).stdout
        assert code.strip() == "0"
        testlib.run(["podman", "rm", "-f", cid], check=False)
    finally:
        testlib.run(["podman", "rmi", "-f", tag], check=False)


def test_readme_shows_the_production_dockerfile():
    """README.md's Dockerfile is the one the tests build, line for line."""
    readme = (ROOT / "README.md").read_text()
    lines = [l for l in (APP / "Dockerfile.minbase").read_text().splitlines()
             if l.strip() and not l.startswith("#")]
    assert "\n".join(lines).replace("\n\nFROM", "\nFROM") in \
        readme.replace("\n\nFROM", "\nFROM"), "README.md and Dockerfile.minbase differ"


def test_arm64_base_has_the_arm64_init_and_policies(mkimage, tmp_path):
    init = ROOT / "build/bin/aarch64/minbase-init"
    need(init.exists(), "the arm64 init is not built (make deps; make)")
    out = tmp_path / "a.tar"
    testlib.mk(mkimage, "base", "--arch", "arm64", "-o", out, "-q")
    man, cfg, blobs = layers_of(out)
    assert cfg["architecture"] == "arm64"
    with tarfile.open(fileobj=io.BytesIO(blobs[0])) as t:
        assert t.extractfile("usr/bin/minbase-init").read() == init.read_bytes()
        for pol in ("default", "service", "strict"):
            shipped = ROOT / ("build/share/minbase/policies/%s.aarch64.bpf" % pol)
            assert t.extractfile("etc/minbase/policies/%s.bpf" % pol).read() == \
                shipped.read_bytes(), pol


def test_multi_arch_base_shares_each_platforms_base_layer(mkimage, registry, bases, tmp_path):
    need((ROOT / "build/bin/aarch64/minbase-init").exists(), "the arm64 init is not built")
    tmp, out = bases
    env = {"SOURCE_DATE_EPOCH": "1700000000", "XDG_CACHE_HOME": str(tmp / "cache")}
    multi = tmp_path / "m.tar"
    testlib.mk(mkimage, "base", "--arch", "amd64,arm64", "-o", multi, "-q", env=env)
    one = tmp_path / "arm64.tar"
    testlib.mk(mkimage, "base", "--arch", "arm64", "-o", one, "-q", env=env)
    with tarfile.open(multi) as t:
        idx = json.load(t.extractfile("index.json"))
        ii = json.load(t.extractfile("blobs/sha256/" + idx["manifests"][0]["digest"][7:]))
        mans = {d["platform"]["architecture"]: json.load(
            t.extractfile("blobs/sha256/" + d["digest"][7:])) for d in ii["manifests"]}
        assert all("dev.minbase.sbom" in d["annotations"] for d in ii["manifests"])
    assert set(mans) == {"amd64", "arm64"}
    assert mans["amd64"]["layers"] == layers_of(out["latest"][0])[0]["layers"]
    assert mans["arm64"]["layers"] == layers_of(one)[0]["layers"]
    ref = "%s/minbase/multi:latest" % registry.addr
    testlib.mk(mkimage, "base", "--arch", "amd64,arm64", "--push", ref, "-q", env=env)
    raw = testlib.run(["skopeo", "inspect", "--raw", "--tls-verify=false", "docker://" + ref])
    assert len(json.loads(raw.stdout)["manifests"]) == 2


def platforms(index):
    return {d["platform"]["architecture"]: d["platform"] for d in index["manifests"]}


def test_arm64_images_say_variant_v8_and_amd64_none(mkimage, registry, dockerd, tmp_path):
    """docker and containerd match linux/arm64 images as linux/arm64/v8: the
    variant is in the platform of index.json, in the config (what a
    single-platform pull is checked against) and in a pushed index; amd64
    has none.  dockerd pulls the single-arch arm64 base by that platform."""
    need((ROOT / "build/bin/aarch64/minbase-init").exists(), "the arm64 init is not built")
    need_tools("skopeo")
    plats, cfgs = {}, {}
    for a in ("amd64", "arm64"):
        lay = tmp_path / ("%s.oci" % a)
        testlib.mk(mkimage, "base", "--arch", a, "-o", lay, "--format", "oci", "-q")
        idx = json.loads((lay / "index.json").read_text())
        plats[a] = idx["manifests"][0]["platform"]
        cfgs[a] = json.loads(testlib.run(["skopeo", "inspect", "--config", "oci:%s" % lay]).stdout)
        # a service built on it (the registry output path) keeps it
        on = tmp_path / ("on-%s.oci" % a)
        testlib.mk(mkimage, "--static", ROOT / "tests/examples/c-http", "--arch", a, "--base", lay,
                   "-o", on, "--format", "oci", "-q")
        assert json.loads((on / "index.json").read_text())["manifests"][0]["platform"] == plats[a]
    assert plats == {"amd64": {"architecture": "amd64", "os": "linux"},
                     "arm64": {"architecture": "arm64", "os": "linux", "variant": "v8"}}
    assert cfgs["arm64"]["variant"] == "v8" and "variant" not in cfgs["amd64"]
    # the pushed index of both
    ref = "%s/minbase/variant:multi" % registry.addr
    testlib.mk(mkimage, "base", "--arch", "amd64,arm64", "--push", ref, "-q")
    raw = json.loads(testlib.run(["skopeo", "inspect", "--raw", "--tls-verify=false",
                                  "docker://" + ref]).stdout)
    assert platforms(raw) == plats
    # a single-arch arm64 base, pulled by docker for linux/arm64/v8
    one = "%s/minbase/variant:arm64" % registry.addr
    testlib.mk(mkimage, "base", "--arch", "arm64", "--push", one, "-q")
    p = dockerd.docker("pull", "--platform", "linux/arm64/v8", one, check=False)
    assert p.returncode == 0, p.stderr
    out = dockerd.docker("image", "inspect", "-f", "{{.Architecture}} {{.Variant}}", one).stdout
    assert out.split() == ["arm64", "v8"]


# ---- make images / make publish ----------------------------------------------

PUB_USER, PUB_PASSWORD = "publisher", "pw-publish-7Kq"
INDEX_MT = "application/vnd.oci.image.index.v1+json"


def makefile_version():
    text = (ROOT / "Makefile").read_text()
    return next(l.split(":=")[1].strip() for l in text.splitlines() if l.startswith("VERSION "))


class TokenRegistry:
    """The registry in token mode (as Docker Hub and GHCR), plain http on
    127.0.0.1; a client of our own for what skopeo cannot fetch (blobs)."""

    def __init__(self, work):
        need_tools("docker-registry", "skopeo")
        for mod in ("jwt", "cryptography"):
            need(subprocess.run(["/usr/bin/python3", "-c", "import " + mod],
                                capture_output=True).returncode == 0,
                 "python3-jwt and python3-cryptography are needed (make deps)")
        from token_issuer import TokenIssuer
        self.issuer = TokenIssuer(work, {PUB_USER: PUB_PASSWORD})
        self.reg = testlib.Registry(auth=("token", self.issuer))
        self.addr = self.reg.addr

    def get(self, path, accept="*/*"):
        """GET /v2/PATH through the Bearer flow the registry asks for."""
        import base64
        import urllib.error
        import urllib.parse
        import urllib.request
        url = "http://%s/v2/%s" % (self.addr, path)
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers={"Accept": accept}),
                                        timeout=30) as r:
                return r.read()
        except urllib.error.HTTPError as e:
            if e.code != 401:
                raise
            chal = dict(kv.split("=", 1) for kv in
                        e.headers["WWW-Authenticate"].split(" ", 1)[1].split(","))
            chal = {k: v.strip('"') for k, v in chal.items()}
        q = urllib.parse.urlencode({"service": chal["service"], "scope": chal["scope"]})
        basic = base64.b64encode(("%s:%s" % (PUB_USER, PUB_PASSWORD)).encode()).decode()
        req = urllib.request.Request(chal["realm"] + "?" + q, headers={"Authorization": "Basic " + basic})
        with urllib.request.urlopen(req, timeout=30) as r:
            token = json.loads(r.read())["token"]
        req = urllib.request.Request(url, headers={"Accept": accept, "Authorization": "Bearer " + token})
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.read()

    def stop(self):
        self.reg.stop()
        self.issuer.stop()


@pytest.fixture(scope="module")
def published(mkimage, tmp_path_factory):
    """`make publish` run as a user would, against a registry that asks for
    credentials (given through a DOCKER_CONFIG of this test's own)."""
    need((ROOT / "build/bin/aarch64/minbase-init").exists(), "the arm64 init is not built")
    need_tools("make", "apt-get", "dpkg-deb")
    tmp = tmp_path_factory.mktemp("publish")
    reg = TokenRegistry(tmp)
    try:
        import base64
        cfg = tmp / "docker-config"
        cfg.mkdir()
        (cfg / "config.json").write_text(json.dumps({"auths": {reg.addr: {"auth": base64.b64encode(
            ("%s:%s" % (PUB_USER, PUB_PASSWORD)).encode()).decode()}}}))
        env = dict(os.environ, DOCKER_CONFIG=str(cfg), REGISTRY_AUTH_FILE="",
                   XDG_RUNTIME_DIR=str(tmp / "no-runtime-dir"), XDG_CACHE_HOME=str(tmp / "cache"))
        out = tmp / "images"
        p = subprocess.run(["make", "-C", ROOT, "--no-print-directory", "publish",
                            "REGISTRY=%s/ns" % reg.addr, "IMAGES_OUT=%s" % out, "MKIMAGE=%s" % mkimage],
                           env=env, capture_output=True, text=True, timeout=900,
                           stdin=subprocess.DEVNULL)
        assert p.returncode == 0, "make publish failed:\n" + p.stdout[-3000:] + p.stderr[-3000:]
        yield reg, out, p
    finally:
        reg.stop()


def test_make_publish_without_registry_stops_before_building(tmp_path):
    # REGISTRY= on the command line: one in the environment would count too
    p = subprocess.run(["make", "-C", ROOT, "--no-print-directory", "publish", "REGISTRY=",
                        "IMAGES_OUT=%s" % tmp_path], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "give REGISTRY=HOST/NAMESPACE" in p.stderr, p.stderr
    assert list(tmp_path.iterdir()) == []


def test_make_images_writes_the_family_with_sboms(published):
    reg, out, _ = published
    import jsonschema
    schema = json.loads((ROOT / "tests/schemas/spdx-2.3.schema.json").read_text())
    names = sorted(p.name for p in out.iterdir())
    want = ["static-%s%s" % (v, a) for v in ("", "debug-") for a in ("amd64", "arm64")]
    assert names == sorted([n + ".tar" for n in want] + [n + ".spdx.json" for n in want] +
                           ["static.tar", "static-debug.tar"]), names
    for n in want:
        tar = out / (n + ".tar")
        info = json.loads(testlib.run(["skopeo", "inspect", "oci-archive:%s" % tar]).stdout)
        assert info["Architecture"] == n.rsplit("-", 1)[1]
        doc = json.loads((out / (n + ".spdx.json")).read_text())
        jsonschema.validate(doc, schema)
        assert info["Digest"][7:] in doc["documentNamespace"]
        assert ("busybox-static" in [p["name"] for p in doc["packages"]]) == ("debug" in n)


def test_make_publish_pushes_indexes_with_sboms(published):
    """minbase/static:VERSION, :latest and :debug are image indexes of
    linux/amd64 and linux/arm64/v8, VERSION and latest the same; each
    platform's SBOM is found by the referrers tag, the same document as
    make images wrote beside the single-platform tar."""
    reg, out, _ = published
    repo = "%s/ns/minbase/static" % reg.addr
    creds = ["--creds", "%s:%s" % (PUB_USER, PUB_PASSWORD), "--tls-verify=false"]
    raws = {}
    for tag in (makefile_version(), "latest", "debug"):
        raw = testlib.run(["skopeo", "inspect", "--raw"] + creds + ["docker://%s:%s" % (repo, tag)]).stdout
        idx = json.loads(raw)
        raws[tag] = raw
        assert idx["mediaType"] == INDEX_MT, idx
        assert platforms(idx) == {"amd64": {"architecture": "amd64", "os": "linux"},
                                  "arm64": {"architecture": "arm64", "os": "linux", "variant": "v8"}}
        for a in ("amd64", "arm64"):
            # skopeo picks the platform from the index
            info = json.loads(testlib.run(["skopeo", "inspect", "--override-arch", a] + creds +
                                          ["docker://%s:%s" % (repo, tag)]).stdout)
            assert info["Architecture"] == a
        for d in idx["manifests"]:
            a = d["platform"]["architecture"]
            ri = json.loads(reg.get("ns/minbase/static/manifests/sha256-" + d["digest"][7:], INDEX_MT))
            arts = [m for m in ri["manifests"] if m.get("artifactType") == "application/spdx+json"]
            assert len(arts) == 1, ri
            art = json.loads(reg.get("ns/minbase/static/manifests/" + arts[0]["digest"],
                                     "application/vnd.oci.image.manifest.v1+json"))
            assert art["subject"]["digest"] == d["digest"]
            doc = reg.get("ns/minbase/static/blobs/" + art["layers"][0]["digest"])
            beside = out / ("static-%s%s.spdx.json" % ("debug-" if tag == "debug" else "", a))
            if tag != "latest":
                assert doc == beside.read_bytes(), (tag, a)
    assert raws["latest"] == raws[makefile_version()]
    assert raws["debug"] != raws["latest"]
    # pushed with the credentials of our DOCKER_CONFIG, through the issuer
    assert any(u == PUB_USER and any("push" in s for s in scopes)
               for u, scopes in reg.issuer.requests), reg.issuer.requests
