"""vigie: availability monitoring and incident correlation for eDelivery infrastructure.

This package wires the others together (configuration, scheduler, HTTP server, CLI, lab).
Nothing in probes/, correlator/ or ticket_sink/ imports it.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("vigie")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
