"""Reading data: image decoding, per-item sources (photos, pairs, sequences) and the seeded draws of crops."""

from pix2gan.data.photos import open_photos
from pix2gan.data.source import Source


def open_source(cfg, spec: str | None = None) -> Source:
    """The source the (resolved) config's task trains on: ``spec`` (default ``cfg.data``), listed, not decoded."""
    from pix2gan.data.paired import open_paired
    from pix2gan.data.sequences import open_sequences

    spec = spec or cfg.data
    if cfg.task == "colorize":
        return open_photos(spec, cfg.load_size)
    if cfg.task == "nextframe":
        return open_sequences(spec, cfg.frame_channels, cfg.context + 1, cfg.layout, cfg.frame_step)
    a, b = (cfg.a_channels, cfg.b_channels) if cfg.direction == "AtoB" else (cfg.b_channels, cfg.a_channels)
    return open_paired(spec, cfg.load_size, a, b, cfg.direction)


__all__ = ["open_source", "Source"]
