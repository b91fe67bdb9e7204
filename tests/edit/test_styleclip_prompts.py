"""Prompt checks and text directions (StyleCLIP Sec. 6 prompt averaging)."""
from __future__ import annotations

import pytest
import torch

from ganinv.clip_models import tiny_clip
from ganinv.edit.prompts import (PromptError, check_prompt, get_templates, non_english_reason, text_direction,
                                 text_embedding)


@pytest.fixture(scope="module")
def clip():
    return tiny_clip(seed=0)


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
def test_empty_prompt_is_refused_clearly(text):
    with pytest.raises(PromptError, match="empty"):
        check_prompt(text)


def test_whitespace_is_collapsed_and_english_passes_quietly():
    chk = check_prompt("  a   smiling\nface ")
    assert chk.text == "a smiling face" and not chk.truncated and chk.warnings == ()
    assert chk.num_tokens == 3 + 2


def test_overlong_prompt_is_truncated_with_a_warning_or_refused():
    long = "a very happy smiling face with curly hair " * 12
    chk = check_prompt(long)
    assert chk.truncated and chk.num_tokens > 77
    assert any("truncated" in w and "77" in w for w in chk.warnings)
    assert check_prompt(chk.text).num_tokens <= 77                 # what is fed to CLIP fits
    with pytest.raises(PromptError, match=r"at most 77"):
        check_prompt(long, on_overlong="error")


@pytest.mark.parametrize("text", ["une femme souriante", "улыбающееся лицо", "笑脸",
                                  "ein lächelnder Mann mit Bart"])
def test_non_english_prompts_get_a_warning(text):
    chk = check_prompt(text)
    assert any("English" in w for w in chk.warnings)


@pytest.mark.parametrize("text", ["a smiling face", "an old man with a beard", "face with blue eyes", "café owner"])
def test_english_prompts_get_no_language_warning(text):
    assert non_english_reason(text) is None


def test_templates():
    assert get_templates("none") == ("{}",)
    assert len(get_templates("imagenet")) == 80 and all("{}" in t for t in get_templates("imagenet"))
    with pytest.raises(ValueError):
        get_templates(["no placeholder"])


def test_text_embedding_is_the_renormalised_template_mean(clip):
    tpl = ("a photo of a {}.", "a drawing of a {}.")
    emb, _ = text_embedding(clip, "cat", templates=tpl)
    each = clip.encode_text([t.format("cat") for t in tpl])
    want = each.mean(0) / each.mean(0).norm()
    assert torch.allclose(emb, want, atol=1e-6)


def test_text_direction_is_unit_and_antisymmetric(clip):
    d, warns = text_direction(clip, "face", "smiling face", templates="face")
    back, _ = text_direction(clip, "smiling face", "face", templates="face")
    assert abs(float(d.norm()) - 1) < 1e-5 and torch.allclose(d, -back, atol=1e-5) and warns == []
    with pytest.raises(PromptError, match="same CLIP embedding"):
        text_direction(clip, "face", " face ")
