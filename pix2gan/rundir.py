"""The run folder, in one place: ``config.json``, ``checkpoint.pt``, ``best.pt``, ``log.jsonl``, ``samples/`` and the
lock that keeps two trainers out of one folder."""

from __future__ import annotations

import fcntl
import json
import os
import sys
from pathlib import Path

from pix2gan.files import atomic_write_bytes
from pix2gan.errors import Pix2GanError


class RunDir:
    """``RunDir(path)``: where a run's files live; nothing is created until something is written."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.config = self.path / "config.json"
        self.checkpoint = self.path / "checkpoint.pt"
        self.best = self.path / "best.pt"
        self.log = self.path / "log.jsonl"
        self.samples = self.path / "samples"
        self._lock_fd: int | None = None

    def __str__(self) -> str:
        return str(self.path)

    def sample(self, step: int) -> Path:
        return self.samples / f"step_{step:06d}.png"

    def start(self, config_json: str, step: int) -> list[dict]:
        """Open the folder for a trainer at ``step`` (0, or a resumed checkpoint's): hold the lock, remove what a
        killed writer left, write ``config.json``, drop log lines written after ``step``; returns the log's records
        up to ``step``. :meth:`unlock` when training ends."""
        self.lock()
        self.remove_stale_temporaries()
        self.write(self.config, lambda: self.write_config(config_json + "\n"))
        self.trim_log(step)
        return self.read_log()

    @staticmethod
    def write(path: Path, write) -> None:
        """``write()``, which writes ``path`` of the run; a failure (disk full, permissions) as one line naming the
        file."""
        try:
            write()
        except OSError as e:
            raise Pix2GanError(f"{path}: cannot write ({e.strerror or e}); training stopped") from None

    def write_config(self, text: str) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.config, text.encode())

    def read_config(self) -> dict:
        """The run's resolved configuration, as ``config.json`` holds it."""
        try:
            return json.loads(self.config.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise Pix2GanError(f"{self.path}: not a pix2gan run folder (no config.json)") from None
        except (OSError, json.JSONDecodeError) as e:
            raise Pix2GanError(f"{self.config}: not readable ({e})") from None

    def append_log(self, record: dict) -> None:
        with open(self.log, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def read_log(self) -> list[dict]:
        """The records of ``log.jsonl``; a line that is not JSON (torn by a crash mid-write) is skipped with one
        warning naming the file."""
        if not self.log.exists():
            return []
        records, torn = [], 0
        for line in self.log.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    torn += 1
        if torn:
            print(f"warning: {self.log}: skipped {torn} unreadable line(s) (torn by an interrupted write)",
                  file=sys.stderr)
        return records

    def remove_stale_temporaries(self) -> None:
        """Temporary files a killed writer left (``.NAME.*.tmp``, in the run folder and samples/)."""
        for folder in (self.path, self.samples):
            for tmp in folder.glob(".*.tmp*") if folder.is_dir() else ():
                tmp.unlink(missing_ok=True)

    def trim_log(self, step: int) -> None:
        """On resume, drop log lines written after the checkpoint's ``step`` (they will be written again)."""
        if self.log.exists():
            kept = [r for r in self.read_log() if r.get("step", 0) <= step]
            atomic_write_bytes(self.log, "".join(json.dumps(r) + "\n" for r in kept).encode())

    def lock(self) -> None:
        """Hold ``.lock`` (a POSIX record lock: released when this process ends, however it ends, and not
        inherited by DataLoader workers, which may outlive a killed trainer by a few seconds) until :meth:`unlock`."""
        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise Pix2GanError(f"{self.path}: another pix2gan process (pid {holder}) is training in this folder") \
                from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            fcntl.lockf(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None
