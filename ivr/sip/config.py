"""Settings of the SIP channel, read from environment variables.

| variable | default | meaning |
| --- | --- | --- |
| IVR_SIP_ADDRESS | 127.0.0.1 | address the front port, the workers and RTP bind to |
| IVR_SIP_PORT | 5060 | front port that callers and PBXs send calls to |
| IVR_SIP_TRANSPORTS | udp,tcp | transports of the front port and the workers |
| IVR_SIP_CAPACITY | 4 | simultaneous calls; calls beyond it get 503 |
| IVR_SIP_WORKER_PORT | front port + 1 | first worker's port; worker i listens on this + i |
| IVR_SIP_CALLS_PER_WORKER | 4 | calls per worker process (PJSUA's compile-time limit is 4) |
| IVR_SIP_RTP_PORT | 20000 | first RTP port; worker i allocates from this + 200 * i |
| IVR_SIP_CLOCK_RATE | 16000 | rate of the frames given to the dialogs, 16000 or 8000 Hz |
| IVR_SIP_CODECS | PCMU,PCMA,G722 | enabled codecs in order of preference |
| IVR_SIP_REGISTRAR | (none) | registrar URI, for example sip:pbx.example.org; no registration when unset |
| IVR_SIP_USER | ivr | user part of the line's SIP address and of the registration |
| IVR_SIP_PASSWORD | (none) | password for digest authentication at the registrar |
| IVR_TRANSFER_TIMEOUT | 20 | seconds an operator has to answer a transfer |
| IVR_SIP_TRANSFER | refer | refer (REFER, then bridge when refused) or bridge (always bridge) |
| IVR_SIP_LOG_LEVEL | 1 | PJSIP's own log level, 0 (none) to 6 (everything) |

The operator's address is the line's setting IVR_OPERATOR_URI.
"""

import math
import os
from dataclasses import dataclass

from ivr.config import ConfigError, _env_float, _env_int

MAX_CALLS_PER_PROCESS = 4
KNOWN_TRANSPORTS = ("udp", "tcp")
KNOWN_CODECS = ("PCMU", "PCMA", "G722")
RTP_PORTS_PER_WORKER = 200


@dataclass
class SipSettings:
    address: str = "127.0.0.1"
    port: int = 5060
    transports: tuple = KNOWN_TRANSPORTS
    capacity: int = 4
    worker_port: int = None
    calls_per_worker: int = MAX_CALLS_PER_PROCESS
    rtp_port: int = 20000
    clock_rate: int = 16000
    codecs: tuple = KNOWN_CODECS
    registrar: str = ""
    user: str = "ivr"
    password: str = ""
    transfer_timeout: float = 20.0
    transfer_method: str = "refer"
    log_level: int = 1

    def __post_init__(self):
        if self.worker_port is None:
            self.worker_port = self.port + 1
        self.transports = tuple(self.transports)
        self.codecs = tuple(self.codecs)
        self._check()

    def _check(self):
        unknown = [t for t in self.transports if t not in KNOWN_TRANSPORTS]
        if unknown or not self.transports:
            raise ConfigError(f"IVR_SIP_TRANSPORTS={','.join(self.transports)!r} is invalid; "
                              "use udp, tcp or udp,tcp")
        unknown = [c for c in self.codecs if c not in KNOWN_CODECS]
        if unknown or not self.codecs:
            raise ConfigError(f"IVR_SIP_CODECS={','.join(self.codecs)!r} is invalid; "
                              f"use some of {','.join(KNOWN_CODECS)}")
        if self.capacity < 1:
            raise ConfigError(f"IVR_SIP_CAPACITY={self.capacity} must be 1 or more")
        if not 1 <= self.calls_per_worker <= MAX_CALLS_PER_PROCESS:
            raise ConfigError(f"IVR_SIP_CALLS_PER_WORKER={self.calls_per_worker} must be "
                              f"from 1 to {MAX_CALLS_PER_PROCESS}: PJSUA holds at most "
                              f"{MAX_CALLS_PER_PROCESS} calls per process")
        if self.clock_rate not in (8000, 16000):
            raise ConfigError(f"IVR_SIP_CLOCK_RATE={self.clock_rate} is invalid; use 16000 or 8000")
        if self.transfer_method not in ("refer", "bridge"):
            raise ConfigError(f"IVR_SIP_TRANSFER={self.transfer_method!r} is invalid; "
                              "use refer or bridge")
        last_port = self.worker_port + self.worker_count - 1
        for name, value in (("IVR_SIP_PORT", self.port), ("IVR_SIP_WORKER_PORT", self.worker_port),
                            ("IVR_SIP_RTP_PORT", self.rtp_port)):
            if not 1 <= value <= 65535:
                raise ConfigError(f"{name}={value} is not a port number (1-65535)")
        if self.worker_port <= self.port <= last_port:
            raise ConfigError(f"IVR_SIP_PORT={self.port} falls inside the worker ports "
                              f"{self.worker_port}-{last_port}; move IVR_SIP_WORKER_PORT")

    @property
    def worker_count(self):
        """Number of worker processes needed for `capacity` calls."""
        return math.ceil(self.capacity / self.calls_per_worker)

    def worker_calls(self, index):
        """Maximum calls of worker `index`; the last worker takes the remainder."""
        return min(self.calls_per_worker, self.capacity - index * self.calls_per_worker)

    def worker_rtp_port(self, index):
        return self.rtp_port + RTP_PORTS_PER_WORKER * index


def _env_list(name, default):
    raw = os.environ.get(name)
    if not raw:
        return default
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def load_sip_settings(**overrides):
    """Build SipSettings from the environment; keyword arguments win over both.

    Raises ConfigError naming the variable when a value is invalid.
    """
    env = os.environ
    port = _env_int("IVR_SIP_PORT", 5060)
    values = dict(
        address=env.get("IVR_SIP_ADDRESS", "127.0.0.1"),
        port=port,
        transports=tuple(t.lower() for t in _env_list("IVR_SIP_TRANSPORTS", KNOWN_TRANSPORTS)),
        capacity=_env_int("IVR_SIP_CAPACITY", 4),
        worker_port=_env_int("IVR_SIP_WORKER_PORT", port + 1),
        calls_per_worker=_env_int("IVR_SIP_CALLS_PER_WORKER", MAX_CALLS_PER_PROCESS),
        rtp_port=_env_int("IVR_SIP_RTP_PORT", 20000),
        clock_rate=_env_int("IVR_SIP_CLOCK_RATE", 16000),
        codecs=tuple(c.upper() for c in _env_list("IVR_SIP_CODECS", KNOWN_CODECS)),
        registrar=env.get("IVR_SIP_REGISTRAR", ""),
        user=env.get("IVR_SIP_USER", "ivr"),
        password=env.get("IVR_SIP_PASSWORD", ""),
        transfer_timeout=_env_float("IVR_TRANSFER_TIMEOUT", 20.0),
        transfer_method=env.get("IVR_SIP_TRANSFER", "refer").lower(),
        log_level=_env_int("IVR_SIP_LOG_LEVEL", 1),
    )
    values.update(overrides)
    # A front port given as an argument moves the default worker ports with it.
    if "port" in overrides and "worker_port" not in overrides and not env.get("IVR_SIP_WORKER_PORT"):
        values["worker_port"] = overrides["port"] + 1
    return SipSettings(**values)
