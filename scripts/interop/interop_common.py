"""Shared bits of the python interop scripts: PASS/FAIL bookkeeping and starting a target command."""
import os
import signal
import socket
import subprocess
import sys
import time
from urllib.parse import urlsplit

# websockets caps messages at 4096 fragments; peers of a conformant implementation may send more.
os.environ.setdefault("WEBSOCKETS_MAX_FRAGMENTS", str(1 << 20))

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class Results:
    def __init__(self, name):
        self.name, self.passed, self.failed = name, 0, 0

    def check(self, label, ok, detail=""):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        print(f"{'PASS' if ok else 'FAIL'} {self.name}: {label}{' -- ' + detail if detail else ''}", flush=True)
        return ok

    def finish(self):
        print(f"{self.name}: {self.passed} passed, {self.failed} failed", flush=True)
        return 1 if self.failed or not self.passed else 0


def loopback_port(url):
    u = urlsplit(url)
    if u.scheme != "ws" or u.hostname not in LOOPBACK:
        sys.exit(f"refusing {url}: only ws:// on loopback")
    return u.hostname, u.port or 80


def port_open(host, port):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class Target:
    """Starts `cmd` (with {port} filled in) in its own process group and waits until it listens."""

    def __init__(self, cmd, url, ready_timeout=60.0):
        self.proc = None
        if not cmd:
            return
        host, port = loopback_port(url)
        if port_open(host, port):
            sys.exit(f"{host}:{port} is already in use: refusing to test whatever listens there")
        cmd = cmd.replace("{port}", str(port))
        print(f"starting target: {cmd}", flush=True)
        self.proc = subprocess.Popen(["bash", "-c", cmd], start_new_session=True)
        deadline = time.monotonic() + ready_timeout
        while not port_open(host, port):
            if self.proc.poll() is not None:
                sys.exit(f"target exited with status {self.proc.returncode} before listening on {port}")
            if time.monotonic() > deadline:
                self.stop()
                sys.exit(f"target not listening on {port} after {ready_timeout} s")
            time.sleep(0.1)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
