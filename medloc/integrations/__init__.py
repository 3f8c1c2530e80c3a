"""medloc's curriculum in GRPO trainers other than a TRL script with callbacks.

- :mod:`medloc.integrations.trl_cli`: a reward-only entry point for ``trl grpo --reward_funcs``;
  the schedule's state lives in the ``trainer_state`` TRL hands it.
- :mod:`medloc.integrations.ms_swift` (plugin file :mod:`medloc.integrations.swift_plugin`):
  an ms-swift ORM plus a callback around :class:`medloc.IoUCurriculum`.
- :mod:`medloc.integrations.easyr1`: an EasyR1 batch reward function.
- :mod:`medloc.integrations.verl_reward`: a verl reward manager.

All of them run on the curriculum core (:class:`medloc.curriculum_core.CurriculumCore`: rewards at
tau, one schedule step per training batch, the ``medloc/*`` metrics), through
:class:`medloc.integrations.schedule_driver.ScheduleDriver` or :class:`medloc.IoUCurriculum`. A new
trainer adapter is one module here: it decides which batches are training batches, gathers their
scores with group ids, hands them to the core and keeps the core's ``state_dict`` where the trainer
keeps checkpoints. It reads the ``qwen2.5-vl`` frame's pixel limits from its trainer
(:mod:`medloc.integrations.pixel_limits`) and hands the core that frame. Nothing is imported here,
so loading one adapter never imports another trainer's framework.

Trainers that carry one ground-truth string per sample (EasyR1, verl) share its JSON form (EasyR1's
adds the row's split, :func:`medloc.integrations.easyr1.ground_truth_json`):

Example:
    >>> from medloc.integrations.schedule_driver import ground_truth_json
    >>> ground_truth_json({"boxes": [[0, 0, 8, 8]], "width": 32, "height": 32, "id": "r1"})
    '{"boxes": [[0, 0, 8, 8]], "width": 32, "height": 32, "id": "r1"}'
"""
