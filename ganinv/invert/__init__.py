"""Inversion methods: find the latent code that makes a generator reproduce an image."""
from .optimize import InversionResult, invert_optimize

__all__ = ["InversionResult", "invert_optimize"]
