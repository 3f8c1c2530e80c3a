"""The file to pass to ms-swift: ``--external_plugins`` this file, then
``--reward_funcs medloc_iou --callbacks medloc_curriculum`` (see docs/trainers.md, "ms-swift").

ms-swift imports it by path; it registers medloc's reward and callback (the classes live in
:mod:`medloc.integrations.ms_swift`, so their shared state is the same whichever way they are
imported). Loaded by an ms-swift that has no ``swift.rewards`` / ``swift.callbacks`` tables (3.x),
it raises, naming the installed version.

Example:
    >>> import importlib.util
    >>> REGISTERED == (importlib.util.find_spec("swift") is not None)  # ms-swift installed: registered
    True
"""

from medloc.integrations.ms_swift import register

REGISTERED = register()
