"""Files a configuration names are read only if they are regular files under the cap, and
a refusal says which of the two it is."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from vocab.files import FileRefused, read_regular_file


def test_a_small_regular_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_bytes(b"x" * 100)
    assert read_regular_file(path, 100) == b"x" * 100


@pytest.mark.parametrize(
    ("make", "message", "too_large"),
    [
        pytest.param(lambda p: p.write_bytes(b"x" * 101), "more than the 100 allowed", True,
                     id="too-large"),
        pytest.param(lambda p: p.mkdir(), "is a directory, not a regular file", False,
                     id="directory"),
        pytest.param(os.mkfifo, "is a FIFO, not a regular file", False, id="fifo"),
    ],
)  # fmt: skip
def test_refused(
    tmp_path: Path, make: Callable[[Path], object], message: str, too_large: bool
) -> None:
    path = tmp_path / "entry"
    make(path)
    with pytest.raises(FileRefused, match=message) as refused:
        read_regular_file(path, 100)
    assert refused.value.too_large is too_large


def test_a_device_is_refused_before_a_byte_is_read() -> None:
    with pytest.raises(FileRefused, match="is a device") as refused:
        read_regular_file("/dev/zero", 100)
    assert not refused.value.too_large
