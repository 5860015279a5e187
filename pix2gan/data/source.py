"""Per-item data sources, and the draws that turn ``(seed, step, k, slot)`` into training crops.

A source holds a listing (stable names: relative paths, never pixels) and decodes one item when it is read. Which
item, crop and flip slot ``slot`` of batch ``k`` of step ``step`` gets is a pure function of those numbers and the
seed (:class:`Draws`), so a run with 0 or 4 DataLoader workers, resumed or not, on 1 or N processes, trains on the
same batches. (stylegan2-ada-pytorch's lazy dataset and seeded sampler are the model.)

An item that fails to decode is replaced by the next draw of the same generator (deterministic) and reported as an
event; an item that is readable but unfit (a gray photo for colorization) raises :class:`Unfit` and is replaced too.
"""

from __future__ import annotations

import array
import hashlib
import signal
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Callable

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from pix2gan.errors import Pix2GanError
from pix2gan.runtime import cpu_budget

#: Draws in a row that may fail before a sample gives up (far beyond any tolerable fraction of bad files).
MAX_TRIES = 64


class Unfit(Pix2GanError):
    """A readable item that training leaves out (e.g. a photo that is already gray, for colorization)."""


class Names(Sequence):
    """A listing of item names held compactly: one byte string of the UTF-8 names, each ended by a NUL, and an
    array of their offsets (two NumPy arrays, whatever the count). A list of a million Python strings costs
    hundreds of MB, and every DataLoader worker would copy it page by page as it touched their reference counts;
    these two arrays are never written to, so the workers share them. ``names[i]`` decodes one name."""

    def __init__(self, blob: np.ndarray, starts: np.ndarray):
        self.blob, self.starts = blob, starts  # uint8 (total bytes,), int64 (count + 1,): name i is [s_i, s_i+1 − 1)

    @classmethod
    def from_strings(cls, names: Iterable[str]) -> Names:
        out = NamesWriter()
        for name in names:
            out.add(name)
        return out.done()

    def __len__(self) -> int:
        return len(self.starts) - 1

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = range(len(self))[i]
        return self.blob[self.starts[i]:self.starts[i + 1] - 1].tobytes().decode("utf-8", "surrogateescape")

    def encoded(self) -> Iterator[bytes]:
        """Each name as UTF-8 bytes, one at a time (no list of them is built)."""
        data = self.blob.tobytes() if len(self.blob) < 2**20 else memoryview(self.blob)
        for a, b in zip(self.starts[:-1].tolist(), self.starts[1:].tolist()):
            yield bytes(data[a:b - 1])

    def index(self, name: str) -> int:
        """The position of ``name`` (a search in the bytes, not a dictionary of every name)."""
        key = b"\0" + name.encode("utf-8", "surrogateescape") + b"\0"
        at = (b"\0" + self.blob.tobytes()).find(key)
        if at < 0:
            raise ValueError(f"{name!r} is not in the listing")
        return int(np.searchsorted(self.starts, at))

    def take(self, indices) -> Names:
        """The names at ``indices``, as a new compact listing."""
        out = NamesWriter()
        for i in np.asarray(indices, dtype=np.int64).tolist():
            out.add_ended(self.blob[self.starts[i]:self.starts[i + 1]].tobytes())
        return out.done()


class NamesWriter:
    """Builds a :class:`Names` name by name, in chunks: no list of every name exists on the way."""

    def __init__(self):
        self.chunks: list[bytes] = []
        self.ends = array.array("q")
        self.size = 0

    def add(self, name: str) -> None:
        self.add_ended(name.encode("utf-8", "surrogateescape") + b"\0")

    def add_ended(self, data: bytes) -> None:
        """One name, UTF-8 and already ended by its NUL."""
        self.chunks.append(data)
        self.size += len(data)
        self.ends.append(self.size)
        if len(self.chunks) >= 4096:
            self.chunks = [b"".join(self.chunks)]

    def done(self) -> Names:
        blob = np.frombuffer(b"".join(self.chunks), dtype=np.uint8)
        return Names(blob, np.concatenate([[0], np.frombuffer(self.ends, dtype=np.int64)]).astype(np.int64))


class Source:
    """A listing of items, each decoded when read. Subclasses set ``names`` and implement :meth:`read`."""

    names: list[str]

    def __len__(self) -> int:
        return len(self.names)

    def read(self, i: int, gen: torch.Generator | None = None) -> Tensor:
        """Item ``i`` as uint8 ``(C, H, W)`` (images) or ``(T, C, H, W)`` (windows of frames); ``gen`` draws any
        choice inside the item (a window's start), None takes the first."""
        raise NotImplementedError

    def subset(self, indices: list[int]) -> Source:
        return Subset(self, indices)

    def split(self, fraction: float) -> tuple[Source, Source | None]:
        """(training, held-out) parts by :func:`holdout_split` of the names; no held-out part when nothing is held
        out."""
        train, held = holdout_split(self.names, fraction)
        return (self.subset(train), self.subset(held)) if len(held) else (self, None)

    def readable(self, i: int) -> bool:
        """Whether item ``i`` can be read now (unfit items are readable)."""
        try:
            self.read(i)
        except Unfit:
            return True
        except Exception:  # noqa: BLE001 - any failure means no
            return False
        return True


class Subset(Source):
    """The items ``indices`` of ``source`` (a view: nothing is copied or read)."""

    def __init__(self, source: Source, indices):
        self.source, self.indices = source, np.asarray(indices, dtype=np.int64)
        names = source.names
        self.names = names.take(self.indices) if isinstance(names, Names) else [names[i] for i in self.indices]

    def read(self, i: int, gen: torch.Generator | None = None) -> Tensor:
        return self.source.read(int(self.indices[i]), gen)


def _encoded(names) -> Iterator[bytes]:
    return names.encoded() if isinstance(names, Names) else (n.encode("utf-8", "surrogateescape") for n in names)


def fingerprint(names) -> dict:
    """What a listing was: its size and a SHA-256 of its names (order included); stored in checkpoints."""
    if isinstance(names, Names):  # the blob is the names, each ended by a NUL: hashed as it is
        return {"count": len(names), "sha256": hashlib.sha256(names.blob.tobytes()).hexdigest()}
    h = hashlib.sha256()
    for n in _encoded(names):
        h.update(n + b"\0")
    return {"count": len(names), "sha256": h.hexdigest()}


def _unit_hashes(names) -> np.ndarray:
    """Each name's hash as a number in [0, 1) (SHA-256's first 8 bytes), float64 ``(len(names),)``."""
    return np.fromiter((int.from_bytes(hashlib.sha256(n).digest()[:8], "big") / 2.0 ** 64 for n in _encoded(names)),
                       dtype=np.float64, count=len(names))


def holdout_split(names, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) indices: an item is held out when a hash of its name falls below ``fraction``, so adding
    items never moves an existing one between the two. At least one item on each side."""
    if fraction <= 0:
        return np.arange(len(names)), np.arange(0)
    if len(names) < 2:
        raise Pix2GanError(f"cannot hold out part of a set of {len(names)} item(s)")
    h = _unit_hashes(names)
    held = h < fraction
    if not held.any():  # tiny sets: the lowest hash
        held[h.argmin()] = True
    if held.all():
        held[h.argmax()] = False
    return np.flatnonzero(~held), np.flatnonzero(held)


def seeded_generator(*entropy: int) -> torch.Generator:
    """A torch generator seeded from ``entropy`` through NumPy's SeedSequence: a pure function of the numbers."""
    state = np.random.SeedSequence(list(entropy)).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


class Stream(IntEnum):
    """The random streams of batch ``k`` of a step: ``seeded_generator(seed, step, k, stream)``."""

    SAMPLES = 0       # each sample's item, crop and flip (with its slot: :func:`sample_generator`)
    PENALTY = 1       # the gradient penalty's interpolation weights ε
    PRIOR = 2         # a latent model's prior codes for the sampling path
    KL_NOISE = 3      # the kl code loss's reparametrisation noise
    CODE_PENALTY = 4  # the code discriminator's gradient penalty ε
    HINTS = 5         # a hint model's simulated hints (with its slot, one stream per sample)


@dataclass(frozen=True)
class RankDraws:
    """This rank's share of every step's random draws: slots ``rank·B … (rank+1)·B − 1`` of the global batch of
    ``B × world``, each draw a pure function of (seed, step, k, stream[, slot]) — N processes draw what one does."""

    seed: int
    batch_size: int
    rank: int = 0
    world: int = 1

    @property
    def slots(self) -> range:
        return range(self.rank * self.batch_size, (self.rank + 1) * self.batch_size)

    def per_sample(self, step: int, k: int, stream: Stream) -> list[torch.Generator]:
        """One generator per slot of this rank: ``seeded_generator(seed, step, k, stream, slot)``."""
        return [seeded_generator(self.seed, step, k, stream, slot) for slot in self.slots]

    def tensor(self, step: int, k: int, stream: Stream, shape: tuple[int, ...], normal: bool = False) -> Tensor:
        """This rank's rows ``(B, *shape)`` of the ``(B·world, *shape)`` draws of batch ``k`` from ``stream``,
        uniform in [0, 1) or N(0, 1)."""
        gen = seeded_generator(self.seed, step, k, stream)
        draw = (torch.randn if normal else torch.rand)(self.batch_size * self.world, *shape, generator=gen)
        return draw[self.slots.start:self.slots.stop]


def sample_generator(seed: int, step: int, k: int, slot: int) -> torch.Generator:
    """The random stream of one sample (:attr:`Stream.SAMPLES` of its batch)."""
    return seeded_generator(seed, step, k, Stream.SAMPLES, slot)


def random_crop(x: Tensor, gen: torch.Generator, size: int) -> Tensor:
    """A ``size`` × ``size`` crop of ``x`` ``(..., H, W)``, flipped horizontally with probability ½, drawn with
    ``gen`` (the same crop and flip for every leading index: a pair's two sides, a window's frames)."""
    top = int(torch.randint(x.shape[-2] - size + 1, (1,), generator=gen))
    left = int(torch.randint(x.shape[-1] - size + 1, (1,), generator=gen))
    crop = x[..., top:top + size, left:left + size]
    return crop.flip(-1) if bool(torch.rand(1, generator=gen) < 0.5) else crop


def center_crop(x: Tensor, size: int) -> Tensor:
    top, left = (x.shape[-2] - size) // 2, (x.shape[-1] - size) // 2
    return x[..., top:top + size, left:left + size]


@dataclass(frozen=True)
class Event:
    """An item replaced in a draw: ``kind`` "bad" (could not be read) or "unfit" (left out on purpose)."""

    kind: str
    name: str
    message: str


class Draws(Dataset):
    """``draws[(step, k, slot)]`` → ``(crop, events)``: the sample that slot of batch ``k`` of ``step`` gets.

    The item is drawn uniformly from ``source`` by :func:`sample_generator`; a bad or unfit item is replaced by the
    next draw of the same generator. A crop is ``(C, size, size)`` or ``(T, C, size, size)`` uint8.
    """

    def __init__(self, source: Source, seed: int, size: int):
        if len(source) == 0:
            raise Pix2GanError("no items to draw from")
        self.source, self.seed, self.size = source, seed, size

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, key: tuple[int, int, int]) -> tuple[Tensor, list[Event]]:
        gen = sample_generator(self.seed, *key)
        events: list[Event] = []
        for _ in range(MAX_TRIES):
            i = int(torch.randint(len(self.source), (1,), generator=gen))
            name = self.source.names[i]
            try:
                x = self.source.read(i, gen)
                if min(x.shape[-2:]) < self.size:
                    raise Pix2GanError(f"{name}: {x.shape[-1]}×{x.shape[-2]} is smaller than --size {self.size}")
            except Unfit as e:
                events.append(Event("unfit", name, str(e)))
                continue
            except Exception as e:  # noqa: BLE001 - any failure of one file is one line naming it; the run goes on
                message = str(e) if isinstance(e, Pix2GanError) else f"{name}: {type(e).__name__}: {e}"
                events.append(Event("bad", name, message))
                continue
            return random_crop(x, gen, self.size).contiguous(), events
        names = list(dict.fromkeys(e.name for e in events))
        raise Pix2GanError(f"no usable item in {MAX_TRIES} draws in a row, e.g. {', '.join(names[:3])} (the last: "
                           f"{events[-1].message})")


def worker_message(e: Exception) -> str:
    """The message of an error raised in a DataLoader worker, without the traceback text PyTorch wraps around it
    when it raises it again in the training process (the error itself when it was not wrapped)."""
    text = str(e)
    if "Original Traceback" not in text:
        return text
    lines = [ln for ln in text.strip().splitlines() if ln.startswith(f"{type(e).__module__}.{type(e).__name__}: ")]
    return lines[-1].split(": ", 1)[1] if lines else text.strip().splitlines()[0]


def collate(samples: list[tuple[Tensor, list[Event]]]) -> tuple[Tensor, list[Event]]:
    return torch.stack([s for s, _ in samples]), [e for _, ev in samples for e in ev]


class StepBatches(Sampler):
    """The keys of every batch from step ``start`` to ``stop``: ``batches_per_step`` (a number, or a function of
    the step) batches per step, each the slots ``slots`` (this process's slice of the global batch)."""

    def __init__(self, start: int, stop: int, batches_per_step: int | Callable[[int], int], slots: range):
        self.start, self.stop, self.slots = start, stop, slots
        self.per_step = batches_per_step if callable(batches_per_step) else (lambda step: batches_per_step)

    def __iter__(self):
        for step in range(self.start, self.stop):
            for k in range(self.per_step(step)):
                yield [(step, k, s) for s in self.slots]

    def __len__(self) -> int:
        return sum(self.per_step(step) for step in range(self.start, self.stop))


def default_workers() -> int:
    """DataLoader worker processes when ``--workers`` is not given: one per CPU beyond the first two (which the
    training step keeps busy), at least one, at most 8. CPUs as :func:`pix2gan.runtime.cpu_budget` counts them (the
    affinity mask capped by a cgroup quota), so a container limited to 2 CPUs on a large host gets one worker, not
    eight stealing its compute threads' time."""
    return min(8, max(1, cpu_budget() - 2))


def _worker_init(_: int) -> None:
    # Ctrl-C reaches the whole process group: the main process finishes its step and checkpoints, so the workers
    # must keep serving it; they stop with its iterator. (SIGTERM keeps its default: multiprocessing's exit
    # handler terminates leftover workers with it.)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def draw_loader(draws: Draws, batches: StepBatches, workers: int, pin_memory: bool = False) -> DataLoader:
    """Batches ``(uint8 crops, events)`` in key order, decoded by ``workers`` processes (0: in this one), each
    prefetching 4 batches ahead. One pass covers the whole run, so the workers start once and live as long as the
    iterator (persistent for the run); dropping the iterator stops them."""
    # its own generator: a DataLoader otherwise draws its workers' base seed from the global RNG, whose state the
    # checkpoint restores for dropout and augmentation, so a resumed run would draw one number more than a straight one
    return DataLoader(draws, batch_sampler=batches, collate_fn=collate, num_workers=workers, pin_memory=pin_memory,
                      prefetch_factor=4 if workers else None, worker_init_fn=_worker_init if workers else None,
                      generator=torch.Generator().manual_seed(draws.seed))


def fixed_batches(source: Source, seed: int, count: int, size: int, batch_size: int = 16) -> list[Tensor]:
    """``count`` crops drawn with ``seed`` in batches (step 0, batch b, slot j): the same for every caller — the
    evaluation crops of ``evaluate`` and ``compare``."""
    draws = Draws(source, seed, size)
    return [collate([draws[(0, b, j)] for j in range(min(batch_size, count - b * batch_size))])[0]
            for b in range((count + batch_size - 1) // batch_size)]


def center_batch(source: Source, count: int, size: int) -> Tensor:
    """Centre crops of the first ``count`` usable items (unreadable, unfit or too small ones are passed over)."""
    crops = []
    for i in range(len(source)):
        try:
            x = source.read(i)
        except Exception:  # noqa: BLE001 - reported when drawn for training
            continue
        if min(x.shape[-2:]) >= size:
            crops.append(center_crop(x, size))
        if len(crops) == count:
            break
    if not crops:
        raise Pix2GanError(f"no item of the data is readable at --size {size} (first: {source.names[0]})")
    return torch.stack(crops)


@dataclass
class DataHealth:
    """Items replaced while training: each reported once, counted in ``log.jsonl``; more than ``max_bad`` of the
    listing unreadable stops the run."""

    total: int
    max_bad: float = 0.01
    bad: dict[str, str] = field(default_factory=dict)
    unfit: set[str] = field(default_factory=set)

    def record(self, events: list[Event]) -> list[str]:
        """Note ``events``; return the lines to print (the first time each file is met)."""
        lines = []
        for e in events:
            if e.kind == "bad" and e.name not in self.bad:
                self.bad[e.name] = e.message
                lines.append(f"warning: skipped {e.message} (replaced by another sample; counted in data_bad)")
            elif e.kind == "unfit" and e.name not in self.unfit:
                self.unfit.add(e.name)
                if len(self.unfit) == 1:
                    lines.append(f"note: {e.message}: left out of training, as every such item will be "
                                 f"(counted in data_unfit)")
        return lines

    def state_dict(self) -> dict:
        return {"bad": dict(self.bad), "unfit": sorted(self.unfit)}

    def load_state_dict(self, state: dict, source: Source) -> None:
        """What a checkpoint remembers; files in ``source`` fixed since then no longer count as bad."""
        self.unfit.update(state.get("unfit", []))
        for name, message in state.get("bad", {}).items():
            try:
                i = source.names.index(name)
            except ValueError:
                continue
            if not source.readable(i):
                self.bad[name] = message

    @property
    def counts(self) -> dict[str, int]:
        return {**({"data_bad": len(self.bad)} if self.bad else {}),
                **({"data_unfit": len(self.unfit)} if self.unfit else {})}

    def over_limit(self) -> bool:
        return len(self.bad) > self.max_bad * self.total

    def limit_message(self) -> str:
        """Why the run stops (on a rank whose own files were fine, that another's were not)."""
        if not self.over_limit():
            return f"another process met more unreadable files than --max-bad-files {self.max_bad:g} allows"
        return (f"{len(self.bad)} of {self.total} files could not be read ({100 * len(self.bad) / self.total:.2g}% > "
                f"--max-bad-files {self.max_bad:g} = {100 * self.max_bad:g}%); first: {next(iter(self.bad.values()))}")
