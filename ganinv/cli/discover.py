"""Command: ``discover``, unsupervised directions (SeFa or GANSpace), saved as direction files with a
preview of each component's strength strip."""
from __future__ import annotations

import os

from ..actions import Source, discover
from .common import default_of, kwargs_for, model_options, option, output_path, progress_bar, quiet_option


def register(sub) -> None:
    s = sub.add_parser("discover", help="unsupervised directions: SeFa or GANSpace")
    model_options(s)
    fn = discover.discover
    option(s, "--method", fn, choices=discover.DISCOVER_METHODS)
    option(s, "--num", fn, "num_components", help="number of components")
    option(s, "--layers", fn, help="SeFa: W+ layers whose style weights are factorised, e.g. 0-3 (StyleGAN2)")
    option(s, "--layer", fn, help="GANSpace: feature layer (default: first hidden layer / W)")
    option(s, "--samples", fn, "num_samples", help="GANSpace: latents sampled")
    option(s, "--seed", fn, help="GANSpace: sampling seed")
    s.add_argument("--preview-seed", default=default_of(Source, "seed"),
                   help="seed of the latent shown in the preview (default: %(default)s)")
    option(s, "--strength", fn, help="preview strips from -strength to +strength (default: the strip strengths "
                                     "-3 .. 3)")
    s.add_argument("--out", default="discovered", help="folder for <model>/<method>-NN.npy and the preview "
                                                       "(default: %(default)s)")
    quiet_option(s)
    s.set_defaults(func=cmd_discover, actions=(fn,), fixed=())


def cmd_discover(args) -> int:
    preview = Source("seed", seed=args.preview_seed, label="preview")
    with progress_bar(args) as progress:
        r = discover.discover(preview, progress=progress, **kwargs_for(discover.discover, args))
    for row, path in zip(r.rows, discover.save_components(r.components, args.out)):
        name = r.components.direction(row["index"]).name
        print(f"{name}: {row['meaning']} {row['value']:.4g} -> {path}")
    grid = os.path.join(args.out, f"{r.components.model}-{args.method}-preview.png")
    r.grid.save(output_path(grid))
    print(grid)
    return 0


__all__ = ["register"]
