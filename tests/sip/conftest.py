"""Fixtures for SIP tests: the line as a real process on free ports, sipp and baresip peers.

Every peer talks to 127.0.0.1 only. Each process a test starts has a timeout
and is stopped by its own process id when the test ends.
"""

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[2]
SCENARIOS = Path(__file__).resolve().parent / "scenarios"
HOST = "127.0.0.1"

needs_peers = pytest.mark.skipif(not (shutil.which("sipp") and shutil.which("baresip")),
                                 reason="sipp (Debian package sip-tester) and baresip are needed")


def _port_is_free(port):
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind((HOST, port))
            except OSError:
                return False
    return True


def free_ports(count):
    """Return the first of `count` consecutive ports free on UDP and TCP."""
    for _ in range(200):
        base = random.randrange(21000, 59000)
        if all(_port_is_free(base + i) for i in range(count)):
            return base
    raise RuntimeError(f"no {count} consecutive free ports found on {HOST}")


class LineProcess:
    """`python -m ivr.sip` running with a test handler (or the voice line) on free ports."""

    def __init__(self, workdir, handler=None, capacity=2, env=None, prompt_cache=None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        if prompt_cache is not None:   # reuse prompts the test session already synthesised
            (self.workdir / "data").mkdir(exist_ok=True)
            (self.workdir / "data" / "prompt-cache").symlink_to(prompt_cache)
        self.capacity = capacity
        workers = -(-capacity // 4)
        self.port = free_ports(workers + 1)
        self.log_path = self.workdir / "line.log"
        self.events_path = self.workdir / "events.jsonl"
        self.data_dir = self.workdir / "data"
        self.env = dict(os.environ, IVR_SIP_PORT=str(self.port), IVR_SIP_ADDRESS=HOST,
                        IVR_SIP_CAPACITY=str(capacity), IVR_SIP_RTP_PORT=str(free_ports(1)),
                        IVR_DATA_DIR=str(self.data_dir), IVR_TEST_EVENTS=str(self.events_path),
                        IVR_SIP_LOG_LEVEL="0", PYTHONPATH=str(PROJECT_DIR))
        self.env.update(env or {})
        command = [sys.executable, "-m", "ivr.sip"]
        if handler:
            command += ["--handler", handler]
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(command, cwd=PROJECT_DIR, env=self.env,
                                        stdout=self._log, stderr=subprocess.STDOUT)
        self.wait_for_log("listening on", count=workers, timeout=60)

    def log(self):
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text, count=1, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log().count(text) >= count:
                return
            if self.process.poll() is not None:
                raise AssertionError(f"line exited with {self.process.returncode}:\n{self.log()}")
            time.sleep(0.1)
        raise AssertionError(f"{text!r} not seen {count} times in {timeout} s:\n{self.log()}")

    def events(self):
        if not self.events_path.exists():
            return []
        return [json.loads(line) for line in self.events_path.read_text().splitlines()]

    def wait_for_event(self, predicate, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events():
                if predicate(event):
                    return event
            time.sleep(0.1)
        raise AssertionError(f"no matching event in {timeout} s: {self.events()}\n{self.log()}")

    def worker_pids(self):
        pids = {}
        for line in self.log().splitlines():
            if "started pid=" in line:
                worker = line.split("worker=")[1].split()[0]
                pids[int(worker)] = int(line.split("pid=")[1].split()[0])
        return pids

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self._log.close()


@pytest.fixture
def start_line(tmp_path):
    started = []

    def start(handler="tests.sip.handlers:keys", **kwargs):
        line = LineProcess(tmp_path / f"line{len(started)}", handler, **kwargs)
        started.append(line)
        return line

    yield start
    for line in started:
        line.stop()


def run_sipp(workdir, target_port, *args, scenario=None, timeout=30, calls=1, extra_env=None):
    """Run sipp once against 127.0.0.1:`target_port`; return (returncode, stdout)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    pcap = workdir / "pcap"
    if not pcap.exists():
        pcap.symlink_to("/usr/share/sip-tester")
    command = ["sipp", f"{HOST}:{target_port}", "-i", HOST, "-mi", HOST,
               "-p", str(free_ports(1)), "-m", str(calls), "-nostdin",
               "-timeout", f"{timeout}s", "-timeout_error", "-trace_err",
               "-error_file", str(workdir / "sipp_errors.log")]
    command += ["-sf", str(SCENARIOS / scenario)] if scenario and scenario.endswith(".xml") \
        else ["-sn", scenario or "uac_pcap"]
    command += list(args)
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True,
                            timeout=timeout + 15)
    return result.returncode, result.stdout + result.stderr


def sipp_counts(output):
    """Return (successful, failed) call counts from sipp's final statistics."""
    def count(label):
        for line in reversed(output.splitlines()):
            if line.strip().startswith(label):
                return int(line.split("|")[2].split()[0])
        return None
    return count("Successful call"), count("Failed call")


class Baresip:
    """A baresip user agent with a WAV file as microphone and a recording of what it hears."""

    def __init__(self, workdir, user, wav=None, listen_port=None, auto_answer=False,
                 codec="PCMU"):
        self.workdir = Path(workdir)
        self.config_dir = self.workdir / "config"
        self.record_dir = self.workdir / "heard"
        self.config_dir.mkdir(parents=True, exist_ok=True)
        self.record_dir.mkdir(parents=True, exist_ok=True)
        self.port = listen_port or free_ports(1)
        self.console_port = free_ports(1)
        self.user = user
        if wav is None:   # a quiet tone: ausine only runs at 48 kHz
            wav = self.workdir / "tone.wav"
            subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(wav),
                            "synth", "60", "sine", "300", "vol", "0.05"], check=True)
        modules = ["cons", "g711", "g722", "aufile", "aubridge", "sndfile", "account", "menu"]
        lines = [f"sip_listen {HOST}:{self.port}", f"net_interface {HOST}",
                 f"audio_source aufile,{wav}", "audio_player aubridge,nowhere",
                 "audio_alert aubridge,nowhere", f"snd_path {self.record_dir}",
                 f"cons_listen {HOST}:{self.console_port}", "rtp_ports 30000-39000",
                 "module_path /usr/lib/baresip/modules"]
        lines += [f"module {name}.so" for name in modules]
        (self.config_dir / "config").write_text("\n".join(lines) + "\n")
        (self.config_dir / "accounts").write_text(
            f"<sip:{user}@{HOST}:{self.port}>;regint=0;audio_codecs={codec}"
            f";answermode={'auto' if auto_answer else 'manual'}\n")
        self.log_path = self.workdir / "baresip.log"
        self.process = None

    def start(self, dial=None, seconds=60):
        command = ["baresip", "-f", str(self.config_dir), "-t", str(seconds)]
        if dial:
            command += ["-e", f"/dial {dial}"]
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
        return self

    def send_key(self, digit):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(digit.encode(), (HOST, self.console_port))

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_log(self, text, timeout):
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError(f"baresip never logged {text!r}:\n{self.log()}")
            time.sleep(0.1)

    def wait(self, timeout):
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process is not None:
            self._log.close()


@pytest.fixture
def baresip(tmp_path):
    agents = []

    def make(name, **kwargs):
        agent = Baresip(tmp_path / name, **kwargs)
        agents.append(agent)
        return agent

    yield make
    for agent in agents:
        agent.stop()
