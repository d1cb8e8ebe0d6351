"""Probes: one module per protocol, one prober signature, one registry table.

The tables live in `probes.registry`; the names below are loaded on first use, so that a
command which runs one kind of check (or only prints its help) does not import every
prober. This package imports none of vigie's other packages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import lazy_loader

if TYPE_CHECKING:
    from probes._base import Check as Check
    from probes._base import CheckDefaults as CheckDefaults
    from probes._base import FailureReason as FailureReason
    from probes._base import Findings as Findings
    from probes._base import ProbeEnv as ProbeEnv
    from probes._base import Prober as Prober
    from probes._base import ProbeResult as ProbeResult
    from probes._base import Series as Series
    from probes._metrics import ProbeCollector as ProbeCollector
    from probes._runner import CheckRecord as CheckRecord
    from probes._runner import ResultBook as ResultBook
    from probes._runner import Runner as Runner
    from probes.registry import PROBERS as PROBERS
    from probes.registry import TARGETS as TARGETS
    from probes.registry import TargetSpec as TargetSpec
else:
    # Hidden from type checkers, which read the imports above instead.
    __getattr__, __dir__, __all__ = lazy_loader.attach(
        __name__,
        submod_attrs={
            "_base": [
                "Check",
                "CheckDefaults",
                "FailureReason",
                "Findings",
                "ProbeEnv",
                "Prober",
                "ProbeResult",
                "Series",
            ],
            "_metrics": ["ProbeCollector"],
            "_runner": ["CheckRecord", "ResultBook", "Runner"],
            "registry": ["PROBERS", "TARGETS", "TargetSpec"],
        },
    )
