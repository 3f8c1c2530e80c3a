"""Does EasyR1's config loading (OmegaConf.from_cli, merge into a structured dataclass, to_object)
resolve ${...} interpolations inside worker.reward.reward_function_kwargs?"""
from dataclasses import dataclass, field
from typing import Optional
from omegaconf import OmegaConf

@dataclass
class DataConfig:
    min_pixels: Optional[int] = 262144
    max_pixels: Optional[int] = 4194304

@dataclass
class RewardConfig:
    reward_function: Optional[str] = None
    reward_function_kwargs: dict = field(default_factory=dict)

@dataclass
class ModelConfig:
    model_path: Optional[str] = None

@dataclass
class ActorConfig:
    model: ModelConfig = field(default_factory=ModelConfig)

@dataclass
class WorkerConfig:
    actor: ActorConfig = field(default_factory=ActorConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)

@dataclass
class TrainerConfig:
    save_checkpoint_path: Optional[str] = None
    load_checkpoint_path: Optional[str] = None
    find_last_checkpoint: bool = True

@dataclass
class PPOConfig:
    data: DataConfig = field(default_factory=DataConfig)
    worker: WorkerConfig = field(default_factory=WorkerConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)

args = ["data.max_pixels=1003520", "worker.actor.model.model_path=Qwen/Qwen2.5-VL-3B-Instruct",
        "trainer.save_checkpoint_path=/abs/run1",
        'worker.reward.reward_function_kwargs={frame: qwen2.5-vl, processor: "${worker.actor.model.model_path}", '
        'min_pixels: "${data.min_pixels}", max_pixels: "${data.max_pixels}", '
        'checkpoint_dir: "${trainer.save_checkpoint_path}", resume_from: "${trainer.load_checkpoint_path}", '
        'find_last_checkpoint: "${trainer.find_last_checkpoint}"}']
cli = OmegaConf.from_cli(args)
config = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(PPOConfig()), cli))
print(config.worker.reward.reward_function_kwargs)
