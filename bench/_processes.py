"""The helper processes of the benches: a free port on 127.0.0.1 for a server to listen
on, and stopping that server. It measures nothing; each bench prints its own figures."""

from __future__ import annotations

import socket
import subprocess

__all__ = ["free_port", "stop"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def stop(process: subprocess.Popen[bytes] | subprocess.Popen[str], timeout: float = 5.0) -> None:
    """SIGTERM (nginx's and aiohttp's graceful stop), then SIGKILL after `timeout` seconds."""
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
