"""Reading data: image decoding, per-item sources (photos, pairs, sequences, videos, built-in sets) and the seeded
draws of crops. Which source a task trains on is the task's choice (``pix2gan.tasks``: ``open_source``)."""

from pix2gan.data.source import Source

__all__ = ["Source"]
