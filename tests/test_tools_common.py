"""What tools/common.py reads photos out of: Qt resource files (GCompris packs its photos in them)."""

import struct
import sys
import zlib
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
from common import rcc_files  # noqa: E402


def qt_resource(files: dict[str, tuple[bytes, bool]]) -> bytes:
    """A Qt resource file (format version 2) holding ``files`` (``"dir/name"`` → (bytes, zlib-packed)), one
    directory level deep, written the way Qt's rcc lays it out."""
    dirs = sorted({name.split("/")[0] for name in files})
    names, data, nodes = b"", b"", []

    def name_offset(name: str) -> int:
        nonlocal names
        at = len(names)
        names += struct.pack(">HI", len(name), 0) + name.encode("utf-16-be")
        return at

    def file_node(name: str, content: bytes, packed: bool) -> bytes:
        nonlocal data
        at = len(data)
        body = struct.pack(">I", len(content)) + zlib.compress(content) if packed else content
        data += struct.pack(">I", len(body)) + body
        return struct.pack(">IHHHIQ", name_offset(name), 1 if packed else 0, 0, 0, at, 0)

    nodes.append(struct.pack(">IHIIQ", 0, 2, len(dirs), 1, 0))  # the root: its children start at node 1
    children = [sorted(n for n in files if n.split("/")[0] == d) for d in dirs]
    first = 1 + len(dirs)
    for d, kids in zip(dirs, children):
        nodes.append(struct.pack(">IHIIQ", name_offset(d), 2, len(kids), first, 0))
        first += len(kids)
    for kids in children:
        nodes += [file_node(n.split("/")[1], *files[n]) for n in kids]
    tree = b"".join(nodes)
    head = 20
    return b"qres" + struct.pack(">4I", 2, head, head + len(tree), head + len(tree) + len(data)) + tree + data + names


def test_a_qt_resource_file_gives_back_every_file_packed_or_not():
    files = {"activity/photo.jpg": (b"\xff\xd8 a jpeg" * 50, True), "activity/board.qml": (b"Item {}", False),
             "other/x.webp": (b"RIFF....WEBP", False)}
    assert rcc_files(qt_resource(files)) == {name: content for name, (content, _) in files.items()}


def test_a_file_that_is_not_a_qt_resource_is_refused():
    with pytest.raises(ValueError, match="not a Qt resource file"):
        rcc_files(b"PK\x03\x04 a zip file")
