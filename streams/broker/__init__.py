"""A single-node Apache Kafka broker (KRaft, combined broker+controller) from Maven jars.

For machines without Docker. Jars are resolved by Maven from ``pom.xml`` beside this file and
cached under the state directory; data and logs live there too, so wiping it resets all.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from base64 import urlsafe_b64encode
from dataclasses import dataclass
from pathlib import Path

from providers.errors import ColdstreamError

POM = Path(__file__).with_name("pom.xml")

SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={data}
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
log.segment.bytes=67108864
"""

LOG4J2 = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.stdout.ref = STDOUT
"""


class BrokerError(ColdstreamError):
    """The local broker could not be prepared, started or stopped."""


@dataclass(frozen=True, slots=True)
class LocalKafka:
    state_dir: Path
    port: int = 9092
    controller_port: int = 9093
    heap: str = "512M"

    def __post_init__(self) -> None:
        # Maven resolves relative paths against the pom's folder: make ours absolute.
        object.__setattr__(self, "state_dir", Path(self.state_dir).resolve())

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def libs(self) -> Path:
        # Jars are shared by every broker state dir of this checkout: one download.
        return self.state_dir.parent / "kafka-libs"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "broker.log"

    # --- jars ------------------------------------------------------------------------

    def ensure_jars(self) -> None:
        stamp = self.libs / ".pom-sha256"
        digest = hashlib.sha256(POM.read_bytes()).hexdigest()
        if stamp.exists() and stamp.read_text() == digest:
            return
        if shutil.which("mvn") is None or shutil.which("java") is None:
            raise BrokerError("the local broker needs Java 17+ and Maven on PATH")
        if self.libs.exists():
            shutil.rmtree(self.libs)
        self.libs.mkdir(parents=True)
        result = subprocess.run(
            [
                "mvn",
                "-q",
                "-B",
                "-f",
                str(POM),
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={self.libs}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise BrokerError(f"maven could not fetch the Kafka jars:\n{result.stdout[-3000:]}")
        stamp.write_text(digest)

    # --- lifecycle -------------------------------------------------------------------

    def _java(self, *args: str) -> list[str]:
        return ["java", "-cp", str(self.libs / "*"), *args]

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid

    def answering(self) -> bool:
        """Does the broker answer a Kafka ApiVersions request on its port?"""
        # ApiVersions v0: size, api_key=18, version=0, correlation_id=1, client_id=null.
        request = b"\x00\x00\x00\x0a\x00\x12\x00\x00\x00\x00\x00\x01\xff\xff"
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as sock:
                sock.sendall(request)
                reply = sock.recv(16)
        except OSError:
            return False
        # The correlation id comes back, and error_code 0 once the broker is serving.
        return len(reply) >= 10 and reply[4:8] == b"\x00\x00\x00\x01" and reply[8:10] == b"\x00\x00"

    def start(self, *, timeout_s: float = 90.0) -> str:
        """Start if not running (idempotent); return once the broker answers."""
        if self.pid() is not None and self.answering():
            return "already running"
        if self.pid() is None and self.answering():
            # Something else (another checkout's broker, a container) serves this port.
            return "already answering (not started from this state directory)"
        if self.pid() is not None:
            self._wait_answering(timeout_s)
            return "started"
        self.ensure_jars()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        data = self.state_dir / "data"
        properties = self.state_dir / "server.properties"
        properties.write_text(
            SERVER_PROPERTIES.format(
                port=self.port, controller_port=self.controller_port, data=data
            )
        )
        log4j = self.state_dir / "log4j2.properties"
        log4j.write_text(LOG4J2)
        if not (data / "meta.properties").exists():
            cluster_id = urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            fmt = subprocess.run(
                self._java(
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    cluster_id,
                    "-c",
                    str(properties),
                    "--ignore-formatted",
                ),
                capture_output=True,
                text=True,
                check=False,
            )
            if fmt.returncode != 0:
                raise BrokerError(f"formatting Kafka storage failed:\n{fmt.stdout}{fmt.stderr}")
        with self.log_file.open("ab") as log:
            process = subprocess.Popen(
                [
                    "java",
                    f"-Xmx{self.heap}",
                    f"-Xms{self.heap}",
                    "-server",
                    "-XX:+UseG1GC",
                    "-Djava.awt.headless=true",
                    f"-Dlog4j2.configurationFile={log4j}",
                    "-cp",
                    str(self.libs / "*"),
                    "kafka.Kafka",
                    str(properties),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # survives the CLI that started it
            )
        self.pid_file.write_text(str(process.pid))
        try:
            self._wait_answering(timeout_s, process)
        except BrokerError:
            self.stop()
            raise
        return "started"

    def _wait_answering(
        self, timeout_s: float, process: subprocess.Popen[bytes] | None = None
    ) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.answering():
                return
            if process is not None and process.poll() is not None:
                tail = self.log_file.read_text(errors="replace")[-3000:]
                raise BrokerError(f"the broker exited with {process.returncode}:\n{tail}")
            time.sleep(0.3)
        raise BrokerError(f"the broker did not answer on {self.bootstrap} in {timeout_s:.0f}s")

    def stop(self, *, timeout_s: float = 30.0) -> str:
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return "not running"
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.pid() is not None:
            _reap(pid)
            time.sleep(0.2)
        if self.pid() is not None:
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)
            _reap(pid)
        self.pid_file.unlink(missing_ok=True)
        return "stopped"

    def kill(self) -> None:
        """Hard kill (tests: a broker crash)."""
        pid = self.pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)
            _reap(pid)
            self.pid_file.unlink(missing_ok=True)

    def status(self) -> str:
        pid = self.pid()
        if pid is None:
            return "stopped"
        return f"running (pid {pid}) on {self.bootstrap}" + (
            "" if self.answering() else ", not answering yet"
        )


def _reap(pid: int) -> None:
    """Collect our own child's exit status so it does not linger as a zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
