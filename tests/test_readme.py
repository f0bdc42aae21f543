"""The README's shell commands, read as a newcomer pastes them.

Each ``clonesquad-interact`` command line of the README's ``shell`` blocks is
parsed by the command line's own parser (an option the program lacks fails
here), ``sam deploy`` names only parameters the template declares, and the
build command targets the template's runtime and architecture. The commands
that need a server or AWS run in their own end-to-end tests (``test_serve*``,
``test_stack``).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from cfnlint.decode import decode  # type: ignore[import-untyped]

from clonesquad_interact.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TEMPLATE = ROOT / "deploy" / "template.yaml"


def shell_commands() -> list[list[str]]:
    """Every simple command of the README's ``shell`` blocks, as words."""
    text = README.read_text(encoding="utf-8")
    commands: list[list[str]] = []
    for block in re.findall(r"```shell\n(.*?)```", text, flags=re.DOTALL):
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            words: list[str] = []
            # '<...>' placeholders stay words: only a separate operator ends a command
            for word in [*shlex.split(line), ";"]:
                if word in (";", "&&", "|", "||", ">", ">>"):
                    if words:
                        commands.append(words)
                    words = []
                else:
                    words.append(word)
    return commands


def _ours() -> list[list[str]]:
    return [words[1:] for words in shell_commands() if words[0] == "clonesquad-interact"]


def test_the_readme_has_commands_of_ours():
    assert len(_ours()) >= 5


@pytest.mark.parametrize("args", _ours(), ids=" ".join)
def test_each_clonesquad_interact_command_is_one_the_program_accepts(args, capsys):
    try:
        build_parser().parse_args(args)
    except SystemExit as exit:
        pytest.fail(f"clonesquad-interact {shlex.join(args)}: {capsys.readouterr().err} ({exit})")


def _template() -> dict[str, object]:
    loaded, problems = decode(str(TEMPLATE))
    assert not problems, problems
    return dict(loaded)


def test_sam_deploy_names_only_the_templates_parameters():
    declared = set(_template()["Parameters"])  # type: ignore[call-overload]
    deploys = [w for w in shell_commands() if w[:2] == ["sam", "deploy"]]
    assert len(deploys) == 2  # a deployment of its own, and one that takes over
    adopting: set[str] = set()
    for words in deploys:
        assert words[words.index("--template-file") + 1] == "deploy/template.yaml"
        overrides = words[words.index("--parameter-overrides") + 1 :]
        names = {word.split("=", 1)[0] for word in overrides if not word.startswith("--")}
        assert names <= declared, names - declared
        adopting |= names
    # taking over names every existing resource the template can adopt
    can_adopt = {p for p in declared if p.endswith(("TableName", "QueueArn"))}
    assert can_adopt <= adopting, can_adopt - adopting


def test_the_build_targets_the_functions_runtime_and_architecture():
    globals_ = _template()["Globals"]["Function"]  # type: ignore[index]
    runtime, (architecture,) = globals_["Runtime"], globals_["Architectures"]
    (install,) = [
        w for w in shell_commands() if w[:5] == ["python3", "-m", "pip", "install", "--target"]
    ]
    assert install[install.index("--python-version") + 1] == runtime.removeprefix("python")
    machine = {"arm64": "aarch64", "x86_64": "x86_64"}[architecture]
    assert install[install.index("--platform") + 1] == f"manylinux2014_{machine}"
    assert install[install.index("--target") + 1] == "deploy/package"
    assert globals_["CodeUri"] == "package/"
