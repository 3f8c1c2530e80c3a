"""The ``medloc`` command line: ``medloc train``, ``medloc eval`` and ``medloc data``.

Sub-commands are imported only when run, so ``medloc --help`` does not load torch.

Example::

    $ medloc train --schedule adaptive
    $ medloc data inspect rows.jsonl
"""

from __future__ import annotations

import importlib

import click

COMMANDS = {
    "train": ("medloc.app.cli.train_cmd", "train", "Run GRPO with a reward curriculum, then evaluate held-out rows."),
    "eval": ("medloc.app.cli.eval_cmd", "eval_command", "Evaluate a model's boxes: A@0.5, A@0.8, pseudo-mAP, mIoU."),
    "data": ("medloc.app.cli.data_cmd", "data", "Convert real datasets into medloc's unified jsonl and inspect them."),
}


class LazyGroup(click.Group):
    """A click group whose commands live in modules imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attribute, _ = COMMANDS[name]
        return getattr(importlib.import_module(module), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, short) for name, (_, _, short) in COMMANDS.items()])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="medloc")
def main() -> None:
    """Reward curricula for GRPO fine-tuning of VLMs on medical visual grounding."""
