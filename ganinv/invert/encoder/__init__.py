"""Learned encoders E: image -> latent (domain-guided, force-in-domain and e4e).

1. Domain-guided encoder, Zhu et al., "In-Domain GAN Inversion for Real Image Editing"
   (ECCV 2020), Sec. 3.1, eq. 3 (its two lines: encoder, discriminator).  The encoder is trained in
   *image* space, so its codes are ones the generator renders well:

       min_E  ||x - G(E(x))||_2  +  l_vgg ||F(x) - F(G(E(x)))||_2  -  l_adv E_x[D(G(E(x)))]
       min_D  E_x[D(G(E(x)))] - E_x[D(x)] + r1_gamma/2 E_x[||grad_x D(x)||_2^2]

   with the norms as per-element mean squared errors and the adversarial terms in the
   non-saturating softplus form (softplus(-t) for -t), as in the authors' released training
   code, and R1 (Mescheder et al. 2018) on reals, applied lazily every ``r1_every`` steps.
2. Force-in-domain, Leng et al., "Force-in-domain GAN inversion" (2021), Sec. 3: a latent
   discriminator D_w separates E(x) from sampled latents (z ~ N(0, I) or w = f(z)) and adds
   - l_latent E_x[D_w(E(x))] to (3), which pulls the codes into the latent distribution.
   ``latent_frechet_distance`` reports how far they are (Frechet distance of Gaussians).
3. e4e, Tov et al., "Designing an Encoder for StyleGAN Image Manipulation" (SIGGRAPH 2021),
   Sec. 3.2-3.3: W+ code = (w, w + Delta_1, ..., w + Delta_{N-1}); eq. 3 L_d-reg =
   sum_i ||Delta_i||_2; progressive training unlocks one more Delta_i every ``unlock_every``
   steps; eq. 4-5: a latent discriminator on w and every w + Delta_i vs w = f(z), with R1.

Legend (variable -> paper symbol): ``E`` -> E, ``D`` -> D, ``Dw`` -> D_w / D_W, ``l_vgg`` ->
lambda_vgg, ``l_adv`` -> lambda_adv, ``r1_gamma`` -> gamma, ``l_latent`` -> force-in-domain
weight, ``l_delta`` -> lambda_d-reg, ``deltas`` -> Delta_i.

Perceptual term F.  ``perceptual="discriminator"`` (the default for training) compares the
image discriminator's intermediate features (the learned similarity of Larsen et al., ICML
2016).  Why not the paper's VGG: on this project's 2-core CPU, ganinv.losses'
perceptual metric (shift-tolerant LPIPS-VGG, the only complete offline one) costs 6.6 s
fwd+bwd for 16 images at 64 px, ~8x the generator, which would cut a one-hour training
run to a few hundred steps.  ``perceptual="auto" | "lpips" | "stlpips"`` selects
``ganinv.losses.perceptual_metric`` when time allows (GPU); evaluation always uses it.

Optional code regression.  On generator samples x = G(z) the true code is known, and
``l_code`` adds ||z - E(x)||^2 (the encoder loss of Zhu et al., "Generative Visual
Manipulation on the Natural Image Manifold", ECCV 2016, Sec. 3).  In-domain inversion shows
it is not enough on its own (Sec. 3.1); as a small auxiliary term it costs nothing and keeps
early codes in the Gaussian shell.  Off by default.

Checkpoints: ``<stem>.safetensors`` (encoder weights, config in the header metadata),
``<stem>.json`` (config + training metadata), ``<stem>.log.json`` (training log) and, for
resuming, ``<stem>.state.safetensors`` (discriminators and optimiser moments).  Every file is
written to a temporary file and renamed into place.

Modules: ``networks`` (the encoder and discriminators), ``checkpoint`` (files), ``training`` (the loop).
"""
from .checkpoint import FORMAT, checkpoint_paths, encoder_path, load_encoder, save_encoder
from .networks import (Encoder, EncoderConfig, ImageDiscriminator, LatentDiscriminator, encode,
                       latent_frechet_distance, sample_latents)
from .training import EncoderTrainResult, evaluate_encoder, train_encoder

__all__ = ["EncoderConfig", "Encoder", "ImageDiscriminator", "LatentDiscriminator", "EncoderTrainResult",
           "train_encoder", "evaluate_encoder", "encode", "sample_latents", "latent_frechet_distance",
           "save_encoder", "load_encoder", "encoder_path", "checkpoint_paths", "FORMAT"]
