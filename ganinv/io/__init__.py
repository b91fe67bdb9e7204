"""Reading images and reading / writing latent codes, safely: ``images`` (photos in, tensors <-> PIL),
``latent_file`` (the .npz latent format), ``files`` (size-capped headers and JSON for other files).
"""
from .files import MAX_META_BYTES, npy_header, read_json
from .images import (IMAGE_EXTS, MAX_PIXELS, ImageLoadError, center_crop_resize, image_grid, list_images, load_image,
                     pil_to_tensor, tensor_to_pil, to_rgb)
from .latent_file import (DELTA_PREFIX, LATENT_DELTA_FORMAT, LATENT_FORMAT, MAX_DELTA_BYTES, MAX_LATENT_BYTES,
                          MAX_LATENT_FILE_BYTES, LatentFile, LatentFileError, load_latent, save_latent)

__all__ = ["MAX_META_BYTES", "npy_header", "read_json", "IMAGE_EXTS", "MAX_PIXELS", "ImageLoadError",
           "center_crop_resize", "image_grid", "list_images", "load_image", "pil_to_tensor", "tensor_to_pil", "to_rgb",
           "DELTA_PREFIX", "LATENT_DELTA_FORMAT", "LATENT_FORMAT", "MAX_DELTA_BYTES", "MAX_LATENT_BYTES",
           "MAX_LATENT_FILE_BYTES", "LatentFile", "LatentFileError", "load_latent", "save_latent"]
