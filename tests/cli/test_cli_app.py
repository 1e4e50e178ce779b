"""Global behaviour: --version, completion, help, --store/SKILLCTL_STORE, internal errors and crash reports."""

from __future__ import annotations

from collections.abc import Iterator

import click
import pytest
from cli_helpers import assert_error, ok_json

import skillctl
import skillctl.store.images
from skillctl.cli import main
from skillctl.cli.app import cli
from skillctl.core.errors import ExitCode

COMMANDS = ["validate", "init", "pack", "list", "inspect", "tag", "rm", "prune", "completion"]


def test_version(run):
    result = run("--version", store=False)
    assert result.exit_code == 0
    assert result.stdout == f"skillctl {skillctl.__version__}\n"


def test_version_fast_path_prints_the_same(capsys):
    main(["--version"])
    assert capsys.readouterr().out == f"skillctl {skillctl.__version__}\n"


def test_v_alone_prints_the_version_as_the_go_tool_does(capsys):
    main(["-v"])  # with a command, -v is verbose; alone, scripts written for the Go skillctl get the version
    assert capsys.readouterr().out == f"skillctl {skillctl.__version__}\n"


def test_help_lists_every_command(run):
    result = run("--help", store=False)
    assert result.exit_code == 0
    listed = {line.split()[0] for line in result.stdout.split("Commands:")[1].splitlines() if line.strip()}
    assert set(COMMANDS) <= listed


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(run, command):
    result = run(command, "--help", store=False)
    assert result.exit_code == 0
    assert result.stdout.startswith(f"Usage: skillctl {command} ")


def groups(group: click.Group = cli, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Group]]:
    """The CLI's groups, each with its command path: the top level, then ``collection`` and any other."""
    yield path, group
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            yield from groups(command, (*path, name))


def listed_summaries(help_text: str) -> dict[str, str]:
    """A group's --help command listing: name -> summary, wrapped lines joined."""
    summaries: dict[str, str] = {}
    name = ""
    for line in help_text.split("Commands:\n", 1)[1].splitlines():
        if line.startswith("  ") and line[2] != " ":
            name, _, text = line.strip().partition(" ")
            summaries[name] = text.strip()
        elif line.strip():
            summaries[name] += " " + line.strip()
    return summaries


@pytest.mark.parametrize("width", [80, 60])
def test_help_summaries_stand_alone(runner, width):
    # Click cuts a summary taken from a long first sentence with "...": every command's listing must be whole.
    for path, group in groups():
        result = runner.invoke(cli, [*path, "--help"], terminal_width=width, catch_exceptions=False)
        assert result.exit_code == 0, result.stderr
        summaries = listed_summaries(result.stdout)
        assert sorted(summaries) == group.list_commands(click.Context(group))
        for name, summary in summaries.items():
            assert summary.endswith(".") and not summary.endswith("..."), (*path, name, summary)


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        ("bash", "complete -o nosort -F _skillctl_completion skillctl"),
        ("zsh", "#compdef skillctl"),
        ("fish", "complete --no-files --command skillctl"),
    ],
)
def test_completion_scripts(run, shell, marker):
    result = run("completion", shell, store=False)
    assert result.exit_code == 0
    assert marker in result.stdout
    assert "_SKILLCTL_COMPLETE" in result.stdout


def test_completion_answers(runner):
    from skillctl.cli.app import cli

    env = {"_SKILLCTL_COMPLETE": "bash_complete", "COMP_WORDS": "skillctl pr", "COMP_CWORD": "1"}
    result = runner.invoke(cli, [], env=env, prog_name="skillctl")
    assert result.exit_code == 0
    assert "plain,prune" in result.stdout.splitlines()


def test_completion_of_an_unknown_shell(run):
    result = run("completion", "tcsh", store=False)
    assert result.exit_code == 2 and "Invalid value" in result.stderr


def test_unknown_command(run):
    result = run("frobnicate")
    assert result.exit_code == 2
    assert "No such command 'frobnicate'" in result.stderr


def test_store_env_var(runner, hello, tmp_path):
    from skillctl.cli.app import cli

    env = {"SKILLCTL_STORE": str(tmp_path / "env-store")}
    assert runner.invoke(cli, ["pack", str(hello)], env=env).exit_code == 0
    assert (tmp_path / "env-store" / "index.json").is_file()
    listed = runner.invoke(cli, ["list", "-q"], env=env)
    assert listed.stdout == "examples/hello-world:1.0.0-draft\n"


def test_default_store_is_under_xdg_data_home(runner, hello, isolated_env):
    from skillctl.cli.app import cli

    assert runner.invoke(cli, ["pack", str(hello)]).exit_code == 0
    assert (isolated_env / ".local/share/skillctl/store/index.json").is_file()


def test_verbose_is_accepted(run, hello):
    assert ok_json(run("-v", "pack", hello, "--format", "json"))["ref"] == "examples/hello-world:1.0.0-draft"
    assert run("-vv", "list", "-q").exit_code == 0


@pytest.fixture
def broken_list(monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(skillctl.store.images, "list_images", boom)


def test_internal_error_writes_a_crash_report_and_no_traceback(run, broken_list, isolated_env):
    result = run("list")
    line = assert_error(result, 70, "please report it")
    assert line == "Error: unexpected error (a bug in skillctl): RuntimeError('kaboom')"
    reports = list((isolated_env / ".local/state/skillctl").glob("crash-*.log"))
    assert len(reports) == 1
    assert str(reports[0]) in result.stderr
    text = reports[0].read_text()
    assert "Traceback (most recent call last)" in text
    assert "RuntimeError: kaboom" in text
    assert f"skillctl {skillctl.__version__}" in text


def test_debug_shows_the_traceback(run, broken_list):
    result = run("--debug", "list")
    assert result.exit_code == 70
    assert "Traceback (most recent call last)" in result.stderr
    assert "RuntimeError: kaboom" in result.stderr


def test_exit_codes_are_distinct():
    codes = [int(c) for c in ExitCode]
    assert len(codes) == len(set(codes))
    assert (
        ExitCode.USAGE,
        ExitCode.INVALID,
        ExitCode.NOT_FOUND,
        ExitCode.CONFLICT,
        ExitCode.INTEGRITY,
        ExitCode.INTERNAL,
    ) == (2, 3, 4, 9, 10, 70)
