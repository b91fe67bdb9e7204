"""ganinv: GAN inversion and latent-space image editing."""
__version__ = "0.1.0"
