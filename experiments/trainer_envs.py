"""medloc in other trainers' own environments: install evidence and a real ms-swift GRPO run on CPU.

Run with the trainer environment's Python (medloc installed there with its extra, see
experiments/results/trainer_envs.md for the install lines and the pip-freeze diffs):

    /tmp/venv-swift/bin/python experiments/trainer_envs.py swift-grpo --out /tmp/swift_run

``swift-grpo`` saves the built-in tiny Qwen2-VL model to a folder, writes a small synthetic
grounding dataset in ms-swift's format (``messages`` + ``images`` + medloc's ``boxes`` / ``width``
/ ``height`` columns), runs ``swift rlhf --rlhf_type grpo`` on the CPU with medloc's plugin
(``--external_plugins .../swift_plugin.py --reward_funcs medloc_iou --callbacks medloc_curriculum``,
``MEDLOC_FRAME=qwen2.5-vl``, ``MAX_PIXELS`` set) for a few steps with a checkpoint, then resumes
from that checkpoint for more steps, and prints what it measured: wall time, the ``medloc/*``
metrics ms-swift logged, the schedule state in each checkpoint's ``trainer_state.json``, and the
frame limits the plugin read from ms-swift's qwen_vl_utils settings.

Two things are set for the tiny model only. ms-swift's ``Qwen2VLTemplate`` hard-codes Qwen's
``<|image_pad|>`` id (151655), while the built-in model's character-level vocabulary puts it at a
small id: a second plugin file the script writes sets the template's ids from the tokenizer. And
the model has random weights, so it would sample special tokens (an ``<|image_pad|>`` in a
completion breaks the next forward pass): its generation config suppresses them. The schedule is
``linear`` over the run (tau moves every step whatever the random model scores), so the resume
check has a moving tau to restore. Nothing of medloc is patched.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

TEMPLATE_PATCH = '''"""Benchmark-only: give ms-swift's Qwen2-VL template the tiny model's media token ids."""
from transformers import AutoTokenizer
from swift.template.templates.qwen import Qwen2VLTemplate

_tokenizer = AutoTokenizer.from_pretrained({model!r})
Qwen2VLTemplate.image_token_id = _tokenizer.convert_tokens_to_ids("<|image_pad|>")
Qwen2VLTemplate.video_token_id = _tokenizer.convert_tokens_to_ids("<|video_pad|>")
'''


def save_tiny_model(folder: Path) -> None:
    """The built-in tiny Qwen2-VL (random weights, seed 0) as a model folder ms-swift can load."""
    from medloc.builtin.tiny_model import SPECIAL_TOKENS, build_tiny_vlm

    model, processor = build_tiny_vlm(seed=0)
    special = [processor.tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS]
    model.generation_config.suppress_tokens = sorted(set(special) - {model.generation_config.eos_token_id})
    model.save_pretrained(folder)
    processor.save_pretrained(folder)


def write_dataset(folder: Path, rows: int) -> Path:
    """``rows`` synthetic grounding rows in ms-swift's jsonl format plus medloc's columns."""
    from grounding_data.synthetic import generate_split

    (folder / "images").mkdir(parents=True, exist_ok=True)
    path = folder / "train.jsonl"
    with path.open("w") as out:
        for row in generate_split("train", rows, seed=0):
            image = folder / "images" / f"{row['id']}.png"
            row["image"].save(image)
            prompt = f"<image>Find the {row['phrase']}. Answer with its box [x1, y1, x2, y2] in pixels."
            out.write(json.dumps({"messages": [{"role": "user", "content": prompt}], "images": [str(image)],
                                  "boxes": row["boxes"], "width": row["width"], "height": row["height"]}) + "\n")
    return path


def swift_command(model: Path, data: Path, output: Path, plugins: list[Path], max_steps: int,
                  resume: Path | None = None) -> list[str]:
    command = [
        str(Path(sys.executable).with_name("swift")), "rlhf", "--rlhf_type", "grpo",
        "--model", str(model), "--model_type", "qwen2_vl", "--template", "qwen2_vl",
        "--dataset", str(data), "--split_dataset_ratio", "0", "--tuner_type", "full", "--torch_dtype", "float32",
        "--num_generations", "4", "--per_device_train_batch_size", "4", "--gradient_accumulation_steps", "1",
        "--max_completion_length", "24", "--temperature", "1.0", "--beta", "0", "--learning_rate", "1e-4",
        "--max_steps", str(max_steps), "--save_steps", "2", "--logging_steps", "1", "--save_only_model", "false",
        "--output_dir", str(output), "--add_version", "false", "--report_to", "tensorboard",
        "--dataloader_num_workers", "0", "--use_vllm", "false", "--check_model", "false", "--seed", "0",
        "--external_plugins", *[str(p) for p in plugins],
        "--reward_funcs", "medloc_iou", "--callbacks", "medloc_curriculum",
    ]
    if resume is not None:
        command += ["--resume_from_checkpoint", str(resume)]
    return command


def run_swift(command: list[str], log: Path, env: dict[str, str]) -> tuple[int, float]:
    start = time.perf_counter()
    with log.open("w") as out:
        code = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=env).returncode
    return code, time.perf_counter() - start


def medloc_logs(log: Path) -> list[dict]:
    """ms-swift's per-step log lines (python dicts printed by its logging callback) carrying medloc/ keys."""
    found = []
    for line in log.read_text(errors="replace").splitlines():
        start = line.find("{'")
        if start < 0 or "medloc/threshold" not in line:
            continue
        try:
            found.append(eval(line[start:line.rindex("}") + 1], {"nan": float("nan"), "inf": float("inf")}))
        except (SyntaxError, ValueError, NameError):
            continue
    return found


def checkpoint_states(output: Path) -> dict[str, dict]:
    states = {}
    for state_file in sorted(output.glob("checkpoint-*/trainer_state.json")):
        saved = json.loads(state_file.read_text()).get("stateful_callbacks", {}).get("medloc:iou_curriculum")
        states[state_file.parent.name] = saved
    return states


def swift_grpo(out: Path, steps: int, more_steps: int) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    model, data_dir, output = out / "tiny_qwen2_vl", out / "data", out / "grpo"
    save_tiny_model(model)
    data = write_dataset(data_dir, 32)
    patch = out / "tiny_template_ids.py"
    patch.write_text(TEMPLATE_PATCH.format(model=str(model)))
    import medloc.integrations.swift_plugin as plugin_module

    plugins = [Path(plugin_module.__file__), patch]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
           "MEDLOC_FRAME": "qwen2.5-vl", "MEDLOC_SCHEDULE": "linear",
           "MEDLOC_SCHEDULE_OPTIONS": json.dumps({"total_steps": steps + more_steps}), "MAX_PIXELS": str(112 * 112),
           "HF_HUB_OFFLINE": "1", "MODELSCOPE_OFFLINE": "1"}
    first_code, first_time = run_swift(swift_command(model, data, output, plugins, steps), out / "first.log", env)
    result = {"first_run": {"exit_code": first_code, "seconds": round(first_time, 1), "steps": steps,
                            "medloc_logs": medloc_logs(out / "first.log"),
                            "checkpoints": checkpoint_states(output)}}
    checkpoint = output / f"checkpoint-{steps}"
    if first_code == 0 and checkpoint.is_dir() and more_steps:
        code, seconds = run_swift(swift_command(model, data, output, plugins, steps + more_steps, checkpoint),
                                  out / "resume.log", env)
        result["resumed_run"] = {"exit_code": code, "seconds": round(seconds, 1), "from": checkpoint.name,
                                 "steps": steps + more_steps, "medloc_logs": medloc_logs(out / "resume.log"),
                                 "checkpoints": checkpoint_states(output)}
    frame_lines = [line for line in (out / "first.log").read_text(errors="replace").splitlines()
                   if "medloc" in line.lower() and ("frame" in line.lower() or "error" in line.lower())]
    result["plugin_messages"] = frame_lines[-10:]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    grpo = sub.add_parser("swift-grpo", help="a real ms-swift GRPO run with medloc's plugin on the CPU")
    grpo.add_argument("--out", type=Path, required=True, help="work folder (model, data, logs, checkpoints)")
    grpo.add_argument("--steps", type=int, default=4, help="steps of the first run (checkpoint at its end)")
    grpo.add_argument("--more-steps", type=int, default=2, help="steps after resuming from its checkpoint")
    grpo.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    import importlib.metadata

    result = {"versions": {name: importlib.metadata.version(name)
                           for name in ("ms-swift", "transformers", "trl", "torch", "medloc")},
              **swift_grpo(args.out, args.steps, args.more_steps)}
    text = json.dumps(result, indent=1, default=str)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
