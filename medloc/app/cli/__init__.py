"""The ``medloc`` command line: ``medloc train``, ``medloc eval`` and ``medloc data``.

Sub-commands are imported only when run, and every module a ``--help`` or ``medloc data formats``
reads imports no torch or transformers (the libraries are imported when a command works), so help
answers at once.

Example::

    $ medloc train --schedule adaptive
    $ medloc data inspect rows.jsonl
"""

from __future__ import annotations

import importlib

import click

from medloc.tasks import task_names

ARGV_KEY = "medloc.argv"
"""Where the command line's arguments are kept in ``click.Context.meta`` (the run records its command)."""

COMMANDS = {
    "train": ("medloc.app.cli.train_cmd", "train",
              "Run GRPO with a reward curriculum, then evaluate held-out rows (every task)."),
    "eval": ("medloc.app.cli.eval_cmd", "eval_command",
             f"Evaluate a saved model on held-out rows, every task ({', '.join(task_names())}): boxes by "
             "A@0.5, A@0.8, pseudo-mAP, mIoU; answers by accuracy."),
    "data": ("medloc.app.cli.data_cmd", "data", "Convert real datasets into medloc's unified jsonl and inspect them."),
}
"""``medloc`` sub-commands: name -> (module, attribute, one-line help)."""


class LazyGroup(click.Group):
    """A click group whose commands live in modules imported on first use (``commands``: name -> (module,
    attribute, one-line help)); the group keeps the raw arguments in ``ctx.meta`` (:data:`ARGV_KEY`)."""

    lazy_commands: dict[str, tuple[str, str, str]] = COMMANDS

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta.setdefault(ARGV_KEY, [*ctx.command_path.split(), *args])
        return super().parse_args(ctx, args)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.lazy_commands)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.lazy_commands:
            return None
        module, attribute, _ = self.lazy_commands[name]
        return getattr(importlib.import_module(module), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, short) for name, (_, _, short) in self.lazy_commands.items()])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="medloc")
def main() -> None:
    """Reward curricula for GRPO fine-tuning of VLMs on medical visual grounding."""
