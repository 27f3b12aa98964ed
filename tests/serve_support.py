"""Runs the real service for the tests: ``python -m turborec serve`` under uvicorn in a
subprocess on 127.0.0.1 and a free port, talked to over HTTP with httpx."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, model, events_url, log_dir, *args, token=TOKEN, poll_interval=0.2):
        self.model, self.events_url, self.args = str(model), events_url, [str(a) for a in args]
        self.token, self.poll_interval = token, poll_interval
        self.log_path = Path(log_dir) / f"server-{free_port()}.log"
        self.proc = None
        self.port = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout=60.0) -> "Server":
        self.port = free_port()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env.pop("TURBOREC_SERVE_TOKEN", None)
        if self.token is not None:
            env["TURBOREC_SERVE_TOKEN"] = self.token
        cmd = [sys.executable, "-m", "turborec", "serve", "--model", self.model, "--events", self.events_url,
               "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "info",
               "--poll-interval", str(self.poll_interval), *self.args]
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._log.close()
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.logs()}")
            try:
                if httpx.get(self.url + "/v1/health", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not start within {timeout} s:\n{self.logs()}")

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30.0, **kwargs)

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._log.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)
        if self.proc is not None:
            self._log.close()

    def logs(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def wait_until(predicate, timeout=15.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def metric(text: str, name: str, **labels) -> float:
    """The value of one sample in Prometheus text output (0.0 when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    prefix = f"{name}{{{want}}}" if labels else name
    for line in text.splitlines():
        if line.startswith(prefix + " "):
            return float(line.split()[-1])
    return 0.0
