"""Reading images from disk and the built-in sets: decoding, cropping, batching (uint8 tensors)."""

from pix2gan.data.images import IMAGE_SUFFIXES, list_images, read_image, to_rgb_float, to_rgb_uint8
from pix2gan.data.photos import BUILTIN_SETS, PhotoSet, open_photos

__all__ = ["IMAGE_SUFFIXES", "list_images", "read_image", "to_rgb_float", "to_rgb_uint8", "BUILTIN_SETS", "PhotoSet",
           "open_photos"]
