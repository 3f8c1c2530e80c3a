"""The built-in model: a tiny Qwen2-VL built locally (:mod:`~medloc.builtin.tiny_model`) and its
supervised warm start on synthetic data (:mod:`~medloc.builtin.warmstart`).

``medloc train`` uses it by default (``--model medloc/tiny-qwen2-vl``); it answers in the
``grid-100`` frame (its number tokens are 0..100). It builds on the library; the library never imports it.

Example:
    >>> from medloc.builtin.tiny_model import is_builtin_model
    >>> is_builtin_model("medloc/tiny-qwen2-vl")
    True
"""
