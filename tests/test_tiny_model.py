"""The built-in tiny Qwen2-VL: save/load round trip, eos handling, determinism, tokenizer."""

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor

from medloc.builtin.tiny_model import BUILTIN_MODEL, build_tiny_vlm, build_tokenizer, is_builtin_model


def _inputs(processor, text="Box the bright lesion."):
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (112, 112), dtype=np.uint8)).convert("RGB")
    messages = [{"role": "user", "content": [{"type": "text", "text": text}, {"type": "image"}]}]
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return processor(text=[prompt], images=[image], return_tensors="pt")


def test_builtin_name():
    assert is_builtin_model(BUILTIN_MODEL)
    assert is_builtin_model(None)
    assert not is_builtin_model("Qwen/Qwen2-VL-2B-Instruct")


def test_sizes_follow_reference():
    model, processor = build_tiny_vlm(seed=0)
    text, vision = model.config.text_config, model.config.vision_config
    assert (text.hidden_size, text.num_hidden_layers) == (64, 2)
    assert (vision.depth, vision.embed_dim, vision.patch_size, vision.spatial_merge_size) == (2, 64, 14, 1)
    assert text.rope_parameters["rope_theta"] == 10.0
    assert sum(text.rope_parameters["mrope_section"]) == text.hidden_size // text.num_attention_heads // 2
    inputs = _inputs(processor)
    assert int((inputs["input_ids"] == model.config.image_token_id).sum()) == 64  # an 8x8 grid of 14 px tokens
    assert sum(p.numel() for p in model.parameters()) < 500_000


def test_token_ids_match_tokenizer():
    model, processor = build_tiny_vlm(seed=0)
    tok = processor.tokenizer
    assert model.config.text_config.vocab_size == len(tok)
    assert model.generation_config.eos_token_id == tok.eos_token_id == tok.convert_tokens_to_ids("<|im_end|>")
    assert model.generation_config.pad_token_id == tok.pad_token_id
    assert model.config.image_token_id == tok.convert_tokens_to_ids("<|image_pad|>")


def test_tokenizer_round_trips_text_and_tags():
    tok = build_tokenizer()
    text = "<think>the left one\tis\nbright</think> <answer>[12, 30, 40, 61]</answer>"
    ids = tok(text)["input_ids"]
    assert tok.decode(ids) == text
    assert len(tok("<answer>")["input_ids"]) == 1
    assert "<answer>" in tok.decode(ids, skip_special_tokens=True)


def test_each_coordinate_value_is_one_token_and_decodes_unchanged():
    tok = build_tokenizer()
    ids = tok("[7,42,100,05]")["input_ids"]
    assert tok.convert_ids_to_tokens(ids) == ["[", "7", ",", "42", ",", "100", ",", "05", "]"]
    assert tok.decode(ids) == "[7,42,100,05]"
    long_number = tok("12345")["input_ids"]
    assert tok.convert_ids_to_tokens(long_number) == ["12", "34", "5"] and tok.decode(long_number) == "12345"
    assert tok.unk_token_id not in tok("any text 0-100 [1, 2, 3, 4]")["input_ids"]


def test_character_tokenizer_is_still_available():
    tok = build_tokenizer(number_tokens=False)
    assert tok.convert_ids_to_tokens(tok("[42]")["input_ids"]) == ["[", "4", "2", "]"]


def test_unknown_size_option_is_named():
    with pytest.raises(ValueError, match="hidden_sise"):
        build_tiny_vlm(seed=0, hidden_sise=32)


def test_deterministic_by_seed():
    a, _ = build_tiny_vlm(seed=3)
    b, _ = build_tiny_vlm(seed=3)
    c, _ = build_tiny_vlm(seed=4)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_save_load_round_trip_identical_outputs(tmp_path):
    model, processor = build_tiny_vlm(seed=0)
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    loaded = AutoModelForImageTextToText.from_pretrained(tmp_path)
    loaded_processor = AutoProcessor.from_pretrained(tmp_path)
    inputs = _inputs(processor)
    loaded_inputs = _inputs(loaded_processor)
    assert all(torch.equal(inputs[k], loaded_inputs[k]) for k in inputs)
    with torch.no_grad():
        assert torch.equal(model(**inputs).logits, loaded(**loaded_inputs).logits)
    out = model.generate(**inputs, max_new_tokens=12, do_sample=False)
    loaded_out = loaded.generate(**loaded_inputs, max_new_tokens=12, do_sample=False)
    assert torch.equal(out, loaded_out)
    assert loaded.generation_config.eos_token_id == loaded_processor.tokenizer.eos_token_id


def test_generation_stops_at_eos():
    model, processor = build_tiny_vlm(seed=0)
    eos = processor.tokenizer.eos_token_id

    def favour_eos(_module, _args, logits):
        logits[..., eos] += 1e4
        return logits

    model.lm_head.register_forward_hook(favour_eos)
    inputs = _inputs(processor)
    out = model.generate(**inputs, max_new_tokens=20, do_sample=False)
    assert out.shape[1] == inputs["input_ids"].shape[1] + 1
    assert int(out[0, -1]) == eos
