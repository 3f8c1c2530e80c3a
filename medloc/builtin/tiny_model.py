"""The built-in tiny vision-language model: Qwen2-VL architecture, random weights, local tokenizer.

Nothing is downloaded: the model is built from a config, the tokenizer is a character-level
vocabulary built with `tokenizers`, and the processor is a stock `Qwen2VLProcessor`. The result
saves and loads like any checkpoint (`AutoModelForImageTextToText` / `AutoProcessor`).

Example:
    >>> model, processor = build_tiny_vlm(seed=0)
    >>> model.save_pretrained("/tmp/tiny"); processor.save_pretrained("/tmp/tiny")  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import string

import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import (
    GenerationConfig,
    PreTrainedTokenizerFast,
    Qwen2VLConfig,
    Qwen2VLForConditionalGeneration,
    Qwen2VLImageProcessor,
    Qwen2VLProcessor,
    Qwen2VLVideoProcessor,
)

from medloc.builtin import BUILTIN_MODEL, BUILTIN_SCHEDULE_DEFAULTS, is_builtin_model  # noqa: F401 (their old home)

SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
"""Qwen2-VL's special tokens, in Qwen's order (they get ids 0..13 here)."""

TAG_TOKENS = ["<think>", "</think>", "<answer>", "</answer>"]
"""Reasoning-layout tags, single (non-special) tokens so that they survive skip_special_tokens."""

CHARACTERS = [c for c in string.printable if c not in "\x0b\x0c\r"]
"""The character vocabulary: printable ASCII, space, tab and newline."""

NUMBER_TOKENS = [str(i) for i in range(101)] + [f"{i:02d}" for i in range(10)]
"""One token per coordinate value of the 0..100 grid (plus "00".."09"), as location tokens in
Pix2Seq and Florence-2: a coordinate is one prediction, not a digit sequence, and the decoded text
is unchanged (``[12,34,56,78]``). Longer digit runs split into these pieces, so nothing is lost."""

CHARACTER_SPLIT = Regex("(?m).")
NUMBER_SPLIT = Regex(r"100|\d{1,2}|(?m).")

CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "<|im_start|>{{ message['role'] + '\\n' }}"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' or 'image' in part or 'image_url' in part -%}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{%- elif part['type'] == 'video' or 'video' in part -%}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{%- elif 'text' in part -%}{{ part['text'] }}"
    "{%- endif -%}{%- endfor -%}{%- endif -%}"
    "<|im_end|>{{ '\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|im_start|>assistant{{ '\\n' }}{%- endif -%}"
)
"""Qwen2-VL's chat template without the default system prompt (it would cost ~30 tokens a row)."""


@dataclasses.dataclass(frozen=True)
class TinyVLMSize:
    """Sizes of the tiny model. ``merge_size=1`` gives 64 image tokens of 14 px for a 112 px image
    (an 8x8 grid; Qwen's default 2 gives 16 tokens of 28 px, coarse for 12-40 px lesions), and
    ``number_tokens`` makes every coordinate value one token; both measured in
    ``experiments/results/warmstart_findings.md``.

    Example:
        >>> TinyVLMSize(hidden_size=96).num_heads
        4
    """

    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 2
    intermediate_size: int = 128
    vision_depth: int = 2
    vision_width: int = 64
    vision_heads: int = 4
    patch_size: int = 14
    merge_size: int = 1
    image_size: int = 112
    rope_theta: float = 10.0
    max_position_embeddings: int = 1024
    number_tokens: bool = True


def build_tokenizer(number_tokens: bool = True) -> PreTrainedTokenizerFast:
    """Character-level tokenizer with the Qwen special tokens, reasoning tags and chat template.

    With ``number_tokens`` every number 0..100 is one token (see :data:`NUMBER_TOKENS`); without,
    every digit is a character token.

    Example:
        >>> tok = build_tokenizer()
        >>> tok.convert_ids_to_tokens(tok("[7,42,100]")["input_ids"])
        ['[', '7', ',', '42', ',', '100', ']']
        >>> tok.decode(tok("<answer>[1,2]</answer>")["input_ids"])
        '<answer>[1,2]</answer>'
    """
    tokens = SPECIAL_TOKENS + TAG_TOKENS + (NUMBER_TOKENS if number_tokens else []) + CHARACTERS
    vocab: dict[str, int] = {}
    for token in tokens:
        vocab.setdefault(token, len(vocab))
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<|endoftext|>"))
    split = NUMBER_SPLIT if number_tokens else CHARACTER_SPLIT
    backend.pre_tokenizer = pre_tokenizers.Split(split, behavior="isolated")
    backend.decoder = decoders.Fuse()
    backend.add_special_tokens(SPECIAL_TOKENS)
    backend.add_tokens(TAG_TOKENS)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        padding_side="right",
        model_max_length=TinyVLMSize.max_position_embeddings,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_processor(size: TinyVLMSize | None = None) -> Qwen2VLProcessor:
    """Qwen2VLProcessor (image + video processor + char tokenizer) sized for the tiny model.

    Every image is resized to about `size.image_size ** 2` pixels (multiples of patch*merge).

    Example:
        >>> build_processor().image_processor.merge_size
        1
    """
    size = size or TinyVLMSize()
    pixels = size.image_size**2
    vision = dict(
        min_pixels=pixels,
        max_pixels=pixels,
        patch_size=size.patch_size,
        merge_size=size.merge_size,
        temporal_patch_size=2,
    )
    return Qwen2VLProcessor(
        image_processor=Qwen2VLImageProcessor(**vision),
        tokenizer=build_tokenizer(size.number_tokens),
        video_processor=Qwen2VLVideoProcessor(**vision),
        chat_template=CHAT_TEMPLATE,
    )


def build_config(tokenizer: PreTrainedTokenizerFast, size: TinyVLMSize) -> Qwen2VLConfig:
    """Qwen2VLConfig for `size` with every token id taken from `tokenizer`.

    Example:
        >>> build_config(build_tokenizer(), TinyVLMSize()).text_config.rope_parameters["rope_theta"]
        10.0
    """
    half_head = size.hidden_size // size.num_heads // 2
    temporal = max(1, half_head // 4)  # Qwen splits head_dim / 2 as 1/4 time, 3/8 height, 3/8 width
    height = (half_head - temporal) // 2
    mrope_section = [temporal, height, half_head - temporal - height]
    ids = tokenizer.convert_tokens_to_ids
    text_config = dict(
        vocab_size=len(tokenizer),
        hidden_size=size.hidden_size,
        intermediate_size=size.intermediate_size,
        num_hidden_layers=size.num_layers,
        num_attention_heads=size.num_heads,
        num_key_value_heads=size.num_kv_heads,
        max_position_embeddings=size.max_position_embeddings,
        max_window_layers=size.num_layers,
        rope_parameters={
            "rope_type": "default",
            "mrope_section": mrope_section,
            "rope_theta": float(size.rope_theta),
        },
        bos_token_id=ids("<|endoftext|>"),
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    vision_config = dict(
        depth=size.vision_depth,
        embed_dim=size.vision_width,
        hidden_size=size.hidden_size,
        num_heads=size.vision_heads,
        mlp_ratio=2,
        patch_size=size.patch_size,
        spatial_merge_size=size.merge_size,
        temporal_patch_size=2,
    )
    config = Qwen2VLConfig(
        text_config=text_config,
        vision_config=vision_config,
        image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
    )
    config.bos_token_id = text_config["bos_token_id"]
    config.eos_token_id = tokenizer.eos_token_id
    config.pad_token_id = tokenizer.pad_token_id
    return config


def build_tiny_vlm(seed: int = 0, **size_overrides) -> tuple[Qwen2VLForConditionalGeneration, Qwen2VLProcessor]:
    """Build the tiny Qwen2-VL model (random weights, deterministic from `seed`) and its processor.

    `size_overrides` are TinyVLMSize fields (hidden_size, num_layers, vision_depth, ...). The
    global torch RNG is left untouched.

    Example:
        >>> model, processor = build_tiny_vlm(seed=0, num_layers=1)
        >>> model.config.text_config.num_hidden_layers
        1
    """
    known = {f.name for f in dataclasses.fields(TinyVLMSize)}
    unknown = sorted(set(size_overrides) - known)
    if unknown:
        raise ValueError(f"build_tiny_vlm: unknown size option(s) {unknown}; known: {sorted(known)}")
    size = TinyVLMSize(**size_overrides)
    if size.hidden_size % size.num_heads or (size.hidden_size // size.num_heads) % 2:
        raise ValueError(
            f"build_tiny_vlm: hidden_size={size.hidden_size} must split into num_heads={size.num_heads} "
            "heads of even size"
        )
    processor = build_processor(size)
    tokenizer = processor.tokenizer
    config = build_config(tokenizer, size)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2VLForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        do_sample=False,
        max_new_tokens=64,
    )
    model.eval()
    return model, processor
