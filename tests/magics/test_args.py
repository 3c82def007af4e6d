"""%oc_run's option splitting: options up front, the shell command after them untouched."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

from oc_jupyter.magics.args import parse_env, parse_names, split_command
from oc_jupyter.magics.run import RunMagics

PARSER = RunMagics.oc_run.parser


@pytest.mark.parametrize(
    "line, options, command",
    [
        ("ls -la | grep x > out.txt", [], "ls -la | grep x > out.txt"),
        ("--image env echo \"a  b\" 'c'", ["--image", "env"], "echo \"a  b\" 'c'"),
        (
            "--timeout=5 --env A=1 --env 'B=two words' sleep 1",
            ["--timeout=5", "--env", "A=1", "--env", "B=two words"],
            "sleep 1",
        ),
        ("--no-raise-error --keep -- --weird-program --flag", ["--no-raise-error", "--keep"], "--weird-program --flag"),
        ("--shell", ["--shell"], ""),
        ("", [], ""),
    ],
)
def test_split_keeps_the_command_verbatim(line, options, command):
    assert split_command(line, PARSER) == (options, command)


def test_unknown_option_is_a_usage_error():
    with pytest.raises(UsageError, match="Unknown option '--bogus'"):
        split_command("--bogus ls", PARSER)


def test_parsed_options():
    tokens, command = split_command("--timeout 2.5 --env A=1 --cwd /tmp --push a,b true", PARSER)
    args = PARSER.parse_args(tokens)
    assert (args.timeout, args.env, args.cwd, args.push, command) == (2.5, ["A=1"], "/tmp", "a,b", "true")


def test_bad_option_values_are_usage_errors():
    with pytest.raises(UsageError):
        PARSER.parse_args(["--timeout", "soon"])
    with pytest.raises(UsageError, match="KEY=VALUE"):
        parse_env(["NOVALUE"])
    with pytest.raises(UsageError, match="Python names"):
        parse_names("a,not-a-name", "--pull")
    assert parse_env(["A=1", "B=x=y"]) == {"A": "1", "B": "x=y"}
    assert parse_names(" a, b ,", "--push") == ["a", "b"]
