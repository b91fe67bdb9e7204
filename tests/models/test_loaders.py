"""StyleGAN2 checkpoint loaders: round trips, format sniffing, and refusal of code in pickles."""
from __future__ import annotations

import argparse
import os
import pickle

import pytest
import torch

from ganinv.models.loaders import (CheckpointFormatError, UnsafeCheckpointError, load_nvidia_pkl, load_rosinality,
                                   load_safetensors, load_stylegan2, save_rosinality, save_safetensors, sniff_format)


def images(G, z):
    return G(z, truncation_psi=0.7, noise_mode="const")


# --------------------------------------------------------------------------- NVIDIA pickles
def test_nvidia_pickle_round_trip_runs_no_code(nvidia_pickle, tiny_G, z):
    path, canary = nvidia_pickle
    config, state = load_nvidia_pkl(str(path))
    assert config == tiny_G.config
    assert set(state) == set(tiny_G.state_dict())
    G = load_stylegan2(str(path))
    torch.testing.assert_close(images(G, z), images(tiny_G, z))
    assert not canary.exists()
    assert G.name == "network-snapshot" and not G.training
    assert not any(p.requires_grad for p in G.parameters())


@pytest.mark.parametrize("protocol", [2, 3, 5])
def test_nvidia_pickle_protocols(tmp_path, tiny_G, z, nvidia_pickle_writer, protocol):
    """Official pickles were written by Python 3.7 (protocol 3); older/newer protocols encode differently."""
    path, canary = tmp_path / "p.pkl", tmp_path / "canary"
    nvidia_pickle_writer(tiny_G, path, canary, protocol=protocol)
    torch.testing.assert_close(images(load_stylegan2(str(path)), z), images(tiny_G, z))
    assert not canary.exists()


def test_fixture_canary_fires_under_plain_pickle(nvidia_pickle, fake_nvidia_env):
    """Guards the test above: the same file *would* run code if loaded with plain pickle."""
    path, canary = nvidia_pickle
    with fake_nvidia_env(canary):
        with open(path, "rb") as f:
            pickle.load(f)
    assert canary.exists()


class _Evil:
    def __init__(self, cmd: str):
        self.cmd = cmd

    def __reduce__(self):
        return (os.system, (self.cmd,))


@pytest.mark.parametrize("payload", ["top", "nested"])
def test_pickle_with_os_system_is_refused(tmp_path, payload):
    canary = tmp_path / "pwned"
    evil = _Evil(f"touch {canary}")
    obj = evil if payload == "top" else {"G_ema": {"state": [1, 2, evil]}}
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(obj, protocol=4))
    with pytest.raises(UnsafeCheckpointError, match=r"posix\.system|os\.system"):
        load_nvidia_pkl(str(path))
    with pytest.raises(UnsafeCheckpointError):
        load_stylegan2(str(path))
    assert not canary.exists()


def test_pickle_with_other_globals_is_refused(tmp_path):
    path = tmp_path / "g.pkl"
    path.write_bytes(pickle.dumps({"G_ema": torch.load}, protocol=4))
    with pytest.raises(UnsafeCheckpointError, match="torch.serialization.load"):
        load_nvidia_pkl(str(path))


def test_unsupported_nvidia_generators_are_refused(tmp_path, tiny_G, nvidia_pickle_writer):
    canary = tmp_path / "canary"
    cond = tmp_path / "cond.pkl"
    nvidia_pickle_writer(tiny_G, cond, canary, c_dim=10)
    with pytest.raises(CheckpointFormatError, match="conditional"):
        load_nvidia_pkl(str(cond))
    resnet = tmp_path / "resnet.pkl"
    nvidia_pickle_writer(tiny_G, resnet, canary, synthesis_kwargs={"channel_base": 256, "architecture": "resnet"})
    with pytest.raises(CheckpointFormatError, match="skip"):
        load_nvidia_pkl(str(resnet))
    assert not canary.exists()


def test_nvidia_config_mismatch_is_reported(tmp_path, tiny_G, nvidia_pickle_writer):
    path = tmp_path / "bad.pkl"
    # kwargs claim 64 channels but the tensors have 32: strict loading must fail clearly.
    nvidia_pickle_writer(tiny_G, path, tmp_path / "canary", synthesis_kwargs={"channel_base": 512, "channel_max": 64})
    with pytest.raises(CheckpointFormatError, match="do not match"):
        load_stylegan2(str(path))


# --------------------------------------------------------------------------- rosinality
def test_rosinality_round_trip(tmp_path, tiny_G, z):
    path = tmp_path / "550000.pt"
    save_rosinality(tiny_G, str(path))
    ckpt = torch.load(path, weights_only=True)
    g = ckpt["g_ema"]
    assert g["conv1.conv.weight"].shape == (1, 32, 32, 3, 3)          # [1, out, in, k, k]
    assert g["noises.noise_0"].shape == (1, 1, 4, 4)
    assert g["to_rgbs.1.bias"].shape == (1, 3, 1, 1)
    assert g["style.1.weight"].shape == (32, 32)
    G = load_rosinality(str(path))
    assert G.config == tiny_G.config
    torch.testing.assert_close(images(G, z), images(tiny_G, z))
    torch.testing.assert_close(load_stylegan2(str(path)).w_avg, tiny_G.w_avg)


def test_rosinality_training_checkpoint_with_args_and_no_latent_avg(tmp_path, tiny_G, z):
    path = tmp_path / "train.pt"
    save_rosinality(tiny_G, str(path))
    ckpt = torch.load(path, weights_only=True)
    torch.save({"g_ema": ckpt["g_ema"], "args": argparse.Namespace(size=16, latent=32, n_mlp=2)}, path)
    G = load_rosinality(str(path), w_avg_samples=2000)
    torch.testing.assert_close(G(z, noise_mode="const"), tiny_G(z, noise_mode="const"))
    # w_avg is re-estimated from the mapping network, not the stored (random) one.
    expected = tiny_G.mapping(torch.randn(2000, 32, generator=torch.Generator().manual_seed(0))).mean(0)
    torch.testing.assert_close(G.w_avg, expected)


def test_rosinality_with_code_is_refused(tmp_path):
    canary = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"g_ema": _Evil(f"touch {canary}")}, path)
    with pytest.raises(UnsafeCheckpointError, match="could run code"):
        load_stylegan2(str(path))
    assert not canary.exists()


def test_save_rosinality_refuses_unrepresentable(tiny_factory, tiny_config):
    from dataclasses import replace
    G = tiny_factory(replace(tiny_config, conv_clamp=256.0))
    with pytest.raises(ValueError, match="conv_clamp"):
        save_rosinality(G, "unused.pt")


# --------------------------------------------------------------------------- safetensors + dispatch
def test_safetensors_round_trip(tmp_path, tiny_G, z):
    path = tmp_path / "model.safetensors"
    save_safetensors(tiny_G, str(path))
    G = load_safetensors(str(path))
    assert G.config == tiny_G.config
    for k, v in tiny_G.state_dict().items():
        assert torch.equal(G.state_dict()[k], v), k
    torch.testing.assert_close(images(G, z), images(tiny_G, z))


def test_dispatch_uses_contents_not_extension(tmp_path, tiny_G, nvidia_pickle):
    st, ros = tmp_path / "a.bin", tmp_path / "b.bin"
    save_safetensors(tiny_G, str(st))
    save_rosinality(tiny_G, str(ros))
    renamed = tmp_path / "c.safetensors"
    renamed.write_bytes(nvidia_pickle[0].read_bytes())
    assert [sniff_format(str(p)) for p in (st, ros, renamed)] == ["safetensors", "torch", "nvidia-pkl"]
    for p in (st, ros, renamed):
        assert load_stylegan2(str(p)).config == tiny_G.config


@pytest.mark.parametrize("fmt", ["pkl", "pt", "safetensors"])
def test_truncated_files_give_clear_errors(tmp_path, tiny_G, nvidia_pickle, fmt):
    src = tmp_path / f"full.{fmt}"
    if fmt == "pkl":
        src = nvidia_pickle[0]
    elif fmt == "pt":
        save_rosinality(tiny_G, str(src))
    else:
        save_safetensors(tiny_G, str(src))
    data = src.read_bytes()
    cut = tmp_path / f"cut.{fmt}"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointFormatError, match="truncated"):
        load_stylegan2(str(cut))


def test_empty_and_garbage_files(tmp_path):
    empty, junk = tmp_path / "empty.pkl", tmp_path / "junk.pkl"
    empty.write_bytes(b"")
    junk.write_bytes(b"<html>404 not found</html>")
    with pytest.raises(CheckpointFormatError, match="empty"):
        load_stylegan2(str(empty))
    with pytest.raises(CheckpointFormatError, match="unrecognised"):
        load_stylegan2(str(junk))
    with pytest.raises(FileNotFoundError):
        load_stylegan2(str(tmp_path / "missing.pkl"))


def test_numeric_numpy_data_allowed_object_arrays_refused():
    import io

    import numpy as np

    from ganinv.models.loaders import safe_unpickle
    data = {"a": np.arange(3.0, dtype=np.float32), "s": np.float64(0.5)}
    out = safe_unpickle(io.BytesIO(pickle.dumps(data, protocol=4)))
    assert np.array_equal(out["a"], data["a"]) and out["s"] == 0.5
    with pytest.raises(UnsafeCheckpointError, match="dtype"):
        safe_unpickle(io.BytesIO(pickle.dumps(np.array([1, "a"], dtype=object), protocol=4)))


def test_torch_file_without_g_ema_is_rejected(tmp_path):
    path = tmp_path / "dcgan.pt"
    torch.save({"convTr1.weight": torch.zeros(2, 2, 4, 4)}, path)
    with pytest.raises(CheckpointFormatError, match="g_ema"):
        load_stylegan2(str(path))
