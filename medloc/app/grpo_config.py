"""The ``GRPOConfig`` of a run, built once from its settings (``--grpo KEY=VALUE`` overrides).

Example:
    >>> from pathlib import Path
    >>> from medloc.app.settings import TrainSettings
    >>> grpo_arguments(TrainSettings(max_steps=6), Path("run")).save_steps
    2
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from medloc.app.settings import SettingsError, TrainSettings
from medloc.builtin import is_builtin_model


def grpo_arguments(settings: TrainSettings, output_dir: Path) -> Any:
    """The ``GRPOConfig`` of the run; ``settings.grpo`` overrides everything medloc sets."""
    from trl import GRPOConfig

    options: dict[str, Any] = dict(
        output_dir=str(output_dir),
        max_steps=settings.max_steps,
        per_device_train_batch_size=settings.prompts_per_step * settings.num_generations,
        num_generations=settings.num_generations,
        learning_rate=settings.learning_rate,
        temperature=settings.temperature,
        beta=settings.beta,
        max_completion_length=settings.max_completion_length,
        seed=settings.seed,
        logging_steps=1,
        save_strategy="steps",
        save_steps=max(1, settings.max_steps // 3),
        save_total_limit=2,
        report_to=["tensorboard"],
        use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0,
        disable_tqdm=False,
    )
    # the current name of TRL's gradient_checkpointing default (the old name warns at every save);
    # a 0.3M-parameter model does not need it, a real VLM does
    options["activation_checkpointing"] = not is_builtin_model(settings.model)
    if is_builtin_model(settings.model):
        # float32 like its warm start; a short warmup avoids the dip Adam's first full-size steps
        # cause in held-out mIoU (experiments/results/warmstart_findings.md)
        options.update(bf16=False, fp16=False, warmup_steps=0.1)
    options.update(settings.grpo)
    try:
        config = GRPOConfig(**options)
    except (TypeError, ValueError) as error:
        raise SettingsError("--grpo", f"GRPOConfig rejected the settings: {error}") from None
    if config.scale_rewards not in ("group", "batch", "none"):  # TRL checks this only at the first step
        raise SettingsError("--grpo", f"scale_rewards must be group, batch or none, got {config.scale_rewards!r}")
    return config
