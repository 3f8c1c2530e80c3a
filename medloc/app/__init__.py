"""The ``medloc`` application: the command line and the jobs it runs.

Built on the library (``medloc`` top level) and the built-in model (:mod:`medloc.builtin`); the
library imports neither. ``medloc train`` is :func:`medloc.app.training.run_training` with
:class:`medloc.app.settings.TrainSettings`; ``python -m medloc`` and the ``medloc`` command run
:func:`medloc.app.cli.main`.

Example:
    >>> from medloc.app.settings import TrainSettings
    >>> TrainSettings(schedule="fixed").schedule
    'fixed'
"""
