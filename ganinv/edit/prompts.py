"""Text prompts for StyleCLIP: validation, templates and text directions.

StyleCLIP global directions (Patashnik et al., ICCV 2021, Sec. 6) describe an edit by a
pair (neutral, target), e.g. ("face", "smiling face"), and use the normalised difference of
their CLIP embeddings, Delta t = (t_target - t_neutral) / ||.||.  Each embedding is the mean
of unit embeddings of the prompt placed in many sentence templates ("prompt engineering",
Radford et al. 2021, Sec. 3.1.4), renormalised; we use the 80 ImageNet templates CLIP's
authors published (shipped in open_clip), as StyleCLIP does.

CLIP reads at most 77 tokens (start and end tokens included) and was trained on English
captions.  ``check_prompt`` gives clear answers for empty, overlong and (heuristically)
non-English prompts: empty ones raise ``PromptError``; overlong ones are truncated with a
warning (or refused with ``on_overlong="error"``); non-English ones get a warning.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..clip_models import get_tokenizer

# Face-specific short list (our own), cheaper than the 80 ImageNet templates.
FACE_TEMPLATES = ("a photo of a {}.", "a close-up photo of a {}.", "a portrait of a {}.", "a face of a {}.",
                  "a cropped photo of a {}.", "a good photo of a {}.")

# Function words common in other Latin-script languages and absent from English prompts.
_FOREIGN = {"le", "la", "les", "une", "des", "et", "avec", "du", "au", "aux", "der", "das", "und", "mit", "ein",
            "eine", "einem", "einer", "ist", "el", "los", "las", "con", "una", "unos", "il", "lo", "gli", "della",
            "di", "uno", "um", "uma", "com", "het", "een", "van", "met", "och", "ett", "och", "och", "sehr",
            "muy", "très", "sorridente", "sonriente", "souriant", "souriante", "lächelnd", "mujer", "hombre",
            "femme", "homme", "frau", "mann", "donna", "uomo"}
_ENGLISH = {"a", "an", "the", "with", "of", "and", "in", "on", "for", "to", "is", "face", "person", "man",
            "woman", "hair", "smiling", "photo", "very", "old", "young"}


class PromptError(ValueError):
    """A prompt that cannot be used; the message says why and what to type instead."""


@dataclass(frozen=True)
class PromptCheck:
    """A usable prompt and what was noticed about it."""

    text: str                                   # cleaned text fed to CLIP (truncated if it was too long)
    num_tokens: int                             # BPE tokens + start/end tokens, before truncation
    truncated: bool
    warnings: tuple[str, ...] = field(default_factory=tuple)


def _tokenizer():
    return get_tokenizer()


def non_english_reason(text: str) -> str | None:
    """Why ``text`` looks non-English (a heuristic), or None.

    Flags letters outside the Latin script (CJK, Cyrillic, Greek, Arabic ...), prompts where
    accented letters are frequent, and Latin-script prompts dominated by common French,
    German, Spanish, Italian, Portuguese or Dutch function words.
    """
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return None
    non_latin = [c for c in letters if "LATIN" not in unicodedata.name(c, "")]
    if non_latin:
        return f"it contains non-Latin letters ({''.join(sorted(set(non_latin))[:5])})"
    accented = sum(1 for c in letters if ord(c) > 127)
    if accented >= 2 and accented / len(letters) > 0.05:   # one "café" is still English
        return "it contains many accented letters"
    words = re.findall(r"[^\W\d_]+", text.lower())
    foreign = sum(w in _FOREIGN for w in words)
    english = sum(w in _ENGLISH for w in words)
    if foreign and foreign > english:
        return "its words look French, German, Spanish, Italian, Portuguese or Dutch"
    return None


def check_prompt(text: str, *, context_length: int = 77, on_overlong: str = "truncate") -> PromptCheck:
    """Validate one prompt.  Empty -> PromptError; > context_length tokens -> truncate + warn
    (``on_overlong="truncate"``) or PromptError (``"error"``); non-English -> warning."""
    if on_overlong not in ("truncate", "error"):
        raise ValueError("on_overlong must be 'truncate' or 'error'")
    if not isinstance(text, str):
        raise PromptError(f"the prompt must be text, got {type(text).__name__}")
    clean = " ".join(text.split())
    if not clean:
        raise PromptError("the prompt is empty: describe the result in English words, e.g. 'a smiling face'")
    warnings = []
    tok = _tokenizer()
    ids = tok.encode(clean)
    n = len(ids) + 2                                             # + start and end tokens
    truncated = n > context_length
    if truncated:
        keep = context_length - 2
        if on_overlong == "error":
            raise PromptError(f"the prompt is {n} CLIP tokens long; CLIP reads at most {context_length} "
                              f"(including start/end): shorten it to about {keep} tokens")
        clean = tok.decode(ids[:keep]).strip()
        shown = clean if len(clean) <= 80 else clean[:40] + " ... " + clean[-30:]
        warnings.append(f"the prompt was {n} CLIP tokens long and was truncated to the first {keep} tokens "
                        f"(CLIP reads at most {context_length}): '{shown}'")
    reason = non_english_reason(clean)
    if reason:
        warnings.append(f"CLIP was trained on English captions and the prompt looks non-English ({reason}): "
                        "the edit may be weak or wrong; try an English prompt")
    return PromptCheck(clean, n, truncated, tuple(warnings))


def get_templates(templates: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    """"none" -> ("{}",); "face" -> FACE_TEMPLATES; "imagenet" -> CLIP's 80 ImageNet templates;
    or an explicit sequence of format strings with one ``{}``."""
    if templates in (None, "none"):
        return ("{}",)
    if templates == "face":
        return FACE_TEMPLATES
    if templates == "imagenet":
        from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES
        return tuple(t("{}") for t in OPENAI_IMAGENET_TEMPLATES)
    if isinstance(templates, str):
        raise ValueError(f"unknown templates {templates!r}: use 'none', 'face', 'imagenet' or a list of strings")
    out = tuple(templates)
    if not out or any("{}" not in t for t in out):
        raise ValueError("each template must contain '{}' where the prompt goes")
    return out


@torch.no_grad()
def text_embedding(clip, prompt: str, *, templates="none", on_overlong: str = "truncate",
                   batch: int = 32) -> tuple[torch.Tensor, PromptCheck]:
    """Unit CLIP embedding [D] of ``prompt`` averaged over templates, and the prompt check.

    Each templated sentence is embedded and normalised, the mean is renormalised
    (StyleCLIP Sec. 6 / CLIP prompt ensembling).
    """
    chk = check_prompt(prompt, context_length=clip.context_length, on_overlong=on_overlong)
    sentences = [t.format(chk.text) for t in get_templates(templates)]
    embs = torch.cat([clip.encode_text(sentences[i:i + batch]) for i in range(0, len(sentences), batch)])
    return F.normalize(embs.mean(0), dim=0), chk


@torch.no_grad()
def text_direction(clip, neutral: str, target: str, *, templates="imagenet",
                   on_overlong: str = "truncate") -> tuple[torch.Tensor, list[str]]:
    """StyleCLIP's Delta t = normalise(t_target - t_neutral), [D], and any prompt warnings."""
    t_n, c_n = text_embedding(clip, neutral, templates=templates, on_overlong=on_overlong)
    t_t, c_t = text_embedding(clip, target, templates=templates, on_overlong=on_overlong)
    diff = t_t - t_n
    if diff.norm() < 1e-6:
        raise PromptError(f"the neutral and target prompts ('{c_n.text}', '{c_t.text}') have the same CLIP "
                          "embedding: describe what should change in the target")
    warns = [f"neutral: {w}" for w in c_n.warnings] + [f"target: {w}" for w in c_t.warnings]
    return F.normalize(diff, dim=0), warns


__all__ = ["PromptError", "PromptCheck", "check_prompt", "non_english_reason", "get_templates", "text_embedding",
           "text_direction", "FACE_TEMPLATES"]
