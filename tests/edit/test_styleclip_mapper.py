"""StyleCLIP latent mapper (Sec. 5, Eq. 3-4): groups, training, strength, file round trip."""
from __future__ import annotations

import copy
import json

import pytest
import torch

from ganinv.edit.styleclip_mapper import (LatentMapper, MapperConfig, MapperError, apply_mapper, layer_groups,
                                          load_mapper, mapper_loss, sample_latents, save_mapper, train_mapper)

PROMPT = "a smiling face"


def test_layer_groups_follow_stylegans_18_layer_split():
    g = layer_groups(18)
    assert g == {"coarse": [0, 1, 2, 3], "medium": [4, 5, 6, 7], "fine": list(range(8, 18))}
    assert layer_groups(6) == {"coarse": [0, 1, 2, 3], "medium": [4, 5]}      # small model: no fine layers
    with pytest.raises(ValueError):
        layer_groups(18, ("hair",))


def test_z_only_model_gets_one_mlp_over_z(dcgan):
    cfg = MapperConfig.for_generator(dcgan)
    assert cfg.space == "Z" and cfg.dim == dcgan.z_dim and list(LatentMapper(cfg).mlps) == ["all"]


def test_strength_zero_is_identity_and_groups_touch_only_their_layers(tiny_sg2):
    torch.manual_seed(0)
    m = LatentMapper(MapperConfig.for_generator(tiny_sg2, groups=("medium",)))
    ws = sample_latents(tiny_sg2, 3, "W+", generator=torch.Generator().manual_seed(0))
    r0 = apply_mapper(tiny_sg2, m, ws, latent_space="W+", strength=0.0)
    assert torch.equal(r0.latent, ws) and r0.step_norm == [0.0] * 3
    r1 = apply_mapper(tiny_sg2, m, ws, latent_space="W+", strength=1.0)
    moved = (r1.latent - ws).abs().amax(dim=(0, 2)) > 0                      # per ws index
    assert moved.tolist() == [False] * 4 + [True, True]


def test_training_a_few_steps_lowers_the_loss(dcgan, clip):
    torch.manual_seed(0)
    start = LatentMapper(MapperConfig.for_generator(dcgan))
    probe = sample_latents(dcgan, 8, "Z", generator=torch.Generator().manual_seed(99))
    before = mapper_loss(dcgan, start, clip, PROMPT, probe)
    r = train_mapper(dcgan, PROMPT, clip=clip, mapper=copy.deepcopy(start), num_steps=12, batch_size=4,
                     id_weight=0, seed=1)
    after = mapper_loss(dcgan, r.mapper, clip, PROMPT, probe)
    assert after < before
    assert len(r.loss_history) == 12 and not r.identity_used
    assert not any(p.requires_grad for p in r.mapper.parameters())


def test_save_load_round_trip_and_model_check(dcgan, tiny_sg2, clip, tmp_path):
    r = train_mapper(tiny_sg2, PROMPT, clip=clip, num_steps=2, id_weight=0)
    path = save_mapper(r, str(tmp_path / "mapper-tiny-smile.safetensors"))
    meta = json.loads((tmp_path / "mapper-tiny-smile.json").read_text())
    assert meta["prompt"] == PROMPT and meta["model"] == "tiny-sg2" and meta["steps"] == 2
    assert meta["clip_model"] == clip.label and len(meta["loss_curve"]) == 2
    m, meta2 = load_mapper(path, G=tiny_sg2)
    ws = sample_latents(tiny_sg2, 2, "W+", generator=torch.Generator().manual_seed(0))
    assert torch.equal(m(ws), r.mapper(ws))
    with pytest.raises(MapperError, match="trained for model 'tiny-sg2'"):
        load_mapper(path, G=dcgan)
    bogus = tmp_path / "bogus.safetensors"
    bogus.write_bytes(b"not a safetensors file")
    with pytest.raises(MapperError, match="not a readable"):
        load_mapper(str(bogus))


def test_apply_from_z_input_on_stylegan2(tiny_sg2, clip):
    torch.manual_seed(0)
    m = LatentMapper(MapperConfig.for_generator(tiny_sg2))
    z = tiny_sg2.sample_z(2, seed=0)
    r = apply_mapper(tiny_sg2, m, z, latent_space="Z", strength=1.0)
    assert r.space == "W+" and r.image.shape == (2, 3, 16, 16)


def _crafted_mapper(path, config: dict) -> str:
    from safetensors.torch import save_file
    save_file({"x": torch.zeros(1)}, str(path), metadata={"format": "ganinv-styleclip-mapper/1",
                                                          "config": json.dumps(config)})
    return str(path)


def test_crafted_mapper_config_refused_before_anything_is_built(tmp_path, monkeypatch, tiny_sg2):
    """The config in a mapper's header decides what is allocated; a small file could ask
    for gigabytes.  It is bounded, checked against G and the stored shapes before a real layer exists."""
    import ganinv.edit.styleclip_mapper as sm
    built, init = [], sm.FullyConnectedLayer.__init__
    monkeypatch.setattr(sm.FullyConnectedLayer, "__init__",
                        lambda self, *a, **k: built.append(torch.empty(0).device.type) or init(self, *a, **k))
    big = dict(space="W+", dim=1024, num_ws=1, groups={"all": [0]}, num_layers=16)      # 64 MB of weights
    with pytest.raises(MapperError, match="stored weights do not match"):
        load_mapper(_crafted_mapper(tmp_path / "big.safetensors", big))
    with pytest.raises(MapperError, match="out of bounds"):
        load_mapper(_crafted_mapper(tmp_path / "huge.safetensors", {**big, "dim": 10**6}))
    fits = dict(space="W+", dim=32, num_ws=tiny_sg2.num_ws, groups={"all": [0, 1]}, num_layers=2)
    with pytest.raises(MapperError, match="stored weights do not match"):
        load_mapper(_crafted_mapper(tmp_path / "fits.safetensors", fits), G=tiny_sg2)
    assert "cpu" not in built                                  # only shapes on the meta device
