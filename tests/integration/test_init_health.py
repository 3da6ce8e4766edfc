"""minbase-init health probes, for real: a test HTTP server (inithelper
httpserver) that is failing during the start period, then healthy, then slow,
then failing is seen as starting, healthy, unhealthy by `minbase-init health`;
TCP and exec probes likewise; hung probes are killed at their timeout and
leave no zombie; --on-unhealthy exit stops the service."""
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import need, need_root, need_tools

UNSHARE = [shutil.which("unshare") or "unshare", "--pid", "--fork", "--mount-proc", "--kill-child"]
FAST = ["--health-interval", "150ms", "--health-timeout", "400ms", "--health-retries", "2"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def env(init_bin, tools, tmp_path):
    need_root()
    need_tools("unshare")
    return init_bin, tools / "inithelper", tmp_path / "health"


def start(init, *args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.Popen(UNSHARE + [str(init)] + [str(a) for a in args], env=e,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)


def health(init, state):
    p = subprocess.run([str(init), "health"], capture_output=True, text=True,
                       env=dict(os.environ, MINBASE_HEALTH_FILE=str(state)))
    word = p.stdout.split(":")[0]
    assert (p.returncode == 0) == (word == "healthy"), p.stdout
    assert p.stdout.count("\n") == 1, "one line of detail: " + p.stdout
    return word, p.stdout


def watch(init, state, until, limit=30):
    """The sequence of distinct states seen until UNTIL (or the limit)."""
    seen, details = [], []
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        word, line = health(init, state)
        if word != "unknown" and (not seen or seen[-1] != word):
            seen.append(word)
            details.append(line)
        if word == until:
            break
        time.sleep(0.03)
    return seen, details


def stop(p, state=None):
    # Kill the init (PID 1 of its namespace: everything in it goes) and let
    # unshare reap it, rather than orphaning it to the machine's PID 1.
    try:
        kids = Path("/proc/%d/task/%d/children" % (p.pid, p.pid)).read_text().split()
    except OSError:
        kids = []
    for k in kids:
        os.kill(int(k), 9)
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    if state is not None and state.exists():
        state.unlink()  # the next init starts from no state


def zombie_children(init_host_pid):
    n = 0
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            st = (d / "stat").read_text()
        except OSError:
            continue
        fields = st.rsplit(")", 1)[1].split()
        if int(fields[1]) == init_host_pid and fields[0] == "Z":
            n += 1
    return n


def init_pid_of(p):
    for _ in range(300):
        kids = Path("/proc/%d/task/%d/children" % (p.pid, p.pid)).read_text().split()
        if kids:
            return int(kids[0])
        time.sleep(0.01)
    raise AssertionError("no init")


def test_http_starting_healthy_unhealthy(env):
    init, helper, state = env
    port = free_port()
    # Failing inside the start period (not counted), healthy, then hung
    # (killed at the timeout), then HTTP 500.
    p = start(init, "--health-http", "http://127.0.0.1:%d/health" % port, *FAST,
              "--health-start-period", "1s", "--health-file", state,
              "--", helper, "httpserver", port, "503x3,200x4,slowx2,500")
    try:
        seen, details = watch(init, state, "unhealthy")
        assert seen == ["starting", "healthy", "unhealthy"], details
        assert "HTTP 200" in details[1]
        assert "timed out" in details[2] or "HTTP 500" in details[2]
        # Still alive, still unhealthy: --on-unhealthy defaults to none.  The
        # event that shows it is the init writing a later probe's result.
        before = state.stat().st_mtime_ns
        deadline = time.monotonic() + 30
        while state.stat().st_mtime_ns == before and time.monotonic() < deadline:
            time.sleep(0.02)
        assert state.stat().st_mtime_ns != before, "the init stopped probing"
        assert p.poll() is None
        assert health(init, state)[0] == "unhealthy"
        assert zombie_children(init_pid_of(p)) <= 1
    finally:
        stop(p)


def test_http_status_range(env):
    init, helper, state = env
    for code, want in ((204, "healthy"), (302, "healthy"), (399, "healthy"), (400, "unhealthy"),
                       (404, "unhealthy")):
        port = free_port()
        p = start(init, "--health-http", "http://localhost:%d/" % port, *FAST,
                  "--health-retries", "1", "--health-file", state, "--", helper,
                  "httpserver", port, str(code))
        try:
            seen, details = watch(init, state, want, limit=10)
            assert seen[-1] == want, (code, details)
        finally:
            stop(p, state)


def test_tcp_probe(env):
    init, helper, state = env
    port = free_port()
    p = start(init, *FAST, "--health-file", state, "--", helper, "tcpserver", port,
              env={"MINBASE_HEALTH_TCP": "127.0.0.1:%d" % port})
    try:
        seen, details = watch(init, state, "healthy")
        assert seen[-1] == "healthy" and "tcp connect" in details[-1]
    finally:
        stop(p, state)
    dead = free_port()  # nothing listens there
    p = start(init, *FAST, "--health-tcp", "127.0.0.1:%d" % dead, "--health-file", state,
              "--", helper, "sleep", 60000)
    try:
        seen, details = watch(init, state, "unhealthy")
        assert seen == ["starting", "unhealthy"] and "Connection refused" in details[-1]
    finally:
        stop(p)


def test_exec_probe_and_hung_probe_is_killed(env):
    init, helper, state = env
    p = start(init, *FAST, "--health-file", state, "--", helper, "sleep", 60000,
              env={"MINBASE_HEALTH_EXEC": "%s exit 0" % helper})
    try:
        seen, _ = watch(init, state, "healthy")
        assert seen[-1] == "healthy"
    finally:
        stop(p, state)
    p = start(init, *FAST, "--health-exec", "%s exit 3" % helper, "--health-file", state,
              "--", helper, "sleep", 60000)
    try:
        seen, details = watch(init, state, "unhealthy")
        assert seen == ["starting", "unhealthy"] and "exited 3" in details[-1]
    finally:
        stop(p, state)
    # A probe that hangs: killed at its timeout, with its whole group.
    p = start(init, *FAST, "--health-exec", "%s group 3 10" % helper, "--health-file", state,
              "--", helper, "sleep", 60000)
    try:
        seen, details = watch(init, state, "unhealthy")
        assert seen == ["starting", "unhealthy"] and "timed out after 400ms" in details[-1]
        ipid = init_pid_of(p)
        # Only the service, and at most the probe running right now.  The
        # state flips when the killed probe itself is reaped; its group
        # members, killed with it, are reparented to the init as they die
        # and reaped on the SIGCHLD that follows, which a loaded machine
        # may deliver a few milliseconds later: allow that, not more.
        deadline = time.monotonic() + 2
        while True:
            kids = Path("/proc/%d/task/%d/children" % (ipid, ipid)).read_text().split()
            zombies = zombie_children(ipid)
            if (1 <= len(kids) <= 2 and zombies <= 1) or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        assert 1 <= len(kids) <= 2
        assert zombies <= 1
    finally:
        stop(p)


def test_probe_leaving_a_process_behind_does_not_block(env):
    """An exec probe that exits but leaves a process (own session, out of
    the probe's group) holding its output pipe: the init must not wait for
    that pipe; the leftover is an orphan the init reaps later."""
    init, helper, state = env
    p = start(init, *FAST, "--health-exec", "%s detach 60000" % helper, "--health-file", state,
              "--", helper, "sleep", 60000)
    try:
        seen, details = watch(init, state, "healthy", limit=10)
        assert seen[-1] == "healthy", details
        # Still probing: the state keeps being rewritten.
        before = state.stat().st_mtime_ns
        for _ in range(100):
            time.sleep(0.05)
            if state.stat().st_mtime_ns != before:
                break
        assert state.stat().st_mtime_ns != before
    finally:
        stop(p, state)


def test_on_unhealthy_exit_stops_the_service(env):
    init, helper, state = env
    p = start(init, *FAST, "--health-exec", "%s exit 1" % helper, "--on-unhealthy", "exit",
              "--health-file", state, "--", helper, "sleep", 60000)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 1, err
    assert b"service unhealthy after 2 failed probes" in err
    assert health(init, state)[0] == "unhealthy"
    state.unlink()
    # A service that ignores SIGTERM is killed when the grace runs out.
    p = start(init, *FAST, "--health-exec", "%s exit 1" % helper, "--grace", "300ms",
              "--health-file", state, "--", helper, "sigwait", 10,
              env={"MINBASE_ON_UNHEALTHY": "exit"})
    out, err = p.communicate(timeout=30)
    assert p.returncode == 1, err
    assert b"signal 15" in out and b"grace period over" in err


def test_probe_subcommand(env):
    init, helper, state = env
    port = free_port()
    srv = start(init, "--", helper, "tcpserver", port)
    try:
        for _ in range(200):
            r = subprocess.run([init, "probe"], capture_output=True, text=True,
                               env=dict(os.environ, MINBASE_HEALTH_TCP="127.0.0.1:%d" % port))
            if r.returncode == 0:
                break
            time.sleep(0.02)
        assert r.returncode == 0 and r.stdout.startswith("healthy: tcp connect"), r.stdout
    finally:
        stop(srv)
    r = subprocess.run([init, "probe"], capture_output=True, text=True,
                       env=dict(os.environ, MINBASE_HEALTH_EXEC="%s sleep 5000" % helper,
                                MINBASE_HEALTH_TIMEOUT="200ms"))
    assert r.returncode == 1 and "timed out after 200ms" in r.stdout
    r = subprocess.run([init, "probe"], capture_output=True, text=True,
                       env=dict(os.environ, MINBASE_HEALTH_HTTP="http://127.0.0.1:%d/" % free_port()))
    assert r.returncode == 1 and r.stdout.startswith("unhealthy: cannot connect")
    r = subprocess.run([init, "probe"], capture_output=True, text=True,
                       env={"PATH": os.environ.get("PATH", "")})
    assert r.returncode == 1 and "no probe configured" in r.stderr


def test_health_without_state(env):
    init, helper, state = env
    word, line = health(init, state)
    assert word == "unknown" and str(state) in line


def test_http_probe_sends_a_valid_host_header_for_ipv6(env):
    """RFC 7230 5.4 / 3986 3.2.2: an IPv6 literal in Host is bracketed.
    Servers that check it (nginx) answer 400 to `Host: ::1:8080`."""
    import threading
    init, helper, state = env
    srv = socket.socket(socket.AF_INET6)
    try:
        srv.bind(("::1", 0))
    except OSError:
        srv.close()
        need(False, "no IPv6 loopback")
    srv.listen(4)
    port = srv.getsockname()[1]
    hosts = []

    def serve():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            with c:
                req = b""
                while b"\r\n\r\n" not in req:
                    chunk = c.recv(4096)
                    if not chunk:
                        break
                    req += chunk
                host = [l.split(b":", 1)[1].strip() for l in req.split(b"\r\n")
                        if l.lower().startswith(b"host:")]
                hosts.append(host)
                ok = host == [("[::1]:%d" % port).encode()]
                c.sendall(b"HTTP/1.0 200 OK\r\n\r\n" if ok else b"HTTP/1.0 400 Bad Request\r\n\r\n")

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        r = subprocess.run([str(init), "probe"], capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, MINBASE_HEALTH_HTTP="http://[::1]:%d/h" % port))
    finally:
        srv.close()
    assert r.returncode == 0 and "HTTP 200" in r.stdout, (r.stdout, hosts)


def test_probe_subcommand_killed_leaves_no_hung_probe(env):
    """`minbase-init probe` enforces the timeout from the parent; when the
    runtime kills it first (an exec probe timeout, `timeout 1 ...`), the probe
    child hung on a server that never answers must not live on forever."""
    init, helper, state = env
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)  # never accepts: connect succeeds, the read hangs
    port = srv.getsockname()[1]
    marker = "MINBASE_TEST_MARKER_%d_%d" % (os.getpid(), port)
    e = dict(os.environ, MINBASE_HEALTH_HTTP="http://127.0.0.1:%d/" % port,
             MINBASE_HEALTH_TIMEOUT="60s")
    e[marker] = "1"

    def marked():
        pids = []
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                try:
                    if (marker + "=1").encode() in (d / "environ").read_bytes():
                        pids.append(int(d.name))
                except OSError:
                    pass
        return pids

    try:
        p = subprocess.Popen([str(init), "probe"], env=e, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while len(marked()) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(marked()) == 2, "the probe child did not start"
        p.kill()
        p.wait()
        deadline = time.monotonic() + 3
        while marked() and time.monotonic() < deadline:
            time.sleep(0.02)
        left = marked()
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        assert not left, "probe child still running after its parent was killed"
    finally:
        srv.close()


def test_command_line_probe_wins_over_the_environment(env):
    """The command line wins over the environment (README): a probe given
    as an option replaces the image's probe of another kind, rather than
    making the init refuse to start with `choose one`."""
    init, helper, state = env
    p = start(init, *FAST, "--health-exec", "%s exit 0" % helper, "--health-file", state,
              "--", helper, "sleep", 60000,
              env={"MINBASE_HEALTH_TCP": "127.0.0.1:1", "MINBASE_HEALTH_HTTP": ""})
    try:
        seen, details = watch(init, state, "healthy", limit=10)
        assert seen and seen[-1] == "healthy", (seen, p.poll() is not None and
                                                p.stderr.read())
        assert "exited 0" in details[-1]
    finally:
        stop(p, state)
    # Two kinds on the command line are still refused.
    r = subprocess.run(UNSHARE + [str(init), "--health-exec", "x", "--health-tcp", "127.0.0.1:1",
                                  "--", str(helper), "true"], capture_output=True, text=True)
    assert r.returncode == 1 and "choose one" in r.stderr


def test_service_cannot_pin_the_state_at_healthy(env):
    """Nothing listens, but the service took the init's temporary name (as
    PID 1 it was `STATE.tmp1`) with a directory and wrote a healthy state
    valid for ever: the init's own writes must still go through (random
    O_EXCL names), and `health` must never answer healthy."""
    init, helper, state = env
    state.parent.mkdir(parents=True, exist_ok=True)
    (state.parent / (state.name + ".tmp1")).mkdir()
    state.write_text("healthy 0 %d 99999999999 pinned\n" % int(time.time()))
    p = start(init, *FAST, "--health-tcp", "127.0.0.1:%d" % free_port(), "--health-file", state,
              "--", helper, "sleep", 60000)
    try:
        seen, details = watch(init, state, "unhealthy")
        assert "healthy" not in seen, details
        assert seen[-1] == "unhealthy", details
    finally:
        stop(p)
    left = sorted(f.name for f in state.parent.iterdir())
    assert left == [state.name, state.name + ".tmp1"], left


def test_health_refuses_a_state_valid_beyond_the_probe_timing(env):
    """VALID_UNTIL is at most 2 x (interval + timeout) + 5 s after the time
    written (the init's rule); a longer one, or one dated ahead, is not the
    init's.  `health` takes that timing from its options or the
    environment, as the init does."""
    init, helper, state = env
    state.parent.mkdir(parents=True, exist_ok=True)
    now = int(time.time())

    def verdict(line, *opts, env=None):
        state.write_text(line)
        e = dict(os.environ, **(env or {}))
        e.pop("MINBASE_HEALTH_INTERVAL", None) if not env else None
        p = subprocess.run([str(init), "health", "--health-file", str(state), *opts],
                           capture_output=True, text=True, env=e)
        return p.returncode, p.stdout

    # Defaults 30s/30s: 125 s.
    assert verdict("healthy 0 %d %d ok\n" % (now, now + 125))[0] == 0
    rc, out = verdict("healthy 0 %d %d pinned\n" % (now, now + 126))
    assert rc == 1 and out.startswith("unknown: ") and "not written by the init" in out, out
    assert verdict("healthy 0 %d 99999999999 pinned\n" % now)[0] == 1
    assert verdict("healthy 0 %d %d ahead\n" % (now + 60, now + 120))[0] == 1
    # 1s/1s: 9 s, from the options or from the environment.
    fast = ("--health-interval", "1s", "--health-timeout", "1s")
    assert verdict("healthy 0 %d %d ok\n" % (now, now + 9), *fast)[0] == 0
    assert verdict("healthy 0 %d %d long\n" % (now, now + 10), *fast)[0] == 1
    assert verdict("healthy 0 %d %d long\n" % (now, now + 10),
                   env={"MINBASE_HEALTH_INTERVAL": "1s", "MINBASE_HEALTH_TIMEOUT": "1s"})[0] == 1


def test_exec_probe_printing_more_than_a_pipe_holds(env):
    """The probe's output is drained while it runs: 1 MiB of output does
    not block the probe until its timeout.  The first line is the detail,
    with Docker's `...` since the output went on (Docker keeps 4096 bytes)."""
    init, helper, state = env
    p = start(init, "--health-interval", "150ms", "--health-timeout", "10s", "--health-retries", "1",
              "--health-exec", "%s spew 1048576" % helper, "--health-file", state,
              "--", helper, "sleep", 60000)
    try:
        seen, details = watch(init, state, "healthy")
        assert seen[-1] == "healthy", details
        assert "exited 0: spew 1048576..." in details[-1], details
    finally:
        stop(p, state)
    r = subprocess.run([str(init), "probe"], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, MINBASE_HEALTH_EXEC="%s spew 1048576" % helper,
                                MINBASE_HEALTH_TIMEOUT="10s"))
    assert r.returncode == 0 and "exited 0: spew 1048576..." in r.stdout, r.stdout


def test_health_and_probe_take_their_options(env):
    """The command line wins over the environment for `health` and `probe`
    too; an option that does not apply to them is refused, never ignored."""
    init, helper, state = env
    state.parent.mkdir(parents=True, exist_ok=True)
    now = int(time.time())
    state.write_text("healthy 0 %d %d from the option's file\n" % (now, now + 60))
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MINBASE_")}
    elsewhere = str(state.parent / "elsewhere")
    r = subprocess.run([str(init), "health", "--health-file", str(state)], capture_output=True,
                       text=True, env=dict(clean, MINBASE_HEALTH_FILE=elsewhere))
    assert r.returncode == 0 and "from the option's file" in r.stdout, r.stdout
    port = free_port()
    srv = start(init, "--", helper, "tcpserver", port)
    try:
        for _ in range(300):
            r = subprocess.run([str(init), "probe", "--health-tcp", "127.0.0.1:%d" % port],
                               capture_output=True, text=True,
                               env=dict(clean, MINBASE_HEALTH_TCP="127.0.0.1:%d" % free_port()))
            if r.returncode == 0:
                break
            time.sleep(0.02)
        assert r.returncode == 0 and r.stdout.startswith("healthy: tcp connect to 127.0.0.1:%d"
                                                          % port), r.stdout + r.stderr
    finally:
        stop(srv)
    r = subprocess.run([str(init), "probe", "--health-exec", "%s sleep 5000" % helper,
                        "--health-timeout", "200ms"], capture_output=True, text=True, env=clean)
    assert r.returncode == 1 and "timed out after 200ms" in r.stdout, r.stdout
    for cmd, opt in ((["health", "--health-tcp", "127.0.0.1:1"], "--health-tcp"),
                     (["health", "--user", "0"], "--user"),
                     (["health", "-s"], "-s"),
                     (["probe", "--health-tcp", "127.0.0.1:1", "--grace", "1s"], "--grace"),
                     (["probe", "--health-tcp", "127.0.0.1:1", "--health-file", "/x"],
                      "--health-file"),
                     (["probe", "--health-tcp", "127.0.0.1:1", "--on-unhealthy", "exit"],
                      "--on-unhealthy"),
                     (["probe", "-g", "--health-tcp", "127.0.0.1:1"], "-g")):
        r = subprocess.run([str(init)] + cmd, capture_output=True, text=True, env=clean)
        assert r.returncode == 1 and r.stdout == "", (cmd, r.stdout)
        assert "%s does not apply to `%s`" % (opt, cmd[0]) in r.stderr, (cmd, r.stderr)
    for cmd in (["health", "extra"], ["probe", "--health-tcp", "127.0.0.1:1", "extra"]):
        r = subprocess.run([str(init)] + cmd, capture_output=True, text=True, env=clean)
        assert r.returncode == 1 and "unexpected argument `extra`" in r.stderr, (cmd, r.stderr)
    r = subprocess.run([str(init), "health", "--health-interval", "soon"], capture_output=True,
                       text=True, env=clean)
    assert r.returncode == 1 and "invalid duration" in r.stderr
