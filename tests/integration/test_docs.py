"""The CLI is described twice, by `mkimage help TOPIC` (builder/help.c) and by
the manual page (builder/mkimage.1): each option mkimage accepts must be in
both, and the page may name no option the help does not know.  The accepted
options are read from the getopt_long tables in builder/*.c, so a new option
that is documented in neither place fails here."""
import re
from pathlib import Path

from testlib import run

ROOT = Path(__file__).resolve().parents[2]
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def accepted_options():
    """Long options of every `struct option NAME[] = { ... }` table."""
    names = set()
    for src in sorted((ROOT / "builder").glob("*.c")):
        for table in re.findall(r"struct option \w+\[\] = \{(.*?)\n\s*\};", src.read_text(), re.S):
            names.update("--" + n for n in re.findall(r'\{\s*"([a-z][a-z0-9-]*)"', table))
    return names


def help_text(mkimage):
    main = run([mkimage, "help"]).stdout
    m = re.search(r"Help topics: (.*?)\.\s", main, re.S)
    assert m, "`mkimage help` lists its topics"
    topics = [t.strip() for t in m.group(1).replace("\n", " ").split(",")]
    assert len(topics) >= 5, topics
    texts = [main, run([mkimage, "policy", "--help"]).stdout]
    texts += [run([mkimage, "help", t]).stdout for t in topics]
    return "\n".join(texts)


def man_text():
    return (ROOT / "builder" / "mkimage.1").read_text().replace("\\-", "-")


def test_every_option_is_documented_in_help_and_man_page(mkimage):
    accepted = accepted_options()
    assert {"--static", "--output", "--policy", "--help"} <= accepted, accepted
    in_help = set(OPTION.findall(help_text(mkimage)))
    in_man = set(OPTION.findall(man_text()))
    assert not accepted - in_help, "options `mkimage help` does not describe: %s" % \
        sorted(accepted - in_help)
    assert not accepted - in_man, "options builder/mkimage.1 does not describe: %s" % \
        sorted(accepted - in_man)
    assert not in_man - in_help, "options the manual page names but `mkimage help` does not: %s" \
        % sorted(in_man - in_help)


def test_help_topics_match_the_man_page(mkimage):
    main = run([mkimage, "help"]).stdout
    topics = re.search(r"Help topics: (.*?)\.\s", main, re.S).group(1)
    for t in (x.strip() for x in topics.replace("\n", " ").split(",")):
        assert run([mkimage, "help", t], check=False).returncode == 0, t
        assert t in man_text(), "the manual page does not list help topic %s" % t
