"""The README is the front door: its commands are the ones CI runs and the docs show, each documented
`python -m asyncbench` command composes into a valid config, and every relative link leads to a file
(and heading) of the repository. Reads files only: no training."""

import re
import shlex
from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from asyncbench.config import load_config

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
CI = ROOT / ".ci" / "run"
README_MAX_LINES = 200  # the front door stays short; the rest is in docs/

FENCE = re.compile(r"^[ \t]*```(\w*)\n(.*?)^[ \t]*```", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"\]\(([^)\s]+)\)|(?:src|href)=\"([^\"]+)\"")


def section(text, heading):
    """The text under `## heading`, up to the next heading of that level."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, f"no '## {heading}' section"
    return match.group(1)


def commands(text):
    """The commands of the bash blocks in `text`: continuation lines joined, comments dropped."""
    found = []
    for language, body in FENCE.findall(text):
        if language != "bash":
            continue
        for line in body.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#\s.*$", "", line).strip()
            if line and not line.startswith("#"):
                found.append(re.sub(r"\s+", " ", line))
    return found


def ci_lines():
    return [line.strip() for line in CI.read_text().splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_the_readme_installs_and_tests_with_the_lines_ci_runs():
    text = README.read_text()
    [install] = commands(section(text, "Install"))
    full_suite, fast_tier = commands(section(text, "Test"))
    assert any(line.split(" || ")[0] == install for line in ci_lines()), f"{install!r} is not a line of .ci/run"
    assert [line for line in ci_lines() if " -m pytest" in line] == [full_suite]
    assert fast_tier.startswith(full_suite + " -m ")


def test_every_command_shown_runs_the_interpreter_ci_installs():
    """`.venv/bin/python` (from .ci/run's test line) and `.venv/bin/pip`, with the project's modules."""
    python = shlex.split(commands(section(README.read_text(), "Test"))[0])[0]
    modules = {"asyncbench", "asyncbench.reevaluate", "analysis", "pytest"}
    for page in PAGES:
        for command in commands(page.read_text()):
            for part in command.split(" && "):
                words = shlex.split(part)
                while re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # an environment variable for the command
                    words = words[1:]
                if words[0] == python:
                    assert words[1] == "-m" and words[2] in modules, f"{page.name}: {part}"
                else:
                    installs = words[0] == ".venv/bin/pip" or part.startswith("python3 -m venv .venv")
                    assert installs, f"{page.name}: {part}"


def test_the_readmes_run_sweep_and_report_commands_are_the_ones_the_docs_show():
    text = README.read_text()
    [run] = commands(section(text, "Run"))[:1]
    [sweep] = commands(section(text, "Sweep"))
    report = [command for command in commands(section(text, "Analyse")) if " -m analysis report " in command]
    assert run == ".venv/bin/python -m asyncbench"
    assert sweep.startswith(run + " -m ") and sweep in commands((ROOT / "docs" / "sweeps.md").read_text())
    assert len(report) == 1 and report[0] in commands((ROOT / "docs" / "reproducing.md").read_text())
    for page in PAGES:
        for command in commands(page.read_text()):
            if " -m asyncbench" in command:
                assert command.startswith(run), f"{page.name}: {command}"


def documented_asyncbench_commands():
    """The overrides of every `python -m asyncbench` command in README and docs (not `--cfg`, `--help`)."""
    found = []
    for page in PAGES:
        for command in commands(page.read_text()):
            words = shlex.split(command)
            if words[1:3] == ["-m", "asyncbench"] and not any(word.startswith("--") for word in words):
                found.append(pytest.param(words[3:], id=f"{page.name}: {' '.join(words[3:])}"[:120]))
    return found


@pytest.mark.parametrize("arguments", documented_asyncbench_commands())
def test_every_documented_asyncbench_command_composes_into_a_valid_config(arguments):
    """Each override, a sweep at its first value, composes and passes every check: a renamed setting or
    preset in a doc fails here."""
    parser = OverridesParser.create()
    overrides = []
    for argument in (a for a in arguments if a not in ("-m", "--multirun")):
        override = parser.parse_override(argument)
        if override.is_sweep_override():
            argument = f"{override.get_key_element()}={next(iter(override.sweep_string_iterator()))}"
        overrides.append(argument)
    load_config(overrides)


def test_every_report_reads_folders_that_exist_or_that_its_block_writes_first():
    for page in PAGES:
        for language, body in FENCE.findall(page.read_text()):
            written = set()
            for command in commands(f"```{language}\n{body}```\n"):
                words = shlex.split(command)
                outputs = (word for word in words if word.startswith(("hydra.sweep.dir=", "hydra.run.dir=")))
                written |= {word.split("=", 1)[1] for word in outputs}
                if words[1:4] == ["-m", "analysis", "report"]:
                    roots = [word for word in words[4:words.index("--out")] if not word.startswith("--")]
                    for root in roots:
                        assert root in written or (ROOT / root).is_dir(), f"{page.name}: {root} does not exist"


def slug(heading):
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def broken_links(page):
    """Every relative link of a Markdown page (outside code blocks) whose file or #anchor does not exist."""
    text = FENCE.sub("", page.read_text())
    broken = []
    for match in LINK.finditer(text):
        target = match.group(1) or match.group(2)
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(target)
        elif anchor and file.suffix == ".md":
            headings = re.findall(r"^#+ (.+)$", FENCE.sub("", file.read_text()), re.MULTILINE)
            if anchor not in {slug(heading) for heading in headings}:
                broken.append(target)
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    assert broken_links(page) == []


def test_the_link_check_finds_a_missing_file_and_a_missing_heading(tmp_path):
    (tmp_path / "other.md").write_text("# Other\n\n## A section: here\n")
    page = tmp_path / "page.md"
    page.write_text("# Page\n\n[ok](other.md#a-section-here) [self](#page) [web](https://example.org/x)\n"
                    "[gone](missing.md) [no heading](other.md#nowhere) <img src=\"missing.png\">\n"
                    "```bash\n[in code](not-a-link.md)\n```\n")
    assert broken_links(page) == ["missing.md", "other.md#nowhere", "missing.png"]


def test_the_readme_is_short_and_agrees_with_the_config_on_the_default_jobs_time():
    text = README.read_text()
    assert len(text.splitlines()) <= README_MAX_LINES
    first_line = (ROOT / "conf" / "config.yaml").read_text().splitlines()[0]
    duration = re.search(r"about .+? on \d+ cores", first_line).group(0)
    assert duration in " ".join(section(text, "Run").split()), f"README's Run section does not say {duration!r}"
