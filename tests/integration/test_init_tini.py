"""minbase-init against tini itself: Debian's tini-static (0.19.0, from
`make deps`) and minbase-init run side by side with the same TINI_*
variables and tini options, and must behave the same.  tini tests its flag
variables with getenv() != NULL (set, even to "", is on) and atoi()s
TINI_VERBOSITY after the options (src/tini.c parse_env)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import need, need_root, need_tools  # noqa: E402
from test_init import NOT_PID1, UNSHARE, Pid1  # noqa: E402

TINI = "/usr/bin/tini-static"
WARNING = "zombie reaping won't work"


@pytest.fixture
def inits(init_bin, tools):
    need_root()
    need_tools("unshare")
    need(os.path.exists(TINI), "tini-static is not installed (run `make deps`)")
    helper = tools / "inithelper"
    assert helper.exists(), "build/tests/bin/inithelper missing: run `make test-support`"
    return {"tini": TINI, "minbase": str(init_bin)}, helper


def environ(name, value):
    e = {k: v for k, v in os.environ.items() if not k.startswith("TINI_")}
    if value is not None:
        e[name] = value
    return e


def run(cmd, env=None, timeout=60):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                          timeout=timeout, env=env, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("value", [None, "", "0", "1", "no"])
def test_tini_subreaper_is_on_when_set(inits, value):
    """Not PID 1 (a python PID 1 that reaps only its own child): with
    TINI_SUBREAPER set to anything, even "", the init reaps the orphans and
    does not warn; unset, it warns and they stay."""
    bins, helper = inits
    seen = {}
    for name, init in bins.items():
        p = run(UNSHARE + [sys.executable, "-c", NOT_PID1, init, "--", helper, "orphans", "20",
                           "2000" if value is None else "10000"],
                env=environ("TINI_SUBREAPER", value))
        seen[name] = (WARNING in p.stderr, "made 20 left 0" in p.stdout)
    assert seen["minbase"] == seen["tini"], seen
    assert seen["minbase"] == ((True, False) if value is None else (False, True)), seen


@pytest.mark.parametrize("value", ["", "0", "1"])
def test_tini_kill_process_group_is_on_when_set(inits, value):
    """Set, even to "", a signal to the init reaches the child's whole
    group (the grandchildren too), and `group` then exits 0."""
    bins, helper = inits
    for name, init in bins.items():
        r = Pid1(init, "--", helper, "group", 3, 10, env=environ("TINI_KILL_PROCESS_GROUP", value))
        try:
            ready = [r.line() for _ in range(3)]
            assert all(l and l.startswith("ready") for l in ready), (name, ready)
            os.kill(r.init_pid(), 10)
            got = [r.line(timeout=20) for _ in range(3)]
            assert all(l and l.startswith("got 10") for l in got), (name, value, got)
            assert r.finish()[0] == 0
        finally:
            r.kill()


VERBOSITY = [(None, []), ("", []), ("0", []), ("abc", []), ("1", []), ("2", []), ("2x", []),
             (" 2", []), ("-1", []), ("3", []), ("0", ["-vv"]), ("1", ["-v"]), (None, ["-v"]),
             (None, ["-vv"])]


@pytest.mark.parametrize("value,flags", VERBOSITY, ids=["%r%s" % (v, "".join(f))
                                                        for v, f in VERBOSITY])
def test_tini_verbosity(inits, value, flags):
    """Not PID 1, so both warn (level 1) that reaping won't work, and both
    log the spawn at level 2: the same levels for the same variable and
    -v count.  TINI_VERBOSITY replaces the -v count, as in tini."""
    bins, helper = inits
    seen = {}
    for name, init in bins.items():
        p = run([init] + flags + ["--", helper, "true"], env=environ("TINI_VERBOSITY", value))
        assert p.returncode == 0, (name, p)
        both = p.stdout + p.stderr
        seen[name] = (WARNING in both, "Spawned child process" in both)
    assert seen["minbase"] == seen["tini"], seen


EXPECT = ["3", " 3", "+3", "003", "", "-0", "3 ", "256", "-1", "x", "0x3", "4"]


@pytest.mark.parametrize("code", EXPECT, ids=[repr(c) for c in EXPECT])
def test_tini_expect_codes(inits, code):
    """-e CODE as tini reads it (strtol, base 10, nothing after it, 0..255):
    the same exit status for `exit 3` under both."""
    bins, helper = inits
    rc = {name: run([init, "-s", "-e", code, "--", helper, "exit", "3"]).returncode
          for name, init in bins.items()}
    assert rc["minbase"] == rc["tini"], rc


TINI_SIGNALS = ["SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE",
                "SIGKILL", "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM",
                "SIGCHLD", "SIGCONT", "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG",
                "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGSYS"]


def test_tini_parent_death_signal_names(inits):
    """Every name tini's -p takes, minbase-init takes (it also takes more:
    `TERM`, `15`, `SIGRTMIN+2`)."""
    bins, helper = inits
    for sig in TINI_SIGNALS:
        for name, init in bins.items():
            p = run([init, "-s", "-p", sig, "--", helper, "exit", "0"])
            assert p.returncode == 0, (name, sig, p.stderr)
    for name, init in bins.items():
        assert run([init, "-s", "-p", "SIGNOPE", "--", helper, "true"]).returncode == 1, name


def test_tini_options_and_exit_codes(inits):
    bins, helper = inits
    cases = [(["-h"], 0), (["-l"], 0), (["--version"], 0), ([], 1), (["-x", "--", helper, "true"], 1),
             (["-p"], 1), (["-e"], 1), (["-s", "-w", "-g", "-v", "--", helper, "exit", "7"], 7)]
    for args, want in cases:
        for name, init in bins.items():
            p = run([init] + [str(a) for a in args])
            assert p.returncode == want, (name, args, p)
            if want == 0 and args[0] != "--version":
                assert p.stdout, (name, args, "prints to stdout")
