"""Metadata is JSON all the way down: every file we write holds plain JSON objects with a versioned
format (no Python reprs or JSON inside strings), and files written by earlier versions still load."""
from __future__ import annotations

import json
import os
import re

import numpy as np
import torch

from ganinv.edit.directions import Direction, list_directions, load_direction, save_direction
from ganinv.invert.encoder import Encoder, EncoderConfig, load_encoder, save_encoder
from ganinv.io import load_latent, save_latent
from ganinv.registry import checkpoints_dir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FORMAT = re.compile(r"^ganinv-[a-z]+/\d+$")


def stringly(obj, path="") -> list[str]:
    """Paths of string values that hold a dict / list / tuple literal (a repr or JSON inside a string)."""
    if isinstance(obj, dict):
        return [p for k, v in obj.items() for p in stringly(v, f"{path}.{k}")]
    if isinstance(obj, list):
        return [p for i, v in enumerate(obj) for p in stringly(v, f"{path}[{i}]")]
    if isinstance(obj, str) and re.match(r"^\s*[\[{(].*[:,].*[\]})]\s*$", obj, re.S):
        return [path]
    return []


def test_stringly_catches_a_repr():
    assert stringly({"extra": str({"a": 1})}) == [".extra"] and stringly({"extra": {"a": [1, 2]}}) == []


def test_direction_json_is_plain(tmp_path):
    d = Direction("probe", "celeba-dcgan-64", "Z", np.ones(100, np.float32) / 10, "sefa",
                  extra={"value": 1.5, "sources": ["convTr1.weight"], "effect": {"delta_smile": 0.2}})
    path = save_direction(d, str(tmp_path))
    meta = json.load(open(os.path.splitext(path)[0] + ".json"))
    assert FORMAT.match(meta["format"]) and isinstance(meta["extra"], dict) and not stringly(meta)
    assert load_direction(path).extra == d.extra


def test_latent_metadata_is_plain(tmp_path):
    p = save_latent(str(tmp_path / "x.npz"), torch.zeros(1, 100), model="celeba-dcgan-64", space="Z",
                    extra={"metrics": {"psnr": 20.0}, "strengths": {"smile": 2.0}})
    meta = load_latent(p).meta
    assert FORMAT.match(meta["format"]) and meta["metrics"] == {"psnr": 20.0} and not stringly(meta)


def test_encoder_sidecar_is_plain(tmp_path):
    E = Encoder(EncoderConfig(resolution=16, model="tiny", channel_base=4))
    paths = save_encoder(E, str(tmp_path / "enc.safetensors"), metadata={"heldout": {"psnr": 20.0}})
    meta = json.load(open(paths["config"]))
    assert FORMAT.match(meta["format"]) and isinstance(meta["config"], dict) and not stringly(meta)


def test_files_written_before_still_load(dcgan):
    """The shipped directions and encoder were written by earlier versions of the code."""
    dirs = list_directions("celeba-dcgan-64")
    assert {"smile", "yaw", "smile-without-yaw"} <= {d.name for d in dirs}
    for d in dirs:
        meta = json.load(open(os.path.join(ROOT, "directions", "celeba-dcgan-64", d.name + ".json")))
        assert FORMAT.match(meta["format"]) and not stringly(meta), d.name
    E = load_encoder(os.path.join(checkpoints_dir(), "encoder-celeba-dcgan-64.safetensors"), G=dcgan)
    assert E.space == "Z"
    meta = json.load(open(os.path.join(checkpoints_dir(), "encoder-celeba-dcgan-64.json")))
    assert not stringly(meta)
