"""Where messages come from outside SMTP: an .eml file, an mbox, a Maildir, a folder, stdin."""

from __future__ import annotations

import mailbox
import sys
from collections.abc import Iterator
from pathlib import Path

from optout.errors import OptoutError


def messages(paths: list[str]) -> Iterator[tuple[str, bytes]]:
    """(source label, raw bytes) for every message under the given paths, in order.

    Labels are the path, with ``#N`` for the Nth message of an mbox.
    """
    for name in paths:
        if name == "-":
            yield "-", sys.stdin.buffer.read()
            continue
        path = Path(name)
        if path.is_dir():
            yield from _folder(path)
        elif path.is_file():
            yield from _file(path)
        else:
            raise OptoutError(f"no such file or folder: {name}")


def _folder(path: Path) -> Iterator[tuple[str, bytes]]:
    if (path / "cur").is_dir() and (path / "new").is_dir():
        box = mailbox.Maildir(path, factory=None, create=False)
        for key in sorted(box.iterkeys()):
            yield f"{path}/{key}", box.get_bytes(key)
        return
    for file in sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() == ".eml"):
        yield from _file(file)


def _file(path: Path) -> Iterator[tuple[str, bytes]]:
    try:
        with path.open("rb") as handle:
            head = handle.read(5)
    except OSError as exc:
        raise OptoutError(f"cannot read {path}: {exc.strerror}") from None
    if head != b"From ":
        yield str(path), path.read_bytes()
        return
    box = mailbox.mbox(path, create=False)
    try:
        for number, key in enumerate(box.iterkeys(), 1):
            yield f"{path}#{number}", box.get_bytes(key)
    finally:
        box.close()
