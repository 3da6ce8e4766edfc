"""One grammar for the init's values (issue 9 item 3) and build-time checks
of `--env` for the init (issue 8 item 11).  mkimage links the init's own
parsers (init/grammar.c): every duration that mkimage accepts for a health
option the real minbase-init accepts in its variable, and the other way
round; an `--env MINBASE_*`/`TINI_*` the init would refuse, or one that
contradicts an option (it is applied after what mkimage writes and would
silently win), is refused with exit 2, a message and nothing written."""
import json
import os
import subprocess
import tarfile

import pytest

from testlib import mk

# Valid and invalid by any reasonable grammar, and the edge cases where
# the two parsers used to disagree (fractions, bare 0, a unit missing).
DURATIONS = ["30s", "30", "500ms", "1m30s", "2h", "1.5s", "0.25", ".5s", "1.", "0", "0s",
             "0ms", "1m30", "-5s", "5x", "", "s", "1h1m1s1ms", "99999999999h", "1e3s",
             " 5s", "5s ", "1.5.5s", "10000000000s"]


@pytest.fixture
def mbtest(tools, tmp_path):
    return tools / "mbtest"


@pytest.fixture
def refused(mkimage, mbtest, tmp_path):
    """mkimage --static mbtest ARGS into an empty directory with a private
    TMPDIR: exit 2, the words in the `mkimage: ` message, nothing left."""
    out = tmp_path / "out"
    tmp = tmp_path / "tmpdir"
    out.mkdir()
    tmp.mkdir()

    def check(*args, words=()):
        p = mk(mkimage, "--static", mbtest, "-o", out / "x.tar", *args, check=False,
               env={"TMPDIR": str(tmp)})
        assert p.returncode == 2, "exit %d, wanted 2: %s" % (p.returncode, p.stderr)
        msg = "\n".join(l for l in p.stderr.splitlines() if l.startswith("mkimage: "))
        assert msg, "no `mkimage: ` message: %r" % p.stderr
        for w in words:
            assert w in msg, "%r not in %r" % (w, msg)
        assert list(out.iterdir()) == [], "output left behind"
        assert list(tmp.iterdir()) == [], "temporary files left behind"
        return msg
    return check


def init_verdict(init_bin, env):
    """Start the real init with ENV and /bin/true as the service: True when
    it starts it (exit 0), False when it refuses its configuration."""
    e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TINI_SUBREAPER": "1"}
    e.update(env)
    p = subprocess.run([str(init_bin), "--", "/bin/true"], env=e, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode in (0, 1), (env, p.returncode, p.stderr)
    if p.returncode:
        assert "minbase-init: " in p.stderr, p.stderr
    return p.returncode == 0


def mk_verdict(mkimage, mbtest, tmp_path, *args):
    out = tmp_path / "v.tar"
    p = mk(mkimage, "--static", mbtest, "-o", out, "-q", *args, check=False)
    assert p.returncode in (0, 2), (args, p.returncode, p.stderr)
    if out.exists():
        out.unlink()
    return p.returncode == 0


@pytest.mark.parametrize("option,var", [
    ("--health-interval", "MINBASE_HEALTH_INTERVAL"),
    ("--health-timeout", "MINBASE_HEALTH_TIMEOUT"),
    ("--health-start-period", "MINBASE_HEALTH_START_PERIOD"),
])
def test_durations_same_verdicts_in_mkimage_and_init(mkimage, mbtest, init_bin, tmp_path,
                                                      option, var):
    probe = {"MINBASE_HEALTH_TCP": "127.0.0.1:1"}
    verdicts = {}
    for d in DURATIONS:
        by_option = mk_verdict(mkimage, mbtest, tmp_path, "--health-tcp", "127.0.0.1:1", option, d)
        by_env = mk_verdict(mkimage, mbtest, tmp_path, "-e", "%s=%s" % (var, d))
        in_init = init_verdict(init_bin, dict(probe, **{var: d}))
        assert by_option == by_env == in_init, (d, by_option, by_env, in_init)
        verdicts[d] = in_init
    # The list is not all one way, and the case the issue names passes both.
    assert verdicts["1.5s"] and verdicts["1m30s"] and not verdicts["5x"] and not verdicts[""]


def test_grace_and_retries_same_verdicts(mkimage, mbtest, init_bin, tmp_path):
    for d in DURATIONS:
        if not d:
            continue  # an empty MINBASE_GRACE means "not set" to the init
        assert mk_verdict(mkimage, mbtest, tmp_path, "-e", "MINBASE_GRACE=" + d) == \
            init_verdict(init_bin, {"MINBASE_GRACE": d}), d
    probe = {"MINBASE_HEALTH_TCP": "127.0.0.1:1"}
    for n in ["1", "3", "1000", "1000000", "0", "-1", "x", "", "1000001", "2.5"]:
        by_option = mk_verdict(mkimage, mbtest, tmp_path, "--health-tcp", "127.0.0.1:1",
                               "--health-retries", n)
        in_init = init_verdict(init_bin, dict(probe, MINBASE_HEALTH_RETRIES=n))
        assert by_option == in_init, (n, by_option, in_init)


@pytest.mark.parametrize("args,words", [
    # the two cases
    (["--policy", "strict", "-e", "MINBASE_SECCOMP="], ["MINBASE_SECCOMP=", "contradicts --policy"]),
    (["-e", "MINBASE_CAPS=ALL"], ["MINBASE_CAPS=ALL", "unknown capability `ALL`",
                                  "minbase-init would refuse to start"]),
    (["--caps", "net_bind_service", "-e", "MINBASE_CAPS=ALL"], ["unknown capability `ALL`"]),
    (["--caps", "net_bind_service", "-e", "MINBASE_CAPS=chown"], ["contradicts --caps"]),
    (["-e", "MINBASE_CAPS=chown"], ["contradicts the default", "--caps"]),
    (["--policy", "service", "-e", "MINBASE_CAPS="], ["contradicts --policy"]),
    (["--policy", "strict", "-e", "MINBASE_SECCOMP=/etc/other.bpf"], ["contradicts --policy"]),
    (["--policy", "strict", "-e", "MINBASE_POLICY=service"], ["contradicts --policy"]),
    (["-e", "MINBASE_POLICY=../../tmp/x"], ["invalid policy name"]),
    (["-e", "MINBASE_NO_NEW_PRIVS="], ["no-new-privileges"]),
    (["--user", "1000:1000", "-e", "MINBASE_USER=0"], ["contradicts --user"]),
    (["--health-http", "http://127.0.0.1:8080/", "-e", "MINBASE_HEALTH_TCP=127.0.0.1:9"],
     ["contradicts --health-http"]),
    (["--health-tcp", "127.0.0.1:1", "--health-interval", "5s", "-e",
      "MINBASE_HEALTH_INTERVAL=1s"], ["contradicts --health-interval"]),
    (["--health-tcp", "127.0.0.1:1", "--health-retries", "3", "-e",
      "MINBASE_HEALTH_RETRIES=5"], ["contradicts --health-retries"]),
    # the init's own grammar for values no option gives
    (["-e", "MINBASE_HEALTH_TCP=nowhere"], ["invalid address `nowhere`"]),
    (["-e", "MINBASE_HEALTH_HTTP=https://x/"], ["only http://"]),
    (["-e", "MINBASE_ON_UNHEALTHY=restart"], ["use exit or none"]),
    (["-e", "MINBASE_GRACE=soon"], ["invalid duration `soon`"]),
    (["-e", "MINBASE_HEALTH_EXEC= "], ["empty command"]),
    # a typo in a name the init reads does nothing at run time: refused
    (["-e", "MINBASE_HEALTH_INTERVALL=5s"], ["reads no variable `MINBASE_HEALTH_INTERVALL`"]),
    (["-e", "TINI_SUBREAPPER=1"], ["reads no variable `TINI_SUBREAPPER`"]),
])
def test_env_for_the_init_refused(refused, args, words):
    refused(*args, words=words)


def test_the_init_refuses_what_mkimage_refuses(init_bin, refused):
    """The build-time message is the init's own: the same value makes the
    real init refuse to start with the same words."""
    for var, val, words in [("MINBASE_CAPS", "ALL", "unknown capability `ALL`"),
                            ("MINBASE_ON_UNHEALTHY", "restart", "use exit or none"),
                            ("MINBASE_GRACE", "soon", "invalid duration `soon`")]:
        refused("-e", "%s=%s" % (var, val), words=[words])
        e = {"PATH": "/usr/bin:/bin", "TINI_SUBREAPER": "1", var: val,
             "MINBASE_HEALTH_TCP": "127.0.0.1:1"}
        p = subprocess.run([str(init_bin), "--", "/bin/true"], env=e, capture_output=True,
                           text=True, timeout=60)
        assert p.returncode == 1 and words in p.stderr, (var, p.stderr)


def image_env(path):
    with tarfile.open(path) as t:
        index = json.load(t.extractfile("index.json"))
        man = json.load(t.extractfile("blobs/sha256/" + index["manifests"][0]["digest"][7:]))
        cfg = json.load(t.extractfile("blobs/sha256/" + man["config"]["digest"][7:]))
    return cfg["config"]["Env"]


@pytest.mark.parametrize("args,want", [
    (["--caps", "chown", "-e", "MINBASE_CAPS=chown"], "MINBASE_CAPS=chown"),
    (["-e", "MINBASE_CAPS="], "MINBASE_CAPS="),
    (["-e", "MINBASE_HEALTH_INTERVAL=1.5s"], "MINBASE_HEALTH_INTERVAL=1.5s"),
    (["--health-tcp", "127.0.0.1:1", "--health-interval", "1.5s"], "MINBASE_HEALTH_INTERVAL=1.5s"),
    (["-e", "TINI_SUBREAPER="], "TINI_SUBREAPER="),
    (["-e", "MINBASE_GRACE=2s"], "MINBASE_GRACE=2s"),
    (["--policy", "strict", "-e", "MINBASE_SECCOMP=/etc/minbase/seccomp.bpf"],
     "MINBASE_SECCOMP=/etc/minbase/seccomp.bpf"),
    (["--no-init", "-e", "MINBASE_WHATEVER=x"], "MINBASE_WHATEVER=x"),
])
def test_env_that_agrees_is_kept(mkimage, mbtest, tmp_path, args, want):
    out = tmp_path / "ok.tar"
    mk(mkimage, "--static", mbtest, "-o", out, "-q", *args)
    assert want in image_env(out)


def test_fractional_interval_reaches_the_healthcheck(mkimage, mbtest, tmp_path):
    out = tmp_path / "h.tar"
    mk(mkimage, "--static", mbtest, "-o", out, "-q", "--health-tcp", "127.0.0.1:1",
       "--health-interval", "1.5s", "--health-timeout", "250ms")
    with tarfile.open(out) as t:
        index = json.load(t.extractfile("index.json"))
        man = json.load(t.extractfile("blobs/sha256/" + index["manifests"][0]["digest"][7:]))
        cfg = json.load(t.extractfile("blobs/sha256/" + man["config"]["digest"][7:]))
    hc = cfg["config"]["Healthcheck"]
    assert hc["Interval"] == 1500000000 and hc["Timeout"] == 250000000, hc


@pytest.mark.parametrize("option,var,values", [
    ("--health-tcp", "MINBASE_HEALTH_TCP",
     ["127.0.0.1:8080", "[::1]:80", "localhost:1", "nope", "h:", ":80", "1.2.3.4:0",
      "1.2.3.4:65536", "[::1]80"]),
    ("--health-http", "MINBASE_HEALTH_HTTP",
     ["http://127.0.0.1:8080/health", "http://[::1]/", "http://localhost", "https://x/",
      "localhost:80", "http://", "http://h:99999/"]),
])
def test_probe_targets_same_verdicts(mkimage, mbtest, init_bin, tmp_path, option, var, values):
    seen = set()
    for v in values:
        by_option = mk_verdict(mkimage, mbtest, tmp_path, option, v)
        in_init = init_verdict(init_bin, {var: v})
        assert by_option == in_init, (v, by_option, in_init)
        seen.add(in_init)
    assert seen == {True, False}
