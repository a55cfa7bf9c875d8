"""The front port: a small stateless SIP proxy that spreads calls over the worker processes.

Callers and PBXs send every request to one address (IVR_SIP_ADDRESS:IVR_SIP_PORT,
UDP or TCP). For a new INVITE the front picks the worker with the fewest calls
that still has room, or answers 503 Service Unavailable with Retry-After when
every worker is full. Other requests follow their Call-ID to the worker that
has the call; a request for an unknown Call-ID goes to the least busy worker,
which answers it itself (481 for a BYE of an unknown call, 200 for OPTIONS).

Forwarding follows RFC 3261 section 16.11 for stateless proxies: the front adds
its own Via with a branch derived from the caller's branch (so a CANCEL or the
ACK of an error reaches the same server transaction), sends the request to the
worker over UDP, and on the way back removes its Via and returns the response
to the connection or address the request came from. It adds no Record-Route, so
peers that follow the Contact header send in-dialog requests to the worker
directly.

Counting calls: an INVITE forwarded to a worker reserves a place there. The
place is released when a final error response passes, when the worker reports
the call ended, when no final response came within 64 seconds, or when the
worker dies.
"""

import hashlib
import logging
import re
import secrets
import time

logger = logging.getLogger(__name__)

INVITE_TIMEOUT = 64.0        # RFC 3261 timer B: 64 * T1 of 500 ms
ROUTE_GRACE = 32.0           # keep a Call-ID's route this long after the call ends
RETRY_AFTER_SECONDS = 5
MAX_MESSAGE_BYTES = 65535

_COMPACT = {"v": "via", "i": "call-id", "f": "from", "t": "to", "l": "content-length",
            "m": "contact", "c": "content-type"}


class MalformedMessage(ValueError):
    """A datagram or stream segment is not a SIP message the front can route."""


class SipMessage:
    """A parsed SIP request or response; keeps the raw bytes for forwarding."""

    def __init__(self, data):
        head, separator, body = data.partition(b"\r\n\r\n")
        if not separator:
            raise MalformedMessage("no blank line after the headers")
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedMessage("headers are not UTF-8") from None
        lines = text.split("\r\n")
        self.start_line = lines[0]
        self.header_lines = lines[1:]
        self.body = body
        parts = self.start_line.split(" ", 2)
        if len(parts) < 3:
            raise MalformedMessage(f"bad start line {self.start_line[:40]!r}")
        if parts[0] == "SIP/2.0":
            self.is_request = False
            self.method = None
            if not parts[1].isdigit():
                raise MalformedMessage(f"bad status code {parts[1][:10]!r}")
            self.status = int(parts[1])
        elif parts[2] == "SIP/2.0":
            self.is_request = True
            self.method = parts[0].upper()
            self.status = None
        else:
            raise MalformedMessage(f"bad start line {self.start_line[:40]!r}")
        self.headers = {}
        for line in self.header_lines:
            name, colon, value = line.partition(":")
            if not colon:
                continue
            key = name.strip().lower()
            key = _COMPACT.get(key, key)
            self.headers.setdefault(key, []).append(value.strip())

    def problem(self):
        """Return the reason phrase of a 400 for a request missing what routing needs, or ""."""
        if not self.call_id:
            return "Missing Call-ID"
        if not self.header("from") or not self.header("to"):
            return "Missing From or To"
        cseq = self.header("cseq").split()
        if len(cseq) != 2 or not cseq[0].isdigit() or cseq[1].upper() != self.method:
            return "Invalid CSeq"
        return ""

    def header(self, name):
        values = self.headers.get(name)
        return values[0] if values else ""

    @property
    def call_id(self):
        return self.header("call-id")

    @property
    def cseq_method(self):
        parts = self.header("cseq").split()
        return parts[1].upper() if len(parts) == 2 else ""

    @property
    def top_via(self):
        return self.header("via").split(",")[0].strip()

    @property
    def to_tag(self):
        return re.search(r";\s*tag=", self.header("to"), re.IGNORECASE) is not None


def via_param(via, name):
    match = re.search(rf";\s*{name}=([^;,\s]+)", via, re.IGNORECASE)
    return match.group(1) if match else ""


def via_address(via):
    """Return the (host, port) that a response for this Via goes to (received/rport win)."""
    match = re.match(r"SIP/2\.0/\w+\s+([^;:\s]+)(?::(\d+))?", via, re.IGNORECASE)
    if not match:
        return None
    host = via_param(via, "received") or match.group(1)
    port = via_param(via, "rport") or match.group(2) or "5060"
    return host, int(port) if port.isdigit() else 5060


class Front:
    """Routing state of the front port; the supervisor feeds it messages and sends its output.

    `send_udp(data, address)` and the `reply` callables passed with each
    message do the sending, so that this class owns no sockets and can run
    on the supervisor's single thread.
    """

    def __init__(self, address, port, workers, send_udp):
        self.address = address
        self.port = port
        self.workers = workers            # index -> WorkerSlot (see supervisor)
        self.send_udp = send_udp
        self.routes = {}                  # Call-ID -> (worker index, expiry or None)
        self.reservations = {}            # Call-ID -> [worker index, deadline or None]
        self.replies = {}                 # our branch -> (reply callable, expiry)
        self.rejected = 0
        self.dropped = 0

    # Requests from callers

    def handle_request(self, data, reply):
        """Route one request from a caller; `reply(bytes)` answers on its connection."""
        try:
            message = SipMessage(data)
        except MalformedMessage as error:
            self._drop("malformed message", error)
            return
        if not message.is_request:
            self._return_to_worker(message, data)
            return
        if not message.headers.get("via"):
            self._drop("request without Via", message.method)
            return
        problem = message.problem()
        if problem:
            if message.method != "ACK":
                reply(self.response(message, 400, problem))
            return
        worker = self._choose_worker(message)
        if worker is None:
            return self._reject(message, reply)
        branch = self._forward(message, data, worker)
        self.replies[branch] = (reply, time.monotonic() + INVITE_TIMEOUT + ROUTE_GRACE)

    def _return_to_worker(self, message, data):
        """Pass on a caller's response to a worker's request (REFER, BYE, re-INVITE).

        Most peers send it to the worker's Via address directly; some (sipp)
        send everything to the address they called, which is the front port.
        """
        address = via_address(message.top_via)
        if any(slot.address == address for slot in self.workers.values()):
            self.send_udp(data, address)
        else:
            self._drop("response for an address that is not a worker", message.start_line)

    def _choose_worker(self, message):
        route = self.routes.get(message.call_id)
        if route is not None and self.workers[route[0]].ready:
            self.routes[message.call_id] = (route[0], route[1] and time.monotonic() + ROUTE_GRACE)
            return route[0]
        if message.method in ("ACK", "CANCEL"):
            return None   # no call to cancel or acknowledge: an ACK of the front's own 503
        index = self._least_busy(require_room=message.method == "INVITE" and not message.to_tag)
        if index is None:
            return None
        if message.method == "INVITE" and not message.to_tag:
            self.reservations[message.call_id] = [index, time.monotonic() + INVITE_TIMEOUT]
            self.routes[message.call_id] = (index, None)
        return index

    def _least_busy(self, require_room):
        best = None
        for index, slot in self.workers.items():
            if not slot.ready:
                continue
            load = self.load(index)
            if require_room and load >= slot.max_calls:
                continue
            if best is None or load < best[0]:
                best = (load, index)
        return best[1] if best else None

    def load(self, index):
        return sum(1 for reservation in self.reservations.values() if reservation[0] == index)

    def _reject(self, message, reply):
        if message.method == "ACK":
            return
        if message.method == "CANCEL":
            reply(self.response(message, 481, "Call/Transaction Does Not Exist"))
            return
        self.rejected += 1
        logger.warning("%s rejected with 503: %s of %s calls in progress (rejected so far: %s)",
                       message.method, len(self.reservations),
                       sum(slot.max_calls for slot in self.workers.values()), self.rejected)
        reply(self.response(message, 503, "Service Unavailable",
                            extra=[f"Retry-After: {RETRY_AFTER_SECONDS}"]))

    def _forward(self, message, data, index):
        branch = self._branch(message)
        via = f"Via: SIP/2.0/UDP {self.address}:{self.port};branch={branch}"
        head, _, rest = data.partition(b"\r\n")
        rest = _decrement_max_forwards(rest)
        self.send_udp(head + b"\r\n" + via.encode() + b"\r\n" + rest, self.workers[index].address)
        return branch

    def _branch(self, message):
        client_branch = via_param(message.top_via, "branch")
        if client_branch.startswith("z9hG4bK"):
            seed = f"{client_branch}|{message.top_via.split(';')[0]}"
        else:
            seed = f"{message.call_id}|{message.header('cseq').split()[0:1]}"
        if message.method in ("ACK", "CANCEL"):
            seed += "|INVITE"
        elif message.method != "INVITE":
            seed += "|" + message.method
        return "z9hG4bK-ivr" + hashlib.sha1(seed.encode()).hexdigest()[:20]

    # Responses from workers

    def handle_response(self, data):
        """Return a worker's response to the caller, removing the front's Via."""
        try:
            message = SipMessage(data)
        except MalformedMessage as error:
            self._drop("malformed message from a worker", error)
            return
        if message.is_request:
            self._drop("request from a worker to the front port", message.method)
            return
        branch = via_param(message.top_via, "branch")
        entry = self.replies.get(branch)
        if entry is None:
            self._drop("response for an unknown branch", message.status)
            return
        self._account_response(message)
        entry[0](_remove_top_via(data))

    def _account_response(self, message):
        if message.cseq_method != "INVITE" or message.status < 200:
            return
        reservation = self.reservations.get(message.call_id)
        if reservation is None:
            return
        if message.status >= 300:
            self.reservations.pop(message.call_id, None)
            self.routes[message.call_id] = (reservation[0], time.monotonic() + ROUTE_GRACE)
        else:
            reservation[1] = None   # answered: held until the worker reports the end

    # Reports from workers

    def call_started(self, index, sip_call_id):
        self.reservations[sip_call_id] = [index, None]
        self.routes[sip_call_id] = (index, None)

    def call_ended(self, sip_call_id):
        reservation = self.reservations.pop(sip_call_id, None)
        if reservation is not None:
            self.routes[sip_call_id] = (reservation[0], time.monotonic() + ROUTE_GRACE)

    def worker_lost(self, index):
        """Forget the calls of a worker that died; they cannot continue."""
        for call_id in [c for c, r in self.reservations.items() if r[0] == index]:
            del self.reservations[call_id]
        for call_id in [c for c, r in self.routes.items() if r[0] == index]:
            del self.routes[call_id]

    def expire(self):
        now = time.monotonic()
        for call_id, reservation in list(self.reservations.items()):
            if reservation[1] is not None and reservation[1] < now:
                del self.reservations[call_id]
        for call_id, route in list(self.routes.items()):
            if route[1] is not None and route[1] < now:
                del self.routes[call_id]
        for branch, entry in list(self.replies.items()):
            if entry[1] < now:
                del self.replies[branch]

    # Helpers

    def response(self, message, status, reason, extra=()):
        """Build a response to `message` from its Via, From, To, Call-ID and CSeq."""
        to = message.header("to")
        if to and not message.to_tag:
            to += f";tag={secrets.token_hex(6)}"
        lines = [f"SIP/2.0 {status} {reason}"]
        lines += [f"Via: {via}" for via in message.headers.get("via", [])]
        lines += [f"From: {message.header('from')}", f"To: {to}",
                  f"Call-ID: {message.call_id}", f"CSeq: {message.header('cseq')}",
                  "Server: ivr-line", *extra, "Content-Length: 0", "", ""]
        return "\r\n".join(lines).encode()

    def _drop(self, what, detail):
        self.dropped += 1
        if self.dropped <= 20 or self.dropped % 100 == 0:
            logger.warning("front port dropped a %s (%s); dropped so far: %s",
                           what, detail, self.dropped)


def _remove_top_via(data):
    head, separator, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    for position, line in enumerate(lines[1:], start=1):
        name = line.split(b":", 1)[0].strip().lower()
        if name not in (b"via", b"v"):
            continue
        values = line.split(b":", 1)[1].split(b",", 1)
        if len(values) == 2:
            lines[position] = b"Via: " + values[1].strip()
        else:
            del lines[position]
        break
    return b"\r\n".join(lines) + separator + body


def _decrement_max_forwards(rest):
    match = re.search(rb"^Max-Forwards\s*:\s*(\d+)", rest, re.IGNORECASE | re.MULTILINE)
    if not match:
        return rest
    value = max(int(match.group(1)) - 1, 0)
    return rest[:match.start(1)] + str(value).encode() + rest[match.end(1):]
