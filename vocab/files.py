"""Files named in a configuration, opened with bounds: regular files only, under a cap.

A path in a configuration may name a FIFO (a read waits for a writer forever), a device
(`/dev/zero` never ends), a directory, or a file far larger than anything vigie expects.
Each is refused here with the reason, before a byte is read, instead of hanging the
agent or filling its memory. This module must never read past the cap it is given.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from vocab.errors import InputError

__all__ = ["FileRefused", "open_regular_file", "read_regular_file"]


class FileRefused(InputError, ValueError):
    """The path is not a regular file this process can read, or is over the cap; the
    message says which and why, `too_large` tells the two apart for a caller that words
    them its own way."""

    def __init__(self, message: str, *, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def open_regular_file(path: str | Path, max_bytes: int) -> BinaryIO:
    """The file opened for reading, once it is known to be a regular file of at most
    `max_bytes` (FileRefused otherwise, OSError if it cannot be opened)."""
    # O_NONBLOCK: opening a FIFO must not wait for a writer before it can be refused.
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise FileRefused(f"is {_kind(info.st_mode)}, not a regular file")
        if info.st_size > max_bytes:
            raise FileRefused(
                f"is {info.st_size:,} bytes, more than the {max_bytes:,} allowed", too_large=True
            )
        os.set_blocking(descriptor, True)
        return open(descriptor, "rb", closefd=True)
    except BaseException:
        os.close(descriptor)
        raise


def read_regular_file(path: str | Path, max_bytes: int) -> bytes:
    """The whole content of a regular file of at most `max_bytes` (see `open_regular_file`);
    a file that grew past the cap since it was opened is refused too."""
    with open_regular_file(path, max_bytes) as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise FileRefused(f"grew past the {max_bytes:,} bytes allowed", too_large=True)
    return data
