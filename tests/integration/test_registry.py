"""mkimage push / pull / --push against the real distribution registry
(Debian's docker-registry), in the three set-ups users meet:

  open       no authentication, plain http on 127.0.0.1 (a loopback registry)
  token      Bearer tokens from our own issuer (ES256 JWTs, x5c header), the
             registry's `auth: token:` mode, as Docker Hub or GHCR
  basic-tls  htpasswd Basic authentication over TLS with a private CA

Every push is checked by other tools: skopeo inspect gives the tar's digest,
a real dockerd pulls and runs the image, and the registry's own access log
tells which blobs were uploaded.
"""
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from conftest import need, need_root, need_tools
import testlib

USER, PASSWORD = "alice", "pw-Zq7-secret"
REFRESH = "refresh-9d2f-token"


def tar_json(tar, name):
    with tarfile.open(tar) as t:
        return json.load(t.extractfile(name))


def tar_blobs(tar):
    """{digest: bytes} of every blob in an image archive."""
    out = {}
    with tarfile.open(tar) as t:
        for m in t.getmembers():
            if m.isfile() and m.name.startswith("blobs/sha256/"):
                out["sha256:" + m.name.rsplit("/", 1)[1]] = t.extractfile(m).read()
    return out


def image_digests(tar):
    """(manifest digest, config digest, [layer digests]) of our archive."""
    idx = tar_json(tar, "index.json")
    md = idx["manifests"][0]["digest"]
    man = tar_json(tar, "blobs/sha256/" + md.split(":")[1])
    return md, man["config"]["digest"], [l["digest"] for l in man["layers"]]


class Setup:
    """One registry set-up: how mkimage, skopeo and docker reach it."""

    def __init__(self, kind, workdir):
        need_tools("docker-registry", "skopeo")
        self.kind = kind
        self.work = Path(workdir)
        self.issuer = None
        self.ca = None
        auth, tls = None, None
        if kind == "token":
            need(_have_module("jwt") and _have_module("cryptography"),
                 "python3-jwt and python3-cryptography are needed (make deps)")
            from token_issuer import TokenIssuer
            self.issuer = TokenIssuer(self.work, {USER: PASSWORD}, {REFRESH: USER})
            auth = ("token", self.issuer)
        elif kind == "basic-tls":
            need_tools("openssl", "htpasswd")
            self.ca, cert, key = _make_ca(self.work)
            hp = self.work / "htpasswd"
            testlib.run(["htpasswd", "-Bbc", hp, USER, PASSWORD])
            auth, tls = ("htpasswd", hp), (cert, key)
        self.reg = testlib.Registry(auth=auth, tls=tls)
        self.addr = self.reg.addr
        self.docker_config = self.work / "docker-config"
        self.write_config(self.docker_config, USER, PASSWORD)

    @property
    def auth(self):
        return self.kind != "open"

    def write_config(self, d, user, password, extra=None):
        d.mkdir(parents=True, exist_ok=True)
        cfg = {"auths": {}}
        if self.auth and user:
            import base64
            cfg["auths"][self.addr] = {
                "auth": base64.b64encode(("%s:%s" % (user, password)).encode()).decode()}
        cfg.update(extra or {})
        (d / "config.json").write_text(json.dumps(cfg))
        return d

    def env(self, config=None):
        return {"DOCKER_CONFIG": str(config or self.docker_config), "REGISTRY_AUTH_FILE": "",
                "XDG_RUNTIME_DIR": str(self.work / "no-runtime-dir"),
                "XDG_CACHE_HOME": str(self.work / "cache")}

    def mk_args(self):
        return ["--registry-ca", self.ca] if self.ca else []

    def skopeo(self, *args, check=True):
        """skopeo inspect / copy (from this registry) with our credentials and CA."""
        pre = "--src-" if args[0] == "copy" else "--"
        extra = []
        if self.auth:
            extra += [pre + "creds", "%s:%s" % (USER, PASSWORD)]
        if self.ca:
            certs = self.work / "skopeo-certs"
            certs.mkdir(exist_ok=True)
            (certs / "ca.crt").write_bytes(Path(self.ca).read_bytes())
            extra += [pre + "cert-dir", str(certs)]
        else:
            extra += [pre + "tls-verify=false"]
        return testlib.run(["skopeo", args[0]] + extra + list(args[1:]), check=check)

    def stop(self):
        self.reg.stop()
        if self.issuer:
            self.issuer.stop()


def _have_module(name):
    return subprocess.run(["/usr/bin/python3", "-c", "import " + name],
                          capture_output=True).returncode == 0


def _make_ca(d):
    """A private CA and a certificate for 127.0.0.1 signed by it (openssl)."""
    ca_key, ca, key, csr, cert = (d / n for n in ("ca.key", "ca.crt", "srv.key", "srv.csr", "srv.crt"))
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    testlib.run(["openssl", "req", "-x509"] + ec + ["-keyout", ca_key, "-out", ca, "-days", "2",
                "-subj", "/CN=minbase test CA"])
    testlib.run(["openssl", "req"] + ec + ["-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"])
    ext = d / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    testlib.run(["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
                 "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext])
    return ca, cert, key


@pytest.fixture(scope="module", params=["open", "token", "basic-tls"])
def setup(request, tmp_path_factory):
    s = Setup(request.param, tmp_path_factory.mktemp("reg-" + request.param))
    yield s
    s.stop()


@pytest.fixture
def auth_setup(setup):
    return setup


# the tests about credentials run against the two registries that ask for them
AUTH_ONLY = pytest.mark.parametrize("setup", ["token", "basic-tls"], indirect=True)


_count = [0]


def repo(setup, name="app"):
    """A fresh repository per test: logs and tags of one test stay apart."""
    _count[0] += 1
    return "%s/t%d/%s" % (setup.addr, _count[0], name)


def build(mkimage, tools, out, *extra, add=None):
    # no SBOM: these tests count the image's own blobs and compare pulled
    # bytes; test_sbom.py pushes one and finds it by the referrers tag
    args = ["--static", tools / "mbtest", "-o", out, "-q", "--sbom", "none"]
    if add:
        args += ["--add", "%s:/app/data.txt" % add]
    testlib.run([mkimage] + args + list(extra) + ["--", "id"])
    return out


def push(mkimage, setup, image, ref, *extra, env=None, check=True):
    """mkimage push, with a record of pushed blobs (for mounts) kept beside
    the image: one test's pushes do not turn into another test's mounts."""
    e = setup.env()
    e.update(env or {})
    cache = Path(image).parent / "push-cache"
    p = testlib.mk(mkimage, "push", image, ref, "--cache", cache, *setup.mk_args(), *extra,
                   env=e, check=False)
    if check:
        assert p.returncode == 0, "push failed (%d): %s" % (p.returncode, p.stderr)
    return p


def uploads(setup, r):
    """Digests whose upload the registry completed (PUT ...?digest=, 201)."""
    path = "/v2/%s/blobs/uploads/" % r.split("/", 1)[1].rsplit(":", 1)[0]
    out = []
    for _, url, _ in setup.reg.requests("PUT", path, 201):
        q = url.split("digest=", 1)[1].split("&")[0]
        out.append(q.replace("%3A", ":").replace("%3a", ":"))
    return out


def test_push_inspect_and_dockerd_runs_it(mkimage, tools, setup, dockerd, tmp_path):
    r = repo(setup) + ":v1"
    tar = tmp_path / "app.tar"
    # build and push in one step, with -o too: the tar and the registry agree
    p = testlib.mk(mkimage, "--static", tools / "mbtest", "-o", tar, "--push", r,
                   *setup.mk_args(), "--", "id", env=setup.env())
    md, cd, layers = image_digests(tar)
    assert p.stdout.strip().splitlines()[-1] == "%s@%s" % (r, md)
    info = json.loads(setup.skopeo("inspect", "docker://" + r).stdout)
    assert info["Digest"] == md
    assert [l for l in info["Layers"]] == layers
    # a real engine pulls it (with the same credentials) and runs it as 65532
    cfgdir = setup.docker_config
    pull = testlib.run([testlib.DOCKER, "--config", cfgdir, "-H", "unix://%s" % dockerd.sock,
                        "pull", r], timeout=300)
    assert md in pull.stdout
    out = dockerd.docker("run", "--rm", "--network", "none", r)
    assert out.stdout.startswith("uid=65532 gid=65532"), out.stdout
    dockerd.docker("rmi", "-f", r, check=False)


def test_second_push_uploads_nothing(mkimage, tools, setup, tmp_path):
    r = repo(setup) + ":v1"
    tar = build(mkimage, tools, tmp_path / "a.tar")
    push(mkimage, setup, tar, r)
    first = uploads(setup, r)
    assert len(first) == 3  # config, base layer, service layer
    posts = len(setup.reg.requests("POST", "/blobs/uploads/"))
    p = push(mkimage, setup, tar, r)
    assert uploads(setup, r) == first, "the second push uploaded blobs again"
    assert len(setup.reg.requests("POST", "/blobs/uploads/")) == posts
    assert "0 uploaded" in p.stderr and "3 already there" in p.stderr
    assert p.stdout.strip().endswith(image_digests(tar)[0])


def test_changed_service_uploads_only_its_layer(mkimage, tools, setup, tmp_path):
    r = repo(setup) + ":v1"
    (tmp_path / "d1").write_text("one\n")
    (tmp_path / "d2").write_text("two\n")
    a = build(mkimage, tools, tmp_path / "a.tar", add=tmp_path / "d1")
    b = build(mkimage, tools, tmp_path / "b.tar", add=tmp_path / "d2")
    push(mkimage, setup, a, r)
    before = len(uploads(setup, r))
    push(mkimage, setup, b, r)
    new = uploads(setup, r)[before:]
    _, cfg_b, layers_b = image_digests(b)
    _, _, layers_a = image_digests(a)
    assert layers_a[0] == layers_b[0]  # the base layer is shared ...
    assert sorted(new) == sorted([cfg_b, layers_b[1]])  # ... and not sent again
    info = json.loads(setup.skopeo("inspect", "docker://" + r).stdout)
    assert info["Digest"] == image_digests(b)[0]


@AUTH_ONLY
def test_wrong_credentials_fail_clearly_and_leave_no_tag(mkimage, tools, auth_setup, tmp_path):
    s = auth_setup
    r = repo(s) + ":v1"
    tar = build(mkimage, tools, tmp_path / "a.tar")
    bad = s.write_config(tmp_path / "bad-config", USER, "not-the-password-123")
    p = push(mkimage, s, tar, r, env={"DOCKER_CONFIG": str(bad)}, check=False)
    assert p.returncode == 1, p.stderr
    assert "mkimage: cannot push" in p.stderr
    assert "UNAUTHORIZED" in p.stderr and s.addr in p.stderr, p.stderr
    assert "not-the-password-123" not in p.stderr + p.stdout
    assert str(bad) in p.stderr  # says where the credentials came from
    assert s.skopeo("inspect", "docker://" + r, check=False).returncode != 0
    # no credentials at all: the same, with the hint to log in
    none = s.write_config(tmp_path / "no-config", None, None)
    p = push(mkimage, s, tar, r, env={"DOCKER_CONFIG": str(none)}, check=False)
    assert p.returncode == 1 and "login" in p.stderr, p.stderr


@AUTH_ONLY
def test_credential_helper_supplies_credentials(mkimage, tools, auth_setup, tmp_path):
    s = auth_setup
    r = repo(s) + ":v1"
    tar = build(mkimage, tools, tmp_path / "a.tar")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    seen = tmp_path / "helper-saw"
    helper = bindir / "docker-credential-test"
    helper.write_text("#!/bin/sh\n[ \"$1\" = get ] || exit 3\ncat > %s\n"
                      "printf '{\"ServerURL\":\"%%s\",\"Username\":\"%s\",\"Secret\":\"%s\"}' "
                      "\"$(cat %s)\"\n" % (seen, USER, PASSWORD, seen))
    helper.chmod(0o755)
    cfg = s.write_config(tmp_path / "helper-config", None, None,
                         extra={"credHelpers": {s.addr: "test"}})
    p = push(mkimage, s, tar, r, env={"DOCKER_CONFIG": str(cfg),
                                      "PATH": "%s:%s" % (bindir, os.environ["PATH"])})
    assert seen.read_text() == s.addr
    assert PASSWORD not in p.stderr + p.stdout
    info = json.loads(s.skopeo("inspect", "docker://" + r).stdout)
    assert info["Digest"] == image_digests(tar)[0]


@AUTH_ONLY
def test_podman_auth_file(mkimage, tools, auth_setup, tmp_path):
    s = auth_setup
    r = repo(s) + ":v1"
    tar = build(mkimage, tools, tmp_path / "a.tar")
    authfile = s.write_config(tmp_path / "podman", USER, PASSWORD) / "config.json"
    empty = s.write_config(tmp_path / "empty", None, None)
    push(mkimage, s, tar, r, env={"REGISTRY_AUTH_FILE": str(authfile),
                                  "DOCKER_CONFIG": str(empty)})
    assert json.loads(s.skopeo("inspect", "docker://" + r).stdout)["Digest"] == \
        image_digests(tar)[0]


def test_push_layout_and_ref_choice(mkimage, tools, setup, tmp_path):
    r = repo(setup) + ":v2"
    lay = tmp_path / "lay"
    testlib.run([mkimage, "--static", tools / "mbtest", "-o", lay, "--format", "oci", "-q",
                 "-t", "app:one", "--", "id"])
    p = push(mkimage, setup, lay, r, "--ref", "one")
    idx = json.loads((lay / "index.json").read_text())
    assert p.stdout.strip().endswith(idx["manifests"][0]["digest"])
    p = push(mkimage, setup, lay, r, "--ref", "nope", check=False)
    assert p.returncode == 1 and "no reference `nope`" in p.stderr and "one" in p.stderr


def test_large_blob_goes_in_chunks(mkimage, tools, setup, tmp_path):
    """Above the chunk size a blob is sent as PATCH chunks read from the
    file; the registry reassembles exactly the layer (skopeo and a pull
    agree)."""
    r = repo(setup) + ":big"
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 << 20))
    tar = build(mkimage, tools, tmp_path / "a.tar", add=big)
    before = len(setup.reg.requests("PATCH", "/blobs/uploads/", 202))
    push(mkimage, setup, tar, r, env={"MINBASE_PUSH_CHUNK": str(1 << 20)})
    patches = len(setup.reg.requests("PATCH", "/blobs/uploads/", 202)) - before
    assert patches >= 3, patches
    out = tmp_path / "pulled"
    setup.skopeo("copy", "docker://" + r, "oci:%s:x" % out)
    _, _, layers = image_digests(tar)
    got = (out / "blobs" / "sha256" / layers[1].split(":")[1]).read_bytes()
    assert got == tar_blobs(tar)[layers[1]]


def test_cross_repository_mount(mkimage, tools, setup, tmp_path):
    tar = build(mkimage, tools, tmp_path / "a.tar")
    r1, r2 = repo(setup, "first") + ":v1", repo(setup, "second") + ":v1"
    push(mkimage, setup, tar, r1)
    p = push(mkimage, setup, tar, r2)
    assert "3 mounted" in p.stderr, p.stderr
    assert len(setup.reg.requests("POST", "mount=", 201)) >= 3
    assert uploads(setup, r2) == []
    if setup.issuer:
        # one token for both repositories: push on the target, pull on the source
        first, second = (x.split("/", 1)[1].rsplit(":", 1)[0] for x in (r1, r2))
        want = {"repository:%s:pull,push" % second, "repository:%s:pull" % first}
        assert any(want <= set(sc) for _, sc in setup.issuer.requests), setup.issuer.requests
    assert json.loads(setup.skopeo("inspect", "docker://" + r2).stdout)["Digest"] == \
        image_digests(tar)[0]


def test_bad_references_and_images(mkimage, tools, setup, tmp_path):
    tar = build(mkimage, tools, tmp_path / "a.tar")
    p = push(mkimage, setup, tar, "Bad Ref", check=False)
    assert p.returncode == 1 and "invalid image reference" in p.stderr
    p = push(mkimage, setup, tmp_path / "missing.tar", repo(setup), check=False)
    assert p.returncode == 1 and "missing.tar" in p.stderr
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"x" * 4096)
    p = push(mkimage, setup, junk, repo(setup), check=False)
    assert p.returncode == 1 and "not an image archive" in p.stderr


def pull(mkimage, setup, ref, out, *extra, check=True):
    p = testlib.mk(mkimage, "pull", ref, "-o", out, *setup.mk_args(), *extra, env=setup.env(),
                   check=False)
    if check:
        assert p.returncode == 0, "pull failed (%d): %s" % (p.returncode, p.stderr)
    return p


def test_pull_gives_the_same_bytes(mkimage, tools, setup, tmp_path):
    r = repo(setup) + ":v1"
    tar = build(mkimage, tools, tmp_path / "a.tar")
    push(mkimage, setup, tar, r)
    md = image_digests(tar)[0]
    # under the name it was built with, the pulled tar is the built tar
    name = tar_json(tar, "manifest.json")[0]["RepoTags"][0]
    p = pull(mkimage, setup, r, tmp_path / "p.tar", "-t", name)
    assert p.stdout.strip().splitlines()[-1] == "%s@%s" % (r, md)
    assert (tmp_path / "p.tar").read_bytes() == tar.read_bytes()
    # under the reference's name: the same blobs, the reference in RepoTags
    pull(mkimage, setup, r, tmp_path / "q.tar")
    assert tar_blobs(tmp_path / "q.tar") == tar_blobs(tar)
    assert tar_json(tmp_path / "q.tar", "manifest.json")[0]["RepoTags"] == [r]
    # an OCI layout, by digest, read by skopeo
    lay = tmp_path / "lay"
    pull(mkimage, setup, r.rsplit(":", 1)[0] + "@" + md, lay, "--format", "oci")
    info = json.loads(testlib.run(["skopeo", "inspect", "oci:%s" % lay]).stdout)
    assert info["Digest"] == md


def test_pull_errors_name_the_registry_and_code(mkimage, setup, tmp_path):
    r = repo(setup) + ":nope"
    p = pull(mkimage, setup, r, tmp_path / "x.tar", check=False)
    assert p.returncode == 1
    assert setup.addr in p.stderr and "404" in p.stderr, p.stderr
    assert "NAME_UNKNOWN" in p.stderr or "MANIFEST_UNKNOWN" in p.stderr, p.stderr
    assert not (tmp_path / "x.tar").exists()
    assert list(tmp_path.iterdir()) == []  # no temporary left behind


def make_base(mkimage, tools, tmp_path, init=False):
    """A base image of our own: a marker file, Env, a label, a WorkingDir;
    without the init unless asked."""
    marker = tmp_path / "marker.txt"
    marker.write_text("from the base\n")
    out = tmp_path / "base.tar"
    testlib.run([mkimage, "--static", tools / "mbtest", "-o", out, "-q", "-t", "base:1",
                 "--add", "%s:/etc/base-marker" % marker, "-e", "BASEVAR=kept", "-w", "/srv",
                 "-l", "base.label=yes"] + ([] if init else ["--no-init"]) + ["--", "env"])
    return out


def tar_member_names(blob):
    import io
    with tarfile.open(fileobj=io.BytesIO(blob)) as t:
        return {m.name.lstrip("./") for m in t.getmembers()}


def check_on_base(on, base_layers, base_blobs, runc, init_in_ours):
    """The base's layers byte for byte under ours, the config merged, and
    the image runs under runc and sees the base's files."""
    md, cd, layers = image_digests(on)
    blobs = tar_blobs(on)
    n = len(base_layers)
    assert layers[:n] == base_layers and len(layers) == n + 1
    for d in base_layers:
        assert blobs[d] == base_blobs[d]
    cfg = json.loads(blobs[cd])
    c = cfg["config"]
    assert "BASEVAR=kept" in c["Env"] and "MINE=2" in c["Env"]
    assert c["Labels"]["base.label"] == "yes" and c["WorkingDir"] == "/srv"
    assert c["User"] == "65532:65532" and c["Entrypoint"][0] == "/usr/bin/minbase-init"
    assert c["Cmd"] == ["cat", "/etc/base-marker"]
    assert len(cfg["rootfs"]["diff_ids"]) == n + 1 and len(cfg["history"]) >= n + 1
    ours = tar_member_names(blobs[layers[-1]])
    assert ("usr/bin/minbase-init" in ours) == init_in_ours, sorted(ours)
    p = runc.run_image(on)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "from the base\n"


def test_base_from_the_registry(mkimage, tools, setup, runc, tmp_path):
    base = make_base(mkimage, tools, tmp_path)
    r = repo(setup, "base") + ":1"
    push(mkimage, setup, base, r)
    on = tmp_path / "on.tar"
    testlib.mk(mkimage, "--static", tools / "mbtest", "-o", on, "--base", r, "-e", "MINE=2",
               *setup.mk_args(), "--", "cat", "/etc/base-marker", env=setup.env())
    _, _, bl = image_digests(base)
    check_on_base(on, bl, tar_blobs(base), runc, init_in_ours=True)
    # and the image built on it pushes like any other: only our layer, config
    # and SBOM document go up; the base's two layers and the empty config of
    # the SBOM artifacts (the base has one too) are mounted from its repository
    r2 = repo(setup, "on") + ":1"
    p = push(mkimage, setup, on, r2)
    assert "3 uploaded" in p.stderr and "3 mounted" in p.stderr, p.stderr


def test_base_from_docker_save(mkimage, tools, dockerd, runc, tmp_path):
    base = make_base(mkimage, tools, tmp_path, init=True)
    dockerd.docker("load", "-i", base)
    saved = tmp_path / "saved.tar"
    dockerd.docker("save", "-o", saved, "base:1")
    dockerd.docker("rmi", "base:1", check=False)
    import hashlib
    man = tar_json(saved, "manifest.json")[0]
    with tarfile.open(saved) as t:
        raw = {p: t.extractfile(p).read() for p in man["Layers"]}
    layers = ["sha256:" + hashlib.sha256(raw[p]).hexdigest() for p in man["Layers"]]
    blobs = {d: raw[p] for d, p in zip(layers, man["Layers"])}
    on = tmp_path / "on.tar"
    testlib.mk(mkimage, "--static", tools / "mbtest", "-o", on, "--base", saved, "-e", "MINE=2",
               "--", "cat", "/etc/base-marker")
    # the base has the init: it is not added again
    check_on_base(on, layers, blobs, runc, init_in_ours=False)
    man_on = tar_json(on, "blobs/sha256/" + image_digests(on)[0].split(":")[1])
    assert man_on["layers"][0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar"


def test_base_layer_we_cannot_read_is_refused(mkimage, tools, tmp_path):
    import hashlib
    base = make_base(mkimage, tools, tmp_path)
    lay = tmp_path / "lay"
    lay.mkdir()
    testlib.run(["tar", "-C", lay, "-xf", base])
    idx = json.loads((lay / "index.json").read_text())
    mp = lay / "blobs" / "sha256" / idx["manifests"][0]["digest"].split(":")[1]
    man = json.loads(mp.read_text())
    man["layers"][0]["mediaType"] = "application/vnd.oci.image.layer.v1.tar+lz4"
    data = json.dumps(man, sort_keys=True, separators=(",", ":")).encode()
    d = hashlib.sha256(data).hexdigest()
    (lay / "blobs" / "sha256" / d).write_bytes(data)
    idx["manifests"][0].update(digest="sha256:" + d, size=len(data))
    (lay / "index.json").write_text(json.dumps(idx))
    out = tmp_path / "on.tar"
    p = testlib.mk(mkimage, "--static", tools / "mbtest", "-o", out, "--base", lay, check=False)
    assert p.returncode == 1
    assert "tar+lz4" in p.stderr and "cannot read" in p.stderr, p.stderr
    assert not out.exists()
    # a layer whose bytes are not a tar in any compression: refused too
    man["layers"][0]["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip"
    junk = b"\x1f\x8b" + os.urandom(200)
    jd = hashlib.sha256(junk).hexdigest()
    (lay / "blobs" / "sha256" / jd).write_bytes(junk)
    man["layers"][0].update(digest="sha256:" + jd, size=len(junk))
    data = json.dumps(man, sort_keys=True, separators=(",", ":")).encode()
    d = hashlib.sha256(data).hexdigest()
    (lay / "blobs" / "sha256" / d).write_bytes(data)
    idx["manifests"][0].update(digest="sha256:" + d, size=len(data))
    (lay / "index.json").write_text(json.dumps(idx))
    p = testlib.mk(mkimage, "--static", tools / "mbtest", "-o", out, "--base", lay, check=False)
    assert p.returncode == 1 and "cannot be read" in p.stderr, p.stderr
    assert not out.exists()


class FlakyProxy:
    """A proxy in front of the registry that breaks what it is told to:
    faults maps (method, path substring) to a list of actions used one per
    matching request: "503" (with Retry-After: 1), "429", "drop" (read the
    request, close without an answer), or None (pass).  Requests seen are
    kept in self.seen."""

    def __init__(self, target_port, faults):
        import http.client
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        self.faults = {k: list(v) for k, v in faults.items()}
        self.seen = []
        proxy = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def handle_one(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                proxy.seen.append((self.command, self.path))
                act = None
                for (m, sub), acts in proxy.faults.items():
                    if m == self.command and sub in self.path and acts:
                        act = acts.pop(0)
                        break
                if act == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if act in ("503", "429"):
                    msg = b'{"errors":[{"code":"UNAVAILABLE","message":"injected"}]}'
                    self.send_response(int(act))
                    self.send_header("Retry-After", "1")
                    self.send_header("Content-Length", str(len(msg)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(msg)
                    return
                c = http.client.HTTPConnection("127.0.0.1", target_port, timeout=60)
                hdrs = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                c.request(self.command, self.path, body=body if n else None, headers=hdrs)
                r = c.getresponse()
                data = r.read()
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                c.close()

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = handle_one

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.addr = "127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def open_registry():
    need_tools("docker-registry")
    r = testlib.Registry()
    yield r
    r.stop()


def test_faults_are_retried_and_the_push_completes(mkimage, tools, open_registry, tmp_path):
    tar = build(mkimage, tools, tmp_path / "a.tar")
    px = FlakyProxy(open_registry.port, {
        ("HEAD", "/blobs/"): ["503"],
        ("PUT", "/blobs/uploads/"): ["drop", "429"],
        ("PUT", "/manifests/"): ["503"],
    })
    try:
        r = px.addr + "/flaky/app:v1"
        e = {"XDG_CACHE_HOME": str(tmp_path / "c")}
        p = testlib.mk(mkimage, "push", tar, r, env=e)
        assert p.stdout.strip().endswith(image_digests(tar)[0])
        assert "retry" in p.stderr
        # the dropped and the refused upload went on in their sessions: the
        # registry was asked where each is (GET) and the PUT sent again
        puts = [s for s in px.seen if s[0] == "PUT" and "/blobs/uploads/" in s[1]]
        status = [s for s in px.seen if s[0] == "GET" and "/blobs/uploads/" in s[1]]
        assert len(puts) >= 5 and len(status) >= 2, px.seen
        got = json.loads(testlib.run(["skopeo", "inspect", "--tls-verify=false",
                                      "docker://%s/flaky/app:v1" % open_registry.addr]).stdout)
        assert got["Digest"] == image_digests(tar)[0]
    finally:
        px.stop()


def test_a_registry_that_keeps_failing_is_given_up_in_time(mkimage, tools, open_registry, tmp_path):
    import time
    tar = build(mkimage, tools, tmp_path / "a.tar")
    px = FlakyProxy(open_registry.port, {("GET", "/v2/"): ["503"] * 1000})
    try:
        t0 = time.time()
        p = testlib.mk(mkimage, "push", tar, px.addr + "/down/app:v1", "--retry-time", "3s",
                       check=False)
        took = time.time() - t0
        assert p.returncode == 1
        assert "HTTP 503" in p.stderr and "UNAVAILABLE" in p.stderr and px.addr in p.stderr, p.stderr
        assert took < 30, took
        assert not [s for s in px.seen if s[0] == "PUT" and "/manifests/" in s[1]]
    finally:
        px.stop()


def test_index_push_and_platform_pull(mkimage, tools, setup, tmp_path):
    """An OCI layout whose index.json names an image index: its manifests go
    first (by digest), the index last under the tag; pull --platform picks
    one of them."""
    import hashlib
    import shutil
    lay = tmp_path / "multi"
    (lay / "blobs" / "sha256").mkdir(parents=True)
    descs = []
    for arch, word in (("amd64", "one"), ("arm64", "two")):
        one = tmp_path / arch
        testlib.run([mkimage, "--static", tools / "mbtest", "-o", one, "--format", "oci", "-q",
                     "--", "echo", word])
        for b in (one / "blobs" / "sha256").iterdir():
            shutil.copy(b, lay / "blobs" / "sha256" / b.name)
        d = json.loads((one / "index.json").read_text())["manifests"][0]
        descs.append({"mediaType": d["mediaType"], "digest": d["digest"], "size": d["size"],
                      "platform": {"os": "linux", "architecture": arch}})
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": descs}, sort_keys=True, separators=(",", ":")).encode()
    idig = "sha256:" + hashlib.sha256(index).hexdigest()
    (lay / "blobs" / "sha256" / idig.split(":")[1]).write_bytes(index)
    (lay / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (lay / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": idig,
         "size": len(index)}]}))
    r = repo(setup) + ":multi"
    p = push(mkimage, setup, lay, r)
    assert p.stdout.strip().endswith(idig)
    raw = json.loads(setup.skopeo("inspect", "--raw", "docker://" + r).stdout)
    assert [m["digest"] for m in raw["manifests"]] == [d["digest"] for d in descs]
    p = pull(mkimage, setup, r, tmp_path / "arm.tar", "--platform", "linux/arm64")
    assert p.stdout.strip().endswith(descs[1]["digest"])
    assert image_digests(tmp_path / "arm.tar")[0] == descs[1]["digest"]
    p = pull(mkimage, setup, r, tmp_path / "x.tar", "--platform", "linux/s390x", check=False)
    assert p.returncode == 1 and "linux/amd64, linux/arm64" in p.stderr, p.stderr


def test_push_without_output_leaves_nothing(mkimage, tools, setup, tmp_path):
    r = repo(setup) + ":v1"
    work = tmp_path / "cwd"
    work.mkdir()
    p = testlib.mk(mkimage, "--static", tools / "mbtest", "--push", r, *setup.mk_args(), "-q",
                   "--", "id", cwd=work, env=setup.env())
    line = p.stdout.strip().splitlines()[-1]
    assert line.startswith(r + "@sha256:")
    assert list(work.iterdir()) == []
    info = json.loads(setup.skopeo("inspect", "docker://" + r).stdout)
    assert info["Digest"] == line.split("@", 1)[1]


@pytest.mark.parametrize("setup", ["basic-tls"], indirect=True)
def test_tls_is_verified_unless_the_host_is_insecure(mkimage, tools, setup, tmp_path):
    """A private CA not given: refused (with the hint), never silently
    downgraded; --insecure-registry HOST accepts it, as docker does."""
    tar = build(mkimage, tools, tmp_path / "a.tar")
    r = repo(setup) + ":v1"
    p = testlib.mk(mkimage, "push", tar, r, env=setup.env(), check=False)
    assert p.returncode == 1
    assert "certificate" in p.stderr and "--registry-ca" in p.stderr, p.stderr
    assert not setup.reg.requests("PUT", "/v2/%s/" % r.rsplit(":", 1)[0].split("/", 1)[1])
    p = testlib.mk(mkimage, "push", tar, r, "--insecure-registry", setup.addr, env=setup.env())
    assert p.stdout.strip().endswith(image_digests(tar)[0])


@pytest.mark.parametrize("setup", ["token"], indirect=True)
def test_identity_token(mkimage, tools, setup, tmp_path):
    """config.json's identitytoken (docker login with an OAuth2 refresh
    token) is sent as the refresh_token of a token POST, never as Basic."""
    tar = build(mkimage, tools, tmp_path / "a.tar")
    r = repo(setup) + ":v1"
    cfg = setup.write_config(tmp_path / "idt", None, None,
                             extra={"auths": {setup.addr: {"identitytoken": REFRESH}}})
    n = len(setup.issuer.requests)
    p = push(mkimage, setup, tar, r, env={"DOCKER_CONFIG": str(cfg)})
    assert REFRESH not in p.stderr + p.stdout
    assert any(u == USER for u, _ in setup.issuer.requests[n:]), setup.issuer.requests[n:]
    assert json.loads(setup.skopeo("inspect", "docker://" + r).stdout)["Digest"] == \
        image_digests(tar)[0]


def test_referrer_goes_with_its_image(mkimage, tools, setup, tmp_path):
    """A layout holding an image and an artifact whose subject is that image
    (an SPDX SBOM, as OCI 1.1 attaches it): push picks the image, pushes the
    artifact with it and the fallback tag sha256-<hex> (distribution 2.8 has
    no referrers API) lists it; the image's tag comes last."""
    import hashlib
    lay = tmp_path / "lay"
    # (--sbom none: the artifact added below is the image's only referrer)
    testlib.run([mkimage, "--static", tools / "mbtest", "-o", lay, "--format", "oci", "-q",
                 "--sbom", "none", "--", "id"])
    idx = json.loads((lay / "index.json").read_text())
    img = idx["manifests"][0]
    blobs = lay / "blobs" / "sha256"

    def put(data):
        d = hashlib.sha256(data).hexdigest()
        (blobs / d).write_bytes(data)
        return "sha256:" + d, len(data)

    sbom = json.dumps({"spdxVersion": "SPDX-2.3", "name": "test"}).encode()
    sd, ss = put(sbom)
    ed, es = put(b"{}")
    art = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
           "artifactType": "application/spdx+json",
           "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": ed, "size": es},
           "layers": [{"mediaType": "application/spdx+json", "digest": sd, "size": ss}],
           "subject": {"mediaType": img["mediaType"], "digest": img["digest"], "size": img["size"]}}
    ad, asz = put(json.dumps(art, sort_keys=True, separators=(",", ":")).encode())
    idx["manifests"].append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                             "digest": ad, "size": asz, "artifactType": "application/spdx+json"})
    (lay / "index.json").write_text(json.dumps(idx))
    r = repo(setup) + ":v1"
    p = push(mkimage, setup, lay, r)
    assert p.stdout.strip().endswith(img["digest"])
    name = r.rsplit(":", 1)[0]
    fb = json.loads(setup.skopeo("inspect", "--raw", "docker://%s:sha256-%s"
                                 % (name, img["digest"].split(":")[1])).stdout)
    assert [(m["digest"], m.get("artifactType")) for m in fb["manifests"]] == \
        [(ad, "application/spdx+json")]
    got = json.loads(setup.skopeo("inspect", "--raw", "docker://%s@%s" % (name, ad)).stdout)
    assert got["subject"]["digest"] == img["digest"]
    # the tag was the last manifest put
    puts = setup.reg.requests("PUT", "/v2/%s/manifests/" % name.split("/", 1)[1])
    assert puts[-1][1].endswith("/manifests/v1"), puts
