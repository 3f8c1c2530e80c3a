"""medloc's curriculum in GRPO trainers other than a TRL script with callbacks.

- :mod:`medloc.integrations.trl_cli`: a reward-only entry point for ``trl grpo --reward_funcs``;
  the schedule's state lives in the ``trainer_state`` TRL hands it.
- :mod:`medloc.integrations.ms_swift` (plugin file :mod:`medloc.integrations.swift_plugin`):
  an ms-swift ORM plus a callback around :class:`medloc.IoUCurriculum`.
- :mod:`medloc.integrations.easyr1`: an EasyR1 batch reward function.
- :mod:`medloc.integrations.verl_reward`: a verl reward manager.

All of them share :class:`medloc.integrations.schedule_driver.ScheduleDriver` (score at tau,
learn from a training batch) or :class:`medloc.IoUCurriculum`. Nothing is imported here, so
loading one adapter never imports another trainer's framework.

Example:
    >>> import medloc.integrations
    >>> medloc.integrations.__name__
    'medloc.integrations'
"""
