"""README's quick start, the CI script that runs it, and the example scripts."""

import pathlib
import re
import runpy

from keras_vit_cli.parser import build_parser


ROOT = pathlib.Path(__file__).resolve().parents[1]


def _quick_start_commands():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("##", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_quick_start_is_two_commands_install_and_train_then_install_and_test():
    commands = _quick_start_commands()
    assert len(commands) == 2
    assert commands[0].startswith("pip install ") and "keras-vit train" in commands[0]
    assert commands[1].startswith("pip install ") and "[test]" in commands[1] and "pytest" in commands[1]


def test_ci_runs_the_readme_test_command():
    script = (ROOT / ".ci" / "run").read_text()
    pattern = re.search(r"grep -m1 -E '(.*?)' README.md", script).group(1)
    readme_lines = (ROOT / "README.md").read_text().splitlines()
    matches = [line for line in readme_lines if re.search(pattern, line)]
    assert matches and matches[0] == _quick_start_commands()[1]


def test_fit_digits_example_runs(capsys):
    example = runpy.run_path(str(ROOT / "examples" / "fit_digits.py"))
    accuracy = example["main"](epochs=1, batch_size=256)
    assert 0.0 <= accuracy <= 1.0
    assert "Test accuracy:" in capsys.readouterr().out


def test_every_train_option_the_readme_shows_exists():
    parser = build_parser()
    train_parser = next(action for action in parser._subparsers._group_actions)._name_parser_map["train"]
    known = {flag for action in train_parser._actions for flag in action.option_strings}
    lines = [line for line in (ROOT / "README.md").read_text().splitlines() if "keras-vit train" in line]
    commands = [line.split("keras-vit train", 1)[1].split("`")[0] for line in lines]  # up to an inline code end
    shown = {flag for command in commands for flag in re.findall(r"(--[a-z][a-z-]*)", command)}
    assert len(shown) >= 8 and shown <= known, shown - known


def _option_strings(parser):
    """Every option of `parser` and of its sub-commands (e.g. data-service's dispatcher and worker)."""
    options = {flag for action in parser._actions for flag in action.option_strings}
    for action in parser._actions:
        for sub_parser in getattr(action, "_name_parser_map", {}).values():
            options |= _option_strings(sub_parser)
    return options


def test_every_command_and_option_the_readmes_show_exists():
    commands = next(action for action in build_parser()._subparsers._group_actions)._name_parser_map
    known = {name: _option_strings(parser) for name, parser in commands.items()}
    shown = []
    for readme in (ROOT / "README.md", ROOT / "benchmarks" / "README.md"):
        for line in readme.read_text().splitlines():
            for match in re.finditer(r"keras-vit ([a-z][a-z-]*)([^`]*)", line):  # up to an inline code end
                arguments = match.group(2).split("keras-vit ")[0]
                shown += [(match.group(1), flag) for flag in re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", arguments)]
    assert len(shown) >= 30
    unknown = [(command, flag) for command, flag in shown if flag not in known.get(command, ())]
    assert not unknown, unknown
