"""A lab kept across restarts (`vigie lab --state-dir DIR`): what DIR holds, read back.

DIR/lab.json names the port of every service and the size of the zone; DIR/pki/ holds the
PKI (`LabPki.write_pem_files`), which the lab serves again while it is valid. With the
same ports, zone and PKI, a configuration written against the lab keeps working after a
restart. It must never keep anything but the lab's own throwaway material.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError

from vigie.lab.lab import LabSettings
from vocab import StrictModel

__all__ = ["STATE_FILE", "LabState", "kept_lab_settings"]

STATE_FILE = "lab.json"
_MAX_STATE_BYTES = 64 * 1024


class LabState(StrictModel):
    participants: int = Field(ge=1)
    ports: dict[str, int] = Field(default_factory=dict)

    @classmethod
    def read(cls, directory: Path) -> LabState | None:
        """The state kept in `directory`, None when there is none yet; ValueError when
        it cannot be used."""
        path = directory / STATE_FILE
        try:
            with path.open("rb") as file:
                text = file.read(_MAX_STATE_BYTES + 1)
        except FileNotFoundError:
            return None
        if len(text) > _MAX_STATE_BYTES:
            raise ValueError(f"{path}: larger than a lab's state")
        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            raise ValueError(f"{path}: not a lab state ({exc.error_count()} problems)") from None

    def write(self, directory: Path) -> None:
        (directory / STATE_FILE).write_text(self.model_dump_json(indent=2) + "\n", "utf-8")


def kept_lab_settings(directory: Path, participants: int) -> LabSettings:
    """Settings that bring the lab kept in `directory` back (or start one there)."""
    directory = directory.absolute()  # the configuration written there names its files
    directory.mkdir(parents=True, exist_ok=True)
    state = LabState.read(directory)
    if state is not None and state.participants != participants:
        raise ValueError(
            f"{directory} keeps a lab of {state.participants} participants, not "
            f"{participants}: give --participants {state.participants}, or another directory"
        )
    return LabSettings(
        participants=participants,
        workdir=directory,
        ports=state.ports if state is not None else {},
        reuse_pki=True,
    )
