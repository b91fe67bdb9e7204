"""Train the shipped in-domain encoder for a model (default: the bundled celeba-dcgan-64).

    nice -n 10 .venv/bin/python scripts/train_encoder.py --minutes 55

Writes checkpoints/encoder-<model>.safetensors (+ .json config, .log.json training log and a
.state.safetensors resume file that is not shipped) every --save-every steps; run it again
with the same arguments to resume.  Settings of the shipped checkpoint are in its .json.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from ganinv.invert.encoder import encoder_path, train_encoder  # noqa: E402
from ganinv.registry import load_generator  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="celeba-dcgan-64")
    p.add_argument("--steps", type=int, default=100_000, help="upper bound; --minutes usually stops first")
    p.add_argument("--minutes", type=float, default=55.0, help="wall-time budget of this run")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--l-vgg", type=float, default=1.0)
    p.add_argument("--l-adv", type=float, default=0.02)
    p.add_argument("--l-latent", type=float, default=0.02, help="force-in-domain latent discriminator weight")
    p.add_argument("--l-code", type=float, default=0.05, help="auxiliary ||z - E(G(z))||^2 weight")
    p.add_argument("--r1-gamma", type=float, default=10.0)
    p.add_argument("--images", default=None, help="folder of real images (default: generator samples)")
    p.add_argument("--out", default=None, help="checkpoint path (default checkpoints/encoder-<model>.safetensors)")
    p.add_argument("--save-every", type=int, default=100)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    G = load_generator(args.model, "cpu")
    out = args.out or encoder_path(args.model)

    def progress(frac: float, msg: str) -> None:
        print(msg, flush=True)

    r = train_encoder(G, steps=args.steps, batch=args.batch, lr=args.lr, l_vgg=args.l_vgg, l_adv=args.l_adv,
                      l_latent=args.l_latent, l_code=args.l_code, r1_gamma=args.r1_gamma, images_dir=args.images,
                      resume=out, save_path=out, save_every=args.save_every, log_every=20,
                      max_seconds=args.minutes * 60, eval_samples=256, progress=progress)
    print(json.dumps(r.metadata["heldout"], indent=1))
    print(r.paths)
    return 0


if __name__ == "__main__":
    sys.exit(main())
