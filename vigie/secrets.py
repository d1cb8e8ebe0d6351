"""Secret values in the configuration: inline, from an environment variable, or from a file.

The implementation lives in `ticket_sink.secret` (the notification sinks' configuration
needs it too, and `ticket_sink` must not import `vigie`); this module keeps the name the
rest of `vigie` imports.
"""

from __future__ import annotations

from ticket_sink.secret import Secret, resolve_secret

__all__ = ["Secret", "resolve_secret"]
