"""``python -m medloc`` (e.g. ``accelerate launch -m medloc train ...``) runs the CLI."""

from medloc.app.cli import main

main(prog_name="medloc")
