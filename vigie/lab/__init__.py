"""The lab: a self-contained eDelivery environment on 127.0.0.1 (see `vigie.lab.lab`)."""

from vigie.lab.faults import Fault, FaultKind, Faults
from vigie.lab.lab import Lab, LabSettings

__all__ = ["Fault", "FaultKind", "Faults", "Lab", "LabSettings"]
