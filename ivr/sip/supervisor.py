"""The SIP supervisor: loads the line once, forks the workers, runs the front port, restarts.

Memory: the supervisor builds the dialog handler (for the line, `ivr.line.Line`
with its Vosk model) before it forks the workers, so every worker shares the
model's pages with the supervisor copy-on-write instead of loading its own
copy. PJSUA2 is never started in the supervisor: each worker creates its own
endpoint after the fork.

The supervisor runs on one thread: a selector loop over the front port's
sockets, the workers' report pipes and their process sentinels. A worker that
dies is restarted after a back-off (1 s, doubling up to 30 s while it keeps
dying within 10 s of its start). The calls it had are ended in the store with
the outcome "failed".
"""

import logging
import multiprocessing
import selectors
import signal
import socket
import time

from ivr.sip.config import load_sip_settings
from ivr.sip.front import MAX_MESSAGE_BYTES, Front
from ivr.sip.worker import run_worker
from ivr.store import Store

logger = logging.getLogger(__name__)

LOOP_SECONDS = 0.2
FIRST_BACKOFF = 1.0
MAX_BACKOFF = 30.0
STABLE_SECONDS = 10.0
STOP_SECONDS = 5.0


class WorkerSlot:
    """The supervisor's view of one worker process."""

    def __init__(self, index, address, max_calls):
        self.index = index
        self.address = address
        self.max_calls = max_calls
        self.process = None
        self.reports = None
        self.ready = False
        self.calls = {}            # SIP Call-ID -> call_id in the store
        self.started_at = 0.0
        self.backoff = FIRST_BACKOFF
        self.restart_at = 0.0


def line_handler(settings):
    """Load the voice line (Vosk model, grammars, prompts) and return its per-call handler."""
    from ivr.line import Line

    line = Line(settings)

    def run_call(channel):
        return line.run_call(channel, channel_name="sip", call_id=channel.call_id)

    return run_call


def serve(settings, sip_settings=None, handler=None):
    """Run the SIP line until SIGTERM or SIGINT: the front port plus the worker processes.

    `handler(channel)` runs one call's dialog on the call's own thread in a
    worker; by default it is the voice line, loaded here once before the
    workers are forked. Blocks the calling thread, which must be the main
    thread of the process (it installs signal handlers and forks). Raises
    ConfigError for invalid settings and OSError when the front port is taken.
    """
    sip_settings = sip_settings or load_sip_settings()
    if handler is None:
        handler = line_handler(settings)
    Supervisor(settings, sip_settings, handler).run()


class Supervisor:
    def __init__(self, settings, sip_settings, handler):
        self.settings = settings
        self.sip = sip_settings
        self.handler = handler
        self.selector = selectors.DefaultSelector()
        self.stopping = False
        self.udp = None
        self.tcp = None
        self.tcp_buffers = {}
        self.slots = {
            index: WorkerSlot(index, (sip_settings.address, sip_settings.worker_port + index),
                              sip_settings.worker_calls(index))
            for index in range(sip_settings.worker_count)}
        self.front = None

    def run(self):
        self._open_front()
        self.front = Front(self.sip.address, self.sip.port, self.slots, self._send_udp)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            for slot in self.slots.values():
                self._start_worker(slot)
            logger.info("SIP line on sip:%s@%s:%s (%s) capacity=%s workers=%s", self.sip.user,
                        self.sip.address, self.sip.port, ",".join(self.sip.transports),
                        self.sip.capacity, len(self.slots))
            while not self.stopping:
                self._loop_once()
        finally:
            self._stop_workers()
            self._close_front()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        logger.info("SIP line stopped")

    def _on_signal(self, signum, frame):
        self.stopping = True

    # The front port's sockets

    def _open_front(self):
        # The UDP socket always exists: workers send their responses to it.
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.udp.bind((self.sip.address, self.sip.port))
        self.udp.setblocking(False)
        self.selector.register(self.udp, selectors.EVENT_READ, self._read_udp)
        if "tcp" in self.sip.transports:
            self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.tcp.bind((self.sip.address, self.sip.port))
            self.tcp.listen(64)
            self.tcp.setblocking(False)
            self.selector.register(self.tcp, selectors.EVENT_READ, self._accept_tcp)

    def _close_front(self):
        for connection in list(self.tcp_buffers):
            self._close_tcp(connection)
        for sock in (self.udp, self.tcp):
            if sock is not None:
                self.selector.unregister(sock)
                sock.close()

    def _send_udp(self, data, address):
        try:
            self.udp.sendto(data, address)
        except OSError as error:
            logger.warning("front port failed to send to %s:%s: %s", *address, error)

    def _read_udp(self, sock):
        try:
            data, source = sock.recvfrom(MAX_MESSAGE_BYTES)
        except (BlockingIOError, ConnectionRefusedError):
            return
        if self._is_worker(source):
            self.front.handle_response(data)
        elif data.strip():   # bare CRLF datagrams are keep-alives
            self.front.handle_request(data, lambda reply: self._send_udp(reply, source))

    def _is_worker(self, source):
        return any(slot.address == source for slot in self.slots.values())

    def _accept_tcp(self, sock):
        try:
            connection, _ = sock.accept()
        except BlockingIOError:
            return
        connection.setblocking(False)
        self.tcp_buffers[connection] = b""
        self.selector.register(connection, selectors.EVENT_READ, self._read_tcp)

    def _read_tcp(self, connection):
        try:
            data = connection.recv(MAX_MESSAGE_BYTES)
        except BlockingIOError:
            return
        except ConnectionResetError:
            data = b""
        if not data:
            self._close_tcp(connection)
            return
        buffer = self.tcp_buffers[connection] + data
        messages, buffer = split_stream(buffer)
        if buffer is None:
            self.front._drop("TCP stream without a valid Content-Length", "")
            self._close_tcp(connection)
            return
        self.tcp_buffers[connection] = buffer
        for message in messages:
            self.front.handle_request(message, lambda reply: self._send_tcp(connection, reply))

    def _send_tcp(self, connection, data):
        if connection not in self.tcp_buffers:
            return
        try:
            connection.setblocking(True)
            connection.settimeout(1.0)
            connection.sendall(data)
            connection.setblocking(False)
        except OSError as error:
            logger.warning("front port failed to send on a TCP connection: %s", error)
            self._close_tcp(connection)

    def _close_tcp(self, connection):
        if self.tcp_buffers.pop(connection, None) is not None:
            self.selector.unregister(connection)
            connection.close()

    # Worker processes

    def _start_worker(self, slot):
        reports, worker_end = multiprocessing.Pipe(duplex=False)
        inherited = [self.udp.fileno()] + ([self.tcp.fileno()] if self.tcp else [])
        inherited += [c.fileno() for c in self.tcp_buffers]
        inherited += [s.reports.fileno() for s in self.slots.values() if s.reports is not None]
        process = multiprocessing.get_context("fork").Process(
            target=run_worker, name=f"sip-worker-{slot.index}",
            args=(slot.index, self.settings, self.sip, self.handler, worker_end, inherited))
        process.start()
        worker_end.close()
        slot.process, slot.reports = process, reports
        slot.ready, slot.calls, slot.started_at = False, {}, time.monotonic()
        self.selector.register(reports, selectors.EVENT_READ, lambda _, s=slot: self._read_reports(s))
        self.selector.register(process.sentinel, selectors.EVENT_READ,
                               lambda _, s=slot: self._worker_exited(s))
        logger.info("worker=%s started pid=%s port=%s", slot.index, process.pid, slot.address[1])

    def _read_reports(self, slot):
        if slot.reports is None:   # closed earlier in the same select() batch
            return
        try:
            while slot.reports.poll():
                self._handle_report(slot, slot.reports.recv())
        except (EOFError, OSError):
            self.selector.unregister(slot.reports)
            slot.reports.close()
            slot.reports = None

    def _handle_report(self, slot, report):
        kind = report[0]
        if kind == "ready":
            slot.ready = True
        elif kind == "started":
            slot.calls[report[1]] = report[2]
            self.front.call_started(slot.index, report[1])
        elif kind == "ended":
            slot.calls.pop(report[1], None)
            self.front.call_ended(report[1])

    def _worker_exited(self, slot):
        process = slot.process
        self.selector.unregister(process.sentinel)
        process.join(timeout=1)
        if slot.reports is not None:
            self._read_reports(slot)
        if slot.reports is not None:
            self.selector.unregister(slot.reports)
            slot.reports.close()
            slot.reports = None
        slot.ready = False
        self.front.worker_lost(slot.index)
        if self.stopping:
            return
        logger.error("worker=%s pid=%s exited with code %s; %s calls lost", slot.index,
                     process.pid, process.exitcode, len(slot.calls))
        self._fail_calls(slot, process.exitcode)
        lived = time.monotonic() - slot.started_at
        slot.backoff = FIRST_BACKOFF if lived > STABLE_SECONDS else min(slot.backoff * 2, MAX_BACKOFF)
        slot.restart_at = time.monotonic() + slot.backoff
        slot.process = None

    def _fail_calls(self, slot, exitcode):
        if not slot.calls:
            return
        store = Store(self.settings.db_path)
        try:
            for call_id in slot.calls.values():
                store.end_call(call_id, "failed", f"sip_worker_exit_{exitcode}")
                logger.info("call_id=%s logged failed: its worker exited", call_id)
        finally:
            store.close()
        slot.calls = {}

    def _loop_once(self):
        for key, _ in self.selector.select(LOOP_SECONDS):
            try:
                key.data(key.fileobj)
            except Exception:   # one bad event must not stop the line
                logger.exception("front port or worker event failed")
        self.front.expire()
        now = time.monotonic()
        for slot in self.slots.values():
            if slot.process is None and not self.stopping and now >= slot.restart_at:
                self._start_worker(slot)

    def _stop_workers(self):
        running = [s for s in self.slots.values() if s.process is not None and s.process.is_alive()]
        for slot in running:
            slot.process.terminate()
        deadline = time.monotonic() + STOP_SECONDS
        for slot in running:
            slot.process.join(timeout=max(0.1, deadline - time.monotonic()))
            if slot.process.is_alive():
                logger.warning("worker=%s did not stop in %s s; killing it", slot.index, STOP_SECONDS)
                slot.process.kill()
                slot.process.join(timeout=1)


def split_stream(buffer):
    """Split a TCP byte stream into whole SIP messages.

    Returns (messages, rest), or (messages, None) when a message has a missing
    or invalid Content-Length: on a stream the message boundary is then lost.
    """
    messages = []
    while True:
        buffer = buffer.lstrip(b"\r\n")   # CRLF keep-alives between messages
        head_end = buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return messages, (buffer if len(buffer) <= MAX_MESSAGE_BYTES else None)
        head = buffer[:head_end].decode("latin-1")
        length = None
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() in ("content-length", "l"):
                length = int(value.strip()) if value.strip().isdigit() else -1
        if length is None or length < 0:
            return messages, None
        end = head_end + 4 + length
        if len(buffer) < end:
            return messages, buffer
        messages.append(buffer[:end])
        buffer = buffer[end:]
