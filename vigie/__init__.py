"""vigie: availability monitoring and incident correlation for eDelivery infrastructure.

This package wires the others together (configuration, scheduler, HTTP server, CLI, lab).
Nothing in probes/, correlator/ or ticket_sink/ imports it.
"""

# The one place the version is written: pyproject.toml reads it from here. Asking the
# installed package's metadata instead would cost every command importlib.metadata.
__version__ = "0.1.0"

# The agent's default address, which the CLI's API clients also use. The 9100-9999 range
# is taken by registered exporters; 8942 clashes with none of the usual monitoring ports
# (9090 Prometheus, 9093 Alertmanager, 9115 blackbox, 3000 Grafana).
DEFAULT_LISTEN = "127.0.0.1:8942"

# What vigie's HTTP requests say they are: the shared client's, and those probers send on
# their own connections (`ProbeEnv.user_agent`).
USER_AGENT = f"vigie/{__version__} (+eDelivery monitoring)"

__all__ = ["DEFAULT_LISTEN", "USER_AGENT", "__version__"]
