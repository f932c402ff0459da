"""Every option and argument of every `gridwatch` command says what it is for."""

from __future__ import annotations

import argparse

from app.cli import build_parser

Named = tuple[str, argparse.ArgumentParser]


def _parsers(parser: argparse.ArgumentParser, name: str) -> list[Named]:
    found = [(name, parser)]
    for action in parser._actions:  # argparse keeps its subcommands nowhere public
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                found += _parsers(sub, f"{name} {sub_name}")
    return found


def _described(action: argparse.Action) -> list[tuple[str, str | None]]:
    """(what, its help) of an action; for a subcommand list, of each subcommand."""
    if isinstance(action, argparse._SubParsersAction):
        return [(choice.dest, choice.help) for choice in action._choices_actions]
    return [("/".join(action.option_strings) or action.dest, action.help)]


def test_every_command_option_and_argument_has_help() -> None:
    missing = [
        f"{name}: {what}"
        for name, parser in _parsers(build_parser(), "gridwatch")
        for action in parser._actions
        if not isinstance(action, argparse._HelpAction)
        for what, text in _described(action)
        if not text
    ]
    assert missing == []
