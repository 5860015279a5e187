"""pix2gan: image-to-image GANs where the discriminator is the loss.

The public names are imported on first use, so ``pix2gan --help`` does not pay for importing torch.
"""

__version__ = "0.1.0"

_PUBLIC = {"Colorizer": "pix2gan.colorizer", "FramePredictor": "pix2gan.predictor", "Translator": "pix2gan.translator",
           "TrainConfig": "pix2gan.config", "Trainer": "pix2gan.train"}
__all__ = [*_PUBLIC, "__version__"]


def __getattr__(name: str):
    if name in _PUBLIC:
        import importlib

        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'pix2gan' has no attribute {name!r}")
