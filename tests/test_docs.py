"""Check docs/cli.md against the real argument parser, so the reference cannot drift."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from statelog.cli import build_parser

CLI_DOC = Path(__file__).resolve().parent.parent / "docs" / "cli.md"
# A command's section starts with a heading such as: ## `statelog state-at`
COMMAND_HEADING = re.compile(r"`statelog ([a-z][a-z-]*)`")
# Long options such as --from-version. The lookbehind skips markdown rules such as |---|.
LONG_OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
# The worked example shows each command as a shell line: $ statelog ...
PROMPT = "$ statelog "


def subcommands() -> dict[str, argparse.ArgumentParser]:
    """Return the public subcommands of build_parser() by name, leaving out internal `_` ones."""
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {name: sub for name, sub in action.choices.items() if not name.startswith("_")}


def long_options(parser: argparse.ArgumentParser) -> set[str]:
    return {
        option
        for action in parser._actions
        for option in action.option_strings
        if option.startswith("--")
    }


def sections(text: str) -> dict[str, str]:
    """Return the body under each level-2 heading, keyed by the heading text.

    Lines inside fenced code blocks never start a section, so a shell comment
    such as "## note" in an example stays part of its section.
    """
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    in_fence = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_fence = not in_fence
        if not in_fence and line.startswith("## "):
            current = found.setdefault(line[3:].strip(), [])
            continue
        if current is not None:
            current.append(line)
    return {heading: "\n".join(lines) for heading, lines in found.items()}


def without_code_blocks(body: str) -> str:
    """Return ``body`` without its fenced code blocks, to look at the prose alone."""
    return re.sub(r"^```.*?^```", "", body, flags=re.MULTILINE | re.DOTALL)


def command_sections() -> dict[str, str]:
    result = {}
    for heading, body in sections(CLI_DOC.read_text(encoding="utf-8")).items():
        match = COMMAND_HEADING.fullmatch(heading)
        if match:
            result[match.group(1)] = body
    return result


def example_command_lines() -> list[str]:
    """Return the `$ statelog ...` lines of the worked example, without the prompt's `$ `."""
    bodies = [
        body
        for heading, body in sections(CLI_DOC.read_text(encoding="utf-8")).items()
        if heading.startswith("Worked example")
    ]
    assert len(bodies) == 1, "docs/cli.md needs exactly one '## Worked example' section"
    return [line[2:] for line in bodies[0].splitlines() if line.startswith(PROMPT)]


COMMANDS = sorted(subcommands())


def test_every_command_has_section() -> None:
    documented = set(command_sections())

    assert set(COMMANDS) - documented == set(), "commands without a section in docs/cli.md"
    assert documented - set(COMMANDS) == set(), "sections in docs/cli.md for unknown commands"


@pytest.mark.parametrize("name", COMMANDS)
def test_documented_options_exist(name: str) -> None:
    body = command_sections().get(name, "")
    mentioned = set(LONG_OPTION.findall(body))

    unknown = mentioned - long_options(subcommands()[name])

    assert unknown == set(), f"docs/cli.md mentions options that `statelog {name}` lacks"


@pytest.mark.parametrize("name", COMMANDS)
def test_parser_options_are_documented(name: str) -> None:
    # The synopsis in a code block does not count: each option needs its own description.
    prose = without_code_blocks(command_sections().get(name, ""))
    mentioned = set(LONG_OPTION.findall(prose))

    missing = long_options(subcommands()[name]) - {"--help"} - mentioned

    assert missing == set(), f"the section of `statelog {name}` in docs/cli.md omits options"


def test_example_commands_parse() -> None:
    lines = example_command_lines()
    parser = build_parser()

    assert len(lines) >= 5, "the worked example should show its commands as `$ statelog ...`"
    for line in lines:
        # Only the statelog part of a pipeline, as in `statelog ... --json | tail -n 1`.
        command = line.split(" | ", 1)[0]
        argv = shlex.split(command)[1:]
        try:
            args = parser.parse_args(argv)
        except SystemExit:
            pytest.fail(f"the worked example's command does not parse: {command}")
        assert args.command == argv[0], command
