"""``--threads N`` on every command, from one flag definition, held for the whole command."""

from __future__ import annotations

import argparse
import importlib

import pytest
import torch

from ganforge.cli import COMMAND_MODULES, build_parser, main
from ganforge.config import THREADS_HELP


def command_parsers() -> dict[str, argparse.ArgumentParser]:
    """Every (sub)command's own parser: `data list` and the like included."""
    found: dict[str, argparse.ArgumentParser] = {}

    def walk(parser: argparse.ArgumentParser, name: str) -> None:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            found[name] = parser
        for sub in subs:
            for child, child_parser in sub.choices.items():
                walk(child_parser, f"{name} {child}".strip())

    walk(build_parser(), "")
    return found


def test_every_command_has_threads_with_one_help():
    parsers = command_parsers()
    assert {name.split()[0] for name in parsers} == set(COMMAND_MODULES)
    for name, parser in parsers.items():
        flags = [a for a in parser._actions if "--threads" in a.option_strings]
        assert len(flags) == 1, name
        assert flags[0].help.startswith(THREADS_HELP), name


@pytest.mark.parametrize("command", ["compare", "generate", "export", "data"])
def test_the_thread_count_holds_while_the_command_runs(monkeypatch, command):
    seen = []
    module = importlib.import_module(f"ganforge.commands.{command}")
    names = ["run_list"] if command == "data" else ["run"]
    for name in names:
        monkeypatch.setattr(module, name, lambda args: seen.append(torch.get_num_threads()) or 0)
    before = torch.get_num_threads()
    wanted = 3 if before != 3 else 2
    argv = {"compare": ["compare", "somewhere"], "generate": ["generate", "run", "--out", "x.png"], "export": ["export", "run"],
            "data": ["data", "list"]}[command]
    if command == "export":
        argv += ["--out", "x.onnx", "--format", "onnx"]
    assert main([*argv, "--threads", str(wanted)]) == 0
    assert seen == [wanted] and torch.get_num_threads() == before


def test_a_negative_thread_count_is_one_line(capsys):
    assert main(["data", "list", "--threads", "-1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ganforge: error: --threads must be 0") and err.count("\n") == 1
