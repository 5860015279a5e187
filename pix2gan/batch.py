"""Folder-to-folder processing shared by the inference commands: mirror the tree, write atomically, keep going."""

from __future__ import annotations

import collections
import itertools
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from pix2gan.data.images import IMAGE_SUFFIXES, list_images
from pix2gan.files import replacing
from pix2gan.errors import Pix2GanError


@dataclass
class Summary:
    done: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)

    def __iadd__(self, other: Summary) -> Summary:
        self.done, self.skipped = self.done + other.done, self.skipped + other.skipped
        self.failed += other.failed
        return self

    def line(self, verb: str) -> str:
        return f"{verb} {self.done}, skipped {self.skipped} (already there; --overwrite to redo), failed {len(self.failed)}"


def plan(input_path: Path, output_path: Path, suffix: str = ".png",
         videos: frozenset[str] = frozenset()) -> list[tuple[Path, Path]]:
    """Pairs (source, output file) for a file or a folder (recursive, tree mirrored). Images become ``suffix``
    files (when two sources would share an output name, the one not already named ``suffix`` keeps its own:
    ``a.jpg.png``); files ending in one of ``videos`` keep their name (a video in, the same kind of video out).

    Raises:
        Pix2GanError: missing input, OUTPUT equal to or inside INPUT, a video's output not a video file, or an
            output file name for a folder input.
    """
    if not input_path.exists():
        raise Pix2GanError(f"{input_path}: no such file or folder")
    src, dst = input_path.resolve(), output_path.resolve()
    if input_path.is_file():
        if input_path.suffix.lower() in videos:
            if output_path.is_dir() or not output_path.suffix:
                output_path = output_path / input_path.name
            elif output_path.suffix.lower() not in videos:
                raise Pix2GanError(f"{output_path}: a video's output must be a video file "
                                   f"({', '.join(sorted(videos))}) or a folder")
        elif output_path.is_dir() or output_path.suffix.lower() not in IMAGE_SUFFIXES:
            output_path = output_path / (input_path.stem + suffix)
        if output_path.resolve() == src:  # whatever the flags: INPUT is never written to
            raise Pix2GanError(f"{output_path}: is the input itself; refusing to overwrite the input")
        return [(input_path, output_path)]
    if dst == src or src in dst.parents:
        raise Pix2GanError(f"{output_path}: the output folder must not be the input folder or inside it")
    if output_path.exists() and not output_path.is_dir():
        raise Pix2GanError(f"{output_path}: exists and is not a folder")
    sources = list_images(input_path, IMAGE_SUFFIXES | videos)
    if not sources:
        raise Pix2GanError(f"{input_path}: no image files found" + (" (nor videos)" if videos else ""))
    rel = [p.relative_to(input_path) for p in sources]
    still = [r for r in rel if r.suffix.lower() not in videos]
    key = lambda r: r.with_suffix(suffix).as_posix().lower()  # noqa: E731 - x.PNG and x.png collide on some disks
    taken = Counter(key(r) for r in still)
    # a.jpg, a.png and a.PNG would all become a.png: the one named exactly a.png keeps it, the others keep their
    # suffix (a.jpg.png, a.PNG.png)
    names = [r if r.suffix.lower() in videos else r.with_suffix(suffix) if taken[key(r)] == 1 or r.suffix == suffix
             else r.with_name(r.name + suffix) for r in rel]
    return [(p, output_path / n) for p, n in zip(sources, names)]


def with_samples(pairs: list[tuple[Path, Path]], n: int) -> list[tuple[Path, Path, int]]:
    """Each pair ``n`` times as ``(source, output, sample)``, outputs named ``NAME_s0.png`` ... ``NAME_s{n-1}.png``
    (one sample: the pair as it is, sample 0)."""
    if n == 1:
        return [(src, dst, 0) for src, dst in pairs]
    return [(src, dst.with_name(f"{dst.stem}_s{i}{dst.suffix}"), i) for src, dst in pairs for i in range(n)]


def _report(summary: Summary, e: Exception, src: Path, dst: Path) -> None:
    """One line for a file that failed, naming it; the batch goes on."""
    if isinstance(e, Pix2GanError):
        line = f"error: {e}"
    elif isinstance(e, OSError):
        line = f"error: {dst}: cannot write ({e.strerror or e})"
    else:
        line = f"error: {src}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    tqdm.write(line, file=sys.stderr)
    summary.failed.append(str(src))


def process(pairs: list[tuple], write: Callable[..., None], *, overwrite: bool = False,
            progress: bool = True, desc: str = "images") -> Summary:
    """``write(source, tmp, *rest)`` for every ``(source, output, *rest)`` (rest: e.g. the sample of
    :func:`with_samples`), ``tmp`` a temporary name beside the output (same suffix) that becomes the output only when
    ``write`` succeeded; a failing file is reported in one line (``error: <path>: <reason>``) and the rest
    continue."""
    summary = Summary()
    for src, dst, *rest in tqdm(pairs, desc=desc, unit="file", disable=not progress, file=sys.stderr,
                                dynamic_ncols=True):
        if dst.exists() and not overwrite:
            summary.skipped += 1
            continue
        try:
            with replacing(dst) as tmp:
                write(src, tmp, *rest)
        except Exception as e:  # noqa: BLE001 - any failure on one file is one line naming it; the batch goes on
            _report(summary, e, src, dst)
            continue
        summary.done += 1
    return summary


def _save(save: Callable, result, dst: Path) -> None:
    with replacing(dst) as tmp:
        save(result, tmp)


def process_pipelined(pairs: list[tuple], load: Callable, compute: Callable, save: Callable, *,
                      overwrite: bool = False, progress: bool = True, desc: str = "images",
                      depth: int = 2, timing: Callable[[float, float], None] | None = None,
                      compute_many: Callable[[list], list] | None = None, batch: int = 1) -> Summary:
    """:func:`process` in three stages that overlap: ``load(source)`` (decoding) of the next files in one thread,
    ``compute(loaded, *rest)`` here, ``save(result, tmp)`` (encoding, writing) of the previous ones in another; at
    most ``depth`` files (``batch`` more while computing) wait at each stage, so memory stays flat. The same
    outputs, skips and one-line failures. ``compute_many(list of loaded) -> list of results``, when given, computes
    up to ``batch`` files at once (files without ``rest``; a batch that fails is computed again one by one, so that
    the failure names its file). ``timing(compute seconds, load + save seconds)``: called after each batch's
    compute with the seconds per file (the latest load and save), once a file has been saved."""
    summary = Summary()
    todo = [p for p in pairs if overwrite or not p[1].exists()]
    summary.skipped = len(pairs) - len(todo)
    batch = batch if compute_many is not None else 1
    loading, saving = collections.deque(), collections.deque()
    took = {"load": None, "save": None}  # the latest seconds of each side stage (None: none finished yet)

    def timed(stage: str, fn: Callable) -> Callable:
        def run(*args):
            start = time.perf_counter()
            try:
                return fn(*args)
            finally:
                took[stage] = time.perf_counter() - start
        return run
    load, save = timed("load", load), timed("save", save)

    def finish(item) -> None:
        (src, dst, *_), future = item
        try:
            future.result()
            summary.done += 1
        except Exception as e:  # noqa: BLE001 - one line per file, as in process()
            _report(summary, e, src, dst)

    def computed(ready: list) -> list:
        """``(item, result or the exception)`` for each ``(item, loaded)`` of ``ready``."""
        if len(ready) > 1:
            try:
                return list(zip([item for item, _ in ready], compute_many([loaded for _, loaded in ready])))
            except Exception:  # noqa: BLE001 - again one by one: the failure then names its file
                pass
        out = []
        for item, loaded in ready:
            try:
                out.append((item, compute(loaded, *item[2:])))
            except Exception as e:  # noqa: BLE001 - one line per file, as in process()
                out.append((item, e))
        return out

    with ThreadPoolExecutor(1) as reader, ThreadPoolExecutor(1) as writer, \
            tqdm(total=len(todo), desc=desc, unit="file", disable=not progress, file=sys.stderr,
                 dynamic_ncols=True) as bar:
        queue = iter(todo)
        for item in itertools.islice(queue, depth + batch - 1):
            loading.append((item, reader.submit(load, item[0])))
        while loading:
            group = [loading.popleft() for _ in range(min(batch, len(loading)))]
            for item in itertools.islice(queue, len(group)):
                loading.append((item, reader.submit(load, item[0])))
            ready = []
            for item, loaded in group:
                try:
                    ready.append((item, loaded.result()))
                except Exception as e:  # noqa: BLE001 - one line per file, as in process()
                    _report(summary, e, item[0], item[1])
                    bar.update(1)
            start = time.perf_counter()
            results = computed(ready)
            if timing is not None and results and None not in took.values():
                timing((time.perf_counter() - start) / len(results), took["load"] + took["save"])
            for (src, dst, *_), result in results:
                if isinstance(result, Exception):
                    _report(summary, result, src, dst)
                    bar.update(1)
                    continue
                saving.append(((src, dst), writer.submit(_save, save, result, dst)))
                while len(saving) > depth + batch - 1:
                    finish(saving.popleft())
                    bar.update(1)
        while saving:
            finish(saving.popleft())
            bar.update(1)
    return summary
