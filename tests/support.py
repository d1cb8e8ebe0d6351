"""Shared test helpers.

Integration tests that need a system program call `require_program`: without the program
they skip with a reason, but when VIGIE_REQUIRE_INTEGRATION=1 (set by .ci/run) the skip
becomes a failure, so CI can never pass by skipping.
"""

from __future__ import annotations

import os
import shutil

import pytest

REQUIRE_INTEGRATION = os.environ.get("VIGIE_REQUIRE_INTEGRATION") == "1"


def require_program(name: str) -> str:
    """Path of system program `name`, or skip (fail under VIGIE_REQUIRE_INTEGRATION=1)."""
    path = shutil.which(name) or next(
        (
            candidate
            for candidate in (f"/usr/sbin/{name}", f"/usr/local/sbin/{name}")
            if os.access(candidate, os.X_OK)
        ),
        None,
    )
    if path is None:
        message = f"{name} is not installed (apt-get install the package that provides it)"
        if REQUIRE_INTEGRATION:
            pytest.fail(f"VIGIE_REQUIRE_INTEGRATION=1 but {message}")
        pytest.skip(message)
    return path
