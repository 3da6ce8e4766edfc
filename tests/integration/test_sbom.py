"""The SBOM of every image mkimage writes (issue 14): an SPDX 2.3 document,
checked against the official schema (tests/schemas, python3-jsonschema), that
lists the init and the static libraries the sysroot built (versions from
builder/sysroot.mk and dpkg), the CA bundle, tzdata when asked, the service
with the SHA256 of the file in the image, and for Go the toolchain and every
module of `go version -m`.  It is attached as an OCI 1.1 artifact (subject =
the image manifest) found from index.json by an annotation only, so skopeo
still reads the layout and the archive without a reference; a push puts it
under the `sha256-<hex>` referrers tag of distribution 2.8."""
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import urllib.request
from pathlib import Path

import pytest

from conftest import need, need_tools
import testlib

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "tests" / "schemas" / "spdx-2.3.schema.json"
EPOCH = "1700000000"
ANN = "dev.minbase.sbom"


def validate(doc):
    try:
        import jsonschema
    except ImportError:
        need(False, "python3-jsonschema is needed (make deps)")
    jsonschema.validate(doc, json.loads(SCHEMA.read_text()))


def tar_files(path):
    """{name: bytes} of the regular files of an image archive."""
    with tarfile.open(path) as t:
        return {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}


def blob(files, digest):
    return files["blobs/sha256/" + digest.split(":", 1)[1]]


def image_parts(path):
    """(index.json, manifest, artifact manifest or None, SBOM or None, files)."""
    files = tar_files(path)
    idx = json.loads(files["index.json"])
    desc = idx["manifests"][0]
    man = json.loads(blob(files, desc["digest"]))
    art = sbom = None
    if ANN in desc.get("annotations", {}):
        art = json.loads(blob(files, desc["annotations"][ANN]))
        sbom = blob(files, art["layers"][0]["digest"])
    return idx, desc, man, art, sbom, files


def files_in_layers(files, man):
    """{path in the image: bytes} of the regular files of every layer."""
    out = {}
    for l in man["layers"]:
        with tarfile.open(fileobj=io.BytesIO(blob(files, l["digest"]))) as t:
            for m in t.getmembers():
                if m.isfile():
                    out["/" + m.name.lstrip("./")] = t.extractfile(m).read()
    return out


def sysroot_version(name):
    text = (ROOT / "builder" / "sysroot.mk").read_text()
    return re.search(r"^%s_VERSION\s*:=\s*(\S+)" % name, text, re.M).group(1)


def dpkg_version(pkg):
    return subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True,
                          text=True, check=True).stdout.strip()


def pkg(doc, name):
    found = [p for p in doc["packages"] if p["name"] == name]
    assert found, "no package %s in %s" % (name, [p["name"] for p in doc["packages"]])
    return found[0]


def purl(p):
    return [r["referenceLocator"] for r in p.get("externalRefs", [])
            if r["referenceType"] == "purl"]


def go_module_app(tmp):
    """A Go service with one vendored module (no proxy here): what
    `go version -m` lists beside the main module."""
    app = tmp / "sbomdemo"
    dep = app / "vendor" / "example.com" / "greet"
    dep.mkdir(parents=True)
    (app / "go.mod").write_text("module example.com/sbomdemo\n\ngo 1.19\n\n"
                                "require example.com/greet v1.4.2\n")
    (app / "vendor" / "modules.txt").write_text("# example.com/greet v1.4.2\n## explicit\n"
                                                "example.com/greet\n")
    (dep / "greet.go").write_text('package greet\n\nfunc Hello() string { return "hello" }\n')
    (app / "main.go").write_text('package main\n\nimport (\n\t"fmt"\n\t"example.com/greet"\n)\n\n'
                                 'func main() { fmt.Println(greet.Hello()) }\n')
    return app


@pytest.fixture(scope="module")
def go_image(mkimage, tmp_path_factory):
    """The Go service built twice (the second from the build cache) with the
    same SOURCE_DATE_EPOCH; --sbom FILE beside each."""
    need_tools("go")
    tmp = tmp_path_factory.mktemp("sbom-go")
    app = go_module_app(tmp)
    env = {"SOURCE_DATE_EPOCH": EPOCH, "XDG_CACHE_HOME": str(tmp / "cache")}
    outs = []
    for i in (1, 2):
        out, sb = tmp / ("img%d.tar" % i), tmp / ("sbom%d.json" % i)
        testlib.mk(mkimage, "--static", app, "-o", out, "--tag", "sbomdemo:1.0", "--sbom", sb,
                   "-q", env=env)
        outs.append((out, sb))
    return app, tmp, outs


def test_go_sbom_is_valid_and_lists_the_image(go_image):
    app, tmp, outs = go_image
    out, sbfile = outs[0]
    idx, desc, man, art, sbom, files = image_parts(out)
    doc = json.loads(sbom)
    validate(doc)
    assert sbfile.read_bytes() == sbom, "--sbom FILE is not the document in the image"
    assert doc["spdxVersion"] == "SPDX-2.3"
    assert doc["creationInfo"]["created"] == "2023-11-14T22:13:20Z"  # SOURCE_DATE_EPOCH
    assert desc["digest"].split(":")[1] in doc["documentNamespace"]
    # the init and the static libraries of the sysroot, with their versions
    init = pkg(doc, "minbase-init")
    assert pkg(doc, "libcap")["versionInfo"] == sysroot_version("LIBCAP")
    assert pkg(doc, "libseccomp")["versionInfo"] == sysroot_version("LIBSECCOMP")
    assert pkg(doc, "musl")["versionInfo"] == dpkg_version("musl-dev:amd64")
    assert pkg(doc, "musl")["licenseDeclared"] == "MIT"
    assert pkg(doc, "ca-certificates")["versionInfo"] == dpkg_version("ca-certificates")
    names = [p["name"] for p in doc["packages"]]
    assert "tzdata" not in names and "busybox-static" not in names
    # the service and the init with the checksums of the files in the image
    inside = files_in_layers(files, man)
    svc = pkg(doc, "sbomdemo")
    for p, path in ((svc, "/app/sbomdemo"), (init, "/usr/bin/minbase-init")):
        assert p["checksums"] == [{"algorithm": "SHA256",
                                   "checksumValue": hashlib.sha256(inside[path]).hexdigest()}]
    # Go: the toolchain and every module, as `go version -m` reads them
    binary = tmp / "sbomdemo.bin"
    binary.write_bytes(inside["/app/sbomdemo"])
    binary.chmod(0o755)
    gv = testlib.run(["go", "version", "-m", binary]).stdout
    lines = [l.split("\t") for l in gv.splitlines()]
    gover = gv.split(":", 1)[1].split()[0]
    std = pkg(doc, "stdlib")
    assert purl(std) == ["pkg:golang/stdlib@%s" % gover[2:]]
    deps = [(f[2], f[3]) for f in lines if len(f) > 3 and f[1] == "dep"]
    assert deps == [("example.com/greet", "v1.4.2")], gv
    for path, ver in deps:
        assert purl(pkg(doc, path)) == ["pkg:golang/%s@%s" % (path, ver)]
        assert pkg(doc, path)["versionInfo"] == ver
    mod = [f for f in lines if len(f) > 2 and f[1] == "mod"][0]
    assert purl(svc) == ["pkg:golang/%s@%s" % (mod[2], mod[3])]
    # relationships: the document describes the image, which contains all
    ids = {p["SPDXID"]: p["name"] for p in doc["packages"]}
    rels = [(r["spdxElementId"], r["relationshipType"], r["relatedSpdxElement"])
            for r in doc["relationships"]]
    assert ("SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-Image") in rels
    contained = {b for a, t, b in rels if t == "CONTAINS"}
    assert contained == set(ids) - {"SPDXRef-Image"}
    by_name = {v: k for k, v in ids.items()}
    assert (by_name["sbomdemo"], "CONTAINS", by_name["stdlib"]) in rels
    assert (by_name["minbase-init"], "CONTAINS", by_name["libcap"]) in rels


def test_artifact_is_oci_1_1_and_only_reached_by_annotation(go_image, tmp_path):
    _, _, outs = go_image
    out = outs[0][0]
    idx, desc, man, art, sbom, files = image_parts(out)
    assert len(idx["manifests"]) == 1, "the SBOM must not be a second image in index.json"
    assert art["artifactType"] == "application/spdx+json"
    assert art["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert art["config"] == {"mediaType": "application/vnd.oci.empty.v1+json",
                             "digest": "sha256:" + hashlib.sha256(b"{}").hexdigest(), "size": 2}
    assert blob(files, art["config"]["digest"]) == b"{}"
    assert art["subject"] == {"mediaType": desc["mediaType"], "digest": desc["digest"],
                              "size": desc["size"]}
    layer = art["layers"][0]
    assert layer["mediaType"] == "application/spdx+json"
    assert layer["digest"] == "sha256:" + hashlib.sha256(sbom).hexdigest()
    assert layer["size"] == len(sbom)
    # skopeo (the README's commands) reads the archive and the layout without a ref
    need_tools("skopeo")
    testlib.run(["skopeo", "inspect", "oci-archive:%s" % out])
    lay = tmp_path / "lay"
    testlib.run(["skopeo", "copy", "-q", "oci-archive:%s" % out, "oci:%s" % lay])
    testlib.run(["skopeo", "inspect", "oci:%s" % lay])


def test_two_builds_give_the_same_bytes(go_image):
    _, _, outs = go_image
    (a, sa), (b, sb) = outs
    assert a.read_bytes() == b.read_bytes()
    assert sa.read_bytes() == sb.read_bytes()


def test_inspect_lists_the_sbom(mkimage, go_image):
    out = go_image[2][0][0]
    _, desc, _, _, _, _ = image_parts(out)
    p = testlib.mk(mkimage, "inspect", out)
    assert "sbom         %s" % desc["annotations"][ANN] in p.stdout


def test_c_service_layout_with_tzdata_names_musl(mkimage, tmp_path):
    lay = tmp_path / "c.oci"
    sb = tmp_path / "c.json"
    testlib.mk(mkimage, "--static", ROOT / "tests/examples/c-http", "-o", lay, "--format", "oci",
               "--tzdata", "--sbom", sb, "-q", env={"SOURCE_DATE_EPOCH": EPOCH})
    doc = json.loads(sb.read_text())
    validate(doc)
    assert pkg(doc, "tzdata")["versionInfo"] == dpkg_version("tzdata")
    ids = {p["SPDXID"]: p for p in doc["packages"]}
    svc = pkg(doc, "c-http")
    musl_in_svc = [ids[r["relatedSpdxElement"]] for r in doc["relationships"]
                   if r["spdxElementId"] == svc["SPDXID"] and r["relationshipType"] == "CONTAINS"]
    assert [p["name"] for p in musl_in_svc] == ["musl"]
    assert musl_in_svc[0]["versionInfo"] == dpkg_version("musl-dev:amd64")
    assert "stdlib" not in [p["name"] for p in doc["packages"]]
    idx = json.loads((lay / "index.json").read_text())
    art = json.loads((lay / "blobs/sha256" / idx["manifests"][0]["annotations"][ANN][7:]).read_text())
    assert (lay / "blobs/sha256" / art["layers"][0]["digest"][7:]).read_bytes() == sb.read_bytes()
    need_tools("skopeo", "umoci")
    testlib.run(["skopeo", "inspect", "oci:%s" % lay])
    # umoci unpacks it; the service there is the one the SBOM names
    bundle = tmp_path / "bundle"
    testlib.run(["umoci", "unpack", "--rootless", "--image", "%s:latest" % lay, bundle])
    data = (bundle / "rootfs/app/c-http").read_bytes()
    assert svc["checksums"][0]["checksumValue"] == hashlib.sha256(data).hexdigest()


def test_sbom_none_leaves_it_out(mkimage, tmp_path):
    out = tmp_path / "n.tar"
    testlib.mk(mkimage, "--static", ROOT / "tests/examples/c-http", "-o", out, "--sbom", "none",
               "-q")
    idx, desc, man, art, sbom, files = image_parts(out)
    assert ANN not in desc.get("annotations", {})
    blobs = {k for k in files if k.startswith("blobs/")}
    assert len(blobs) == 2 + len(man["layers"])
    assert "sbom         none" in testlib.mk(mkimage, "inspect", out).stdout


def test_bad_sbom_options(mkimage, tmp_path):
    p = testlib.mk(mkimage, "--static", ROOT / "tests/examples/c-http", "-o", tmp_path / "x.tar",
                   "--sbom", "", check=False)
    assert p.returncode == 2 and "invalid --sbom" in p.stderr
    p = testlib.mk(mkimage, "--static", ROOT / "tests/examples/c-http", "-o", tmp_path / "x.tar",
                   "--sbom", tmp_path / "no-such-dir" / "s.json", "-q", check=False)
    assert p.returncode == 1 and "cannot write the SBOM" in p.stderr
    assert not (tmp_path / "no-such-dir").exists()


def test_push_puts_the_sbom_under_the_referrers_tag(mkimage, registry, go_image):
    out = go_image[2][0][0]
    _, desc, _, art, sbom, _ = image_parts(out)
    ref = "%s/sbom/demo:1.0" % registry.addr
    for _ in range(2):  # a second push lists it once still
        testlib.mk(mkimage, "push", out, ref, "-q")
    # skopeo still inspects the image itself
    need_tools("skopeo")
    p = testlib.run(["skopeo", "inspect", "--tls-verify=false", "docker://%s" % ref])
    assert json.loads(p.stdout)["Digest"] == desc["digest"]
    # the referrers tag: an image index listing the artifact
    base = "http://%s/v2/sbom/demo" % registry.addr

    def get(path, accept):
        req = urllib.request.Request(base + path, headers={"Accept": accept})
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.read()

    tag = "sha256-" + desc["digest"].split(":")[1]
    ri = json.loads(get("/manifests/" + tag, "application/vnd.oci.image.index.v1+json"))
    assert ri["mediaType"] == "application/vnd.oci.image.index.v1+json"
    found = [m for m in ri["manifests"] if m.get("artifactType") == "application/spdx+json"]
    assert len(found) == 1, ri
    am = get("/manifests/" + found[0]["digest"], "application/vnd.oci.image.manifest.v1+json")
    assert json.loads(am)["subject"]["digest"] == desc["digest"]
    assert get("/blobs/" + json.loads(am)["layers"][0]["digest"], "*/*") == sbom


def test_each_platform_of_a_multi_arch_image_has_its_sbom(mkimage, registry, tmp_path):
    need((ROOT / "build/bin/aarch64/minbase-init").exists(), "the arm64 init is not built")
    out = tmp_path / "m.tar"
    testlib.mk(mkimage, "--static", ROOT / "tests/examples/c-http", "--arch", "amd64,arm64",
               "-o", out, "-q")
    files = tar_files(out)
    idx = json.loads(files["index.json"])
    assert len(idx["manifests"]) == 1
    ii = json.loads(blob(files, idx["manifests"][0]["digest"]))
    inits = {}
    for d in ii["manifests"]:
        art = json.loads(blob(files, d["annotations"][ANN]))
        assert art["subject"]["digest"] == d["digest"]
        doc = json.loads(blob(files, art["layers"][0]["digest"]))
        validate(doc)
        # the init's musl, and the one the C service was linked with
        assert [p["name"] for p in doc["packages"]].count("musl") == 2
        man = json.loads(blob(files, d["digest"]))
        inside = files_in_layers(files, man)
        inits[d["platform"]["architecture"]] = pkg(doc, "minbase-init")["checksums"][0]
        assert pkg(doc, "minbase-init")["checksums"][0]["checksumValue"] == \
            hashlib.sha256(inside["/usr/bin/minbase-init"]).hexdigest()
    assert set(inits) == {"amd64", "arm64"} and inits["amd64"] != inits["arm64"]
    need_tools("skopeo")
    testlib.run(["skopeo", "inspect", "--raw", "oci-archive:%s" % out])
    # pushed: each platform's SBOM under the referrers tag of its manifest
    ref = "%s/sbom/multi:1" % registry.addr
    testlib.mk(mkimage, "push", out, ref, "-q")
    for d in ii["manifests"]:
        url = "http://%s/v2/sbom/multi/manifests/sha256-%s" % (registry.addr, d["digest"][7:])
        req = urllib.request.Request(url, headers={
            "Accept": "application/vnd.oci.image.index.v1+json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            ri = json.loads(r.read())
        assert [m["digest"] for m in ri["manifests"]] == [d["annotations"][ANN]]


# ---- images on a --base ------------------------------------------------------

def sha1(data):
    return hashlib.sha1(data).hexdigest()


def children(doc, spdxid):
    """Names of the packages spdxid CONTAINS."""
    ids = {p["SPDXID"]: p["name"] for p in doc["packages"]}
    return sorted(ids[r["relatedSpdxElement"]] for r in doc["relationships"]
                  if r["spdxElementId"] == spdxid and r["relationshipType"] == "CONTAINS")


@pytest.fixture(scope="module")
def on_base(mkimage, registry, tmp_path_factory):
    """The minbase base written as an archive (with its SBOM) and pushed;
    the C service built on each twice, --sbom FILE beside each."""
    tmp = tmp_path_factory.mktemp("sbom-base")
    env = {"SOURCE_DATE_EPOCH": EPOCH, "XDG_CACHE_HOME": str(tmp / "cache")}
    base = tmp / "base.tar"
    ref = "%s/sbom/base:1" % registry.addr
    testlib.mk(mkimage, "base", "-o", base, "--tag", "minbase/static:1", "-q", env=env)
    testlib.mk(mkimage, "push", base, ref, "-q", env=env)
    out = {}
    for kind, spec in (("file", base), ("registry", ref)):
        for i in (1, 2):
            img, sb = tmp / ("%s%d.tar" % (kind, i)), tmp / ("%s%d.json" % (kind, i))
            testlib.mk(mkimage, "--static", ROOT / "tests/examples/c-http", "--base", spec,
                       "-o", img, "--sbom", sb, "-q", env=env)
            out.setdefault(kind, []).append((img, sb))
    return tmp, base, ref, out


def check_base_sbom(img, sbfile, base_digest, purl_name):
    idx, desc, man, art, sbom, files = image_parts(img)
    assert len(idx["manifests"]) == 1 and art is not None, idx
    assert art["subject"]["digest"] == desc["digest"] and art["artifactType"] == "application/spdx+json"
    assert sbfile.read_bytes() == sbom, "--sbom FILE is not the document in the image"
    doc = json.loads(sbom)
    validate(doc)
    assert desc["digest"][7:] in doc["documentNamespace"]
    # the service, with the checksum of the file in our layer, and its musl
    inside = files_in_layers(files, man)
    svc = pkg(doc, "c-http")
    assert svc["checksums"] == [{"algorithm": "SHA256", "checksumValue":
                                 hashlib.sha256(inside["/app/c-http"]).hexdigest()}]
    assert children(doc, svc["SPDXID"]) == ["musl"]
    # the base as a package: its manifest digest, a pkg:oci purl, a container
    bp = [p for p in doc["packages"] if p.get("primaryPackagePurpose") == "CONTAINER"]
    assert len(bp) == 1, doc["packages"]
    bp = bp[0]
    assert bp["versionInfo"] == base_digest
    assert purl(bp)[0].startswith("pkg:oci/%s@sha256%%3A%s?arch=amd64" % (purl_name, base_digest[7:]))
    rels = [(r["spdxElementId"], r["relationshipType"], r["relatedSpdxElement"])
            for r in doc["relationships"]]
    assert ("SPDXRef-Image", "CONTAINS", bp["SPDXID"]) in rels
    # the init is the base's, not ours: our layer holds only the service
    assert "/usr/bin/minbase-init" not in files_in_layers(files, {"layers": man["layers"][-1:]})
    return doc, bp, rels, files, man


def test_image_on_a_file_base_copies_and_references_the_bases_sbom(on_base):
    tmp, base, ref, out = on_base
    img, sbfile = out["file"][0]
    _, bdesc, _, _, bsbom, _ = image_parts(base)
    doc, bp, rels, files, man = check_base_sbom(img, sbfile, bdesc["digest"], "static")
    assert bp["name"] == "minbase/static:1"
    assert purl(bp) == ["pkg:oci/static@sha256%%3A%s?arch=amd64&tag=1" % bdesc["digest"][7:]]
    # the base's own SBOM: referenced by namespace and SHA1, and copied
    bdoc = json.loads(bsbom)
    assert doc["externalDocumentRefs"] == [{
        "externalDocumentId": "DocumentRef-base", "spdxDocument": bdoc["documentNamespace"],
        "checksum": {"algorithm": "SHA1", "checksumValue": sha1(bsbom)}}]
    assert (bp["SPDXID"], "DESCRIBED_BY", "DocumentRef-base:SPDXRef-DOCUMENT") in rels
    assert children(doc, bp["SPDXID"]) == ["ca-certificates", "minbase-init"]
    init = [p for p in doc["packages"] if p["name"] == "minbase-init"]
    assert len(init) == 1
    assert children(doc, init[0]["SPDXID"]) == ["libcap", "libseccomp", "musl"]
    # the copied checksum is that of the init in the base's layer, in this image
    inside = files_in_layers(files, man)
    assert init[0]["checksums"][0]["checksumValue"] == \
        hashlib.sha256(inside["/usr/bin/minbase-init"]).hexdigest()
    # every package of the base's document is there, with its version and purl
    for p in bdoc["packages"][1:]:
        q = [x for x in doc["packages"] if x["name"] == p["name"] and
             x.get("externalRefs") == p.get("externalRefs")]
        assert q and q[0]["versionInfo"] == p["versionInfo"], p["name"]


def test_image_on_a_registry_base_names_it(on_base):
    tmp, base, ref, out = on_base
    img, sbfile = out["registry"][0]
    need_tools("skopeo")
    digest = json.loads(testlib.run(["skopeo", "inspect", "--tls-verify=false",
                                     "docker://%s" % ref]).stdout)["Digest"]
    doc, bp, rels, _, _ = check_base_sbom(img, sbfile, digest, "base")
    assert bp["name"] == ref
    assert purl(bp) == ["pkg:oci/base@sha256%%3A%s?arch=amd64&repository_url=%s/sbom/base&tag=1"
                        % (digest[7:], ref.split("/")[0])]
    # the pull of the base fetched its SBOM (the referrers tag): copied and referenced
    bsbom = image_parts(base)[4]
    assert doc["externalDocumentRefs"][0]["spdxDocument"] == json.loads(bsbom)["documentNamespace"]
    assert doc["externalDocumentRefs"][0]["checksum"]["checksumValue"] == sha1(bsbom)
    assert children(doc, bp["SPDXID"]) == ["ca-certificates", "minbase-init"]


def test_images_on_a_base_are_reproducible(on_base):
    for kind in ("file", "registry"):
        (a, sa), (b, sb) = on_base[3][kind]
        assert a.read_bytes() == b.read_bytes(), kind
        assert sa.read_bytes() == sb.read_bytes(), kind


def test_image_on_a_base_pushes_its_sbom_under_the_referrers_tag(mkimage, registry, on_base):
    img = on_base[3]["registry"][0][0]
    _, desc, _, art, sbom, _ = image_parts(img)
    ref = "%s/sbom/onbase:1" % registry.addr
    testlib.mk(mkimage, "push", img, ref, "-q")
    url = "http://%s/v2/sbom/onbase/manifests/sha256-%s" % (registry.addr, desc["digest"][7:])
    req = urllib.request.Request(url, headers={"Accept": "application/vnd.oci.image.index.v1+json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        ri = json.loads(r.read())
    assert [(m["digest"], m.get("artifactType")) for m in ri["manifests"]] == \
        [(desc["annotations"][ANN], "application/spdx+json")]
    url = "http://%s/v2/sbom/onbase/blobs/%s" % (registry.addr, art["layers"][0]["digest"])
    with urllib.request.urlopen(url, timeout=30) as r:
        assert r.read() == sbom


def test_sbom_none_on_a_base(mkimage, on_base, tmp_path):
    base = on_base[1]
    out = tmp_path / "n.tar"
    testlib.mk(mkimage, "--static", ROOT / "tests/examples/c-http", "--base", base, "-o", out,
               "--sbom", "none", "-q")
    idx, desc, man, art, sbom, files = image_parts(out)
    assert ANN not in desc.get("annotations", {})
    assert len({k for k in files if k.startswith("blobs/")}) == 2 + len(man["layers"])


def test_a_base_without_an_sbom_is_named_still(mkimage, tools, tmp_path):
    """A base of another tool (here ours with --sbom none, as skopeo copies
    it): the base package only, saying it carries none."""
    base = tmp_path / "plain.tar"
    testlib.mk(mkimage, "--static", tools / "mbtest", "-o", base, "--sbom", "none", "-q", "--no-init",
               "-t", "plain:2")
    out, sb = tmp_path / "on.tar", tmp_path / "on.json"
    testlib.mk(mkimage, "--static", ROOT / "tests/examples/c-http", "--base", base, "-o", out,
               "--sbom", sb, "-q")
    doc = json.loads(sb.read_text())
    validate(doc)
    assert "externalDocumentRefs" not in doc
    bp = pkg(doc, "plain:2")
    assert bp["primaryPackagePurpose"] == "CONTAINER" and children(doc, bp["SPDXID"]) == []
    assert "carries no SBOM" in bp["comment"]
    # the base had no init: ours is in our layer, and listed with its libraries
    init = pkg(doc, "minbase-init")
    assert children(doc, init["SPDXID"]) == ["libcap", "libseccomp", "musl"]
    assert ("SPDXRef-Image", "CONTAINS", init["SPDXID"]) in [
        (r["spdxElementId"], r["relationshipType"], r["relatedSpdxElement"])
        for r in doc["relationships"]]
    assert "ca-certificates" not in [p["name"] for p in doc["packages"]]


def test_a_broken_base_sbom_fails_the_build(mkimage, tmp_path):
    """An announced SBOM that is not there fails (exit 1), naming the base
    and --sbom none; nothing is written."""
    lay = tmp_path / "b.oci"
    testlib.mk(mkimage, "base", "-o", lay, "--format", "oci", "-q")
    idx = json.loads((lay / "index.json").read_text())
    art = idx["manifests"][0]["annotations"][ANN]
    (lay / "blobs/sha256" / art[7:]).unlink()
    out = tmp_path / "on.tar"
    p = testlib.mk(mkimage, "--static", ROOT / "tests/examples/c-http", "--base", lay, "-o", out,
                   "-q", check=False)
    assert p.returncode == 1 and ANN in p.stderr and str(lay) in p.stderr, p.stderr
    assert not out.exists()
    testlib.mk(mkimage, "--static", ROOT / "tests/examples/c-http", "--base", lay, "-o", out,
               "-q", "--sbom", "none")


# ---- mkimage pull brings the SBOM --------------------------------------------

def test_pull_fetches_the_sbom_by_the_referrers_tag(mkimage, registry, go_image, tmp_path):
    """A pulled image carries its SBOM as the pushed one did: the artifact
    found by the referrers tag, its blobs checked, the annotation on the
    descriptor; pulled under its own name it is the same bytes."""
    out = go_image[2][0][0]
    _, desc, _, art, sbom, _ = image_parts(out)
    ref = "%s/sbom/pulled:1.0" % registry.addr
    testlib.mk(mkimage, "push", out, ref, "-q")
    back = tmp_path / "back.tar"
    testlib.mk(mkimage, "pull", ref, "-o", back, "-t", "sbomdemo:1.0", "-q")
    assert back.read_bytes() == out.read_bytes()
    lay = tmp_path / "back.oci"
    testlib.mk(mkimage, "pull", ref, "-o", lay, "--format", "oci", "-q")
    d = json.loads((lay / "index.json").read_text())["manifests"][0]
    assert d["annotations"][ANN] == desc["annotations"][ANN]
    assert (lay / "blobs/sha256" / art["layers"][0]["digest"][7:]).read_bytes() == sbom
    assert "sbom         %s" % desc["annotations"][ANN] in testlib.mk(mkimage, "inspect", lay).stdout
    need_tools("skopeo")
    testlib.run(["skopeo", "inspect", "oci:%s" % lay])
    # what the registry was asked: the referrers API (404 on 2.8), then the tag
    tag = "sha256-" + desc["digest"][7:]
    assert registry.requests("GET", "/v2/sbom/pulled/referrers/" + desc["digest"], 404)
    assert registry.requests("GET", "/v2/sbom/pulled/manifests/" + tag, 200)


def test_pull_of_an_image_without_sbom_has_none(mkimage, registry, tmp_path):
    img = tmp_path / "n.tar"
    testlib.mk(mkimage, "--static", ROOT / "tests/examples/c-http", "-o", img, "--sbom", "none",
               "-q", "-t", "plain:1")
    ref = "%s/sbom/plain:1" % registry.addr
    testlib.mk(mkimage, "push", img, ref, "-q")
    back = tmp_path / "back.tar"
    testlib.mk(mkimage, "pull", ref, "-o", back, "-t", "plain:1", "-q")
    assert back.read_bytes() == img.read_bytes()
    assert "sbom         none" in testlib.mk(mkimage, "inspect", back).stdout


def test_pull_refuses_a_referrer_that_is_not_the_images_sbom(mkimage, registry, tmp_path):
    """The referrers tag of image A listing B's SBOM (a registry or a tool
    gone wrong): the pull fails naming it, and writes nothing."""
    a, b = tmp_path / "a.tar", tmp_path / "b.tar"
    testlib.mk(mkimage, "--static", ROOT / "tests/examples/c-http", "-o", a, "--sbom", "none", "-q")
    testlib.mk(mkimage, "--static", ROOT / "tests/examples/c-http", "-o", b, "-q",
               "-e", "OTHER=1")
    ra, rb = "%s/sbom/wrong:a" % registry.addr, "%s/sbom/wrong:b" % registry.addr
    testlib.mk(mkimage, "push", a, ra, "-q")
    testlib.mk(mkimage, "push", b, rb, "-q")
    da = image_parts(a)[1]["digest"]
    db = image_parts(b)[1]["digest"]
    base = "http://%s/v2/sbom/wrong/manifests/" % registry.addr
    accept = {"Accept": "application/vnd.oci.image.index.v1+json"}
    with urllib.request.urlopen(urllib.request.Request(base + "sha256-" + db[7:], headers=accept),
                                timeout=30) as r:
        listing = r.read()
    req = urllib.request.Request(base + "sha256-" + da[7:], data=listing, method="PUT", headers={
        "Content-Type": "application/vnd.oci.image.index.v1+json"})
    urllib.request.urlopen(req, timeout=30).close()
    out = tmp_path / "out.tar"
    p = testlib.mk(mkimage, "pull", ra, "-o", out, "-q", check=False)
    assert p.returncode == 1 and "is not one of its manifest" in p.stderr, p.stderr
    assert not out.exists()
