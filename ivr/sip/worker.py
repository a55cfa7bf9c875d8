"""A SIP worker process: one PJSUA2 endpoint holding up to 4 calls, each with a dialog thread.

The worker's main thread owns PJSUA2. It polls `libHandleEvents()` every 20 ms,
carries out requests that dialog threads post (transfer, hang-up), enforces
transfer deadlines, and deletes the C++ objects of ended calls. Deleting them
here, after DISCONNECTED and never inside a callback, is what keeps PJSUA2 from
crashing on object lifetime.

The worker reports to the supervisor over a multiprocessing connection:
("ready", index), ("started", sip_call_id, call_id) and
("ended", sip_call_id, call_id). The supervisor uses these to count calls and
to log the calls of a worker that dies as failed.
"""

import logging
import os
import queue
import signal
import threading
import time
import uuid

import pjsua2 as pj

from ivr.sip.call import CallerCall, caller_id_from_message
from ivr.sip.channel import SipChannel

logger = logging.getLogger(__name__)

POLL_MS = 20
SHUTDOWN_SECONDS = 3.0
CODEC_IDS = {"PCMU": "PCMU/8000", "PCMA": "PCMA/8000", "G722": "G722/16000"}


class LineAccount(pj.Account):
    """The line's SIP account: answers every incoming call that fits the worker's limit."""

    def __init__(self, worker):
        super().__init__()
        self.worker = worker

    def onIncomingCall(self, prm):
        self.worker.accept_call(self, prm)

    def onRegState(self, prm):
        logger.info("worker=%s registration status=%s %s", self.worker.index, prm.code, prm.reason)


class Worker:
    """One worker process: `index` selects its ports, `handler(channel)` runs a call's dialog."""

    def __init__(self, index, settings, sip_settings, handler, report):
        self.index = index
        self.settings = settings
        self.sip = sip_settings
        self.handler = handler
        self.report_connection = report
        self.report_lock = threading.Lock()
        self.max_calls = sip_settings.worker_calls(index)
        self.port = sip_settings.worker_port + index
        self.requests = queue.Queue()
        self.calls = []
        self.endpoint = None
        self.account = None
        self.stopping = False

    # Life cycle

    def run(self):
        """Start the endpoint, serve calls until SIGTERM, then hang up and clean up."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        self._start_endpoint()
        self.report(("ready", self.index))
        logger.info("worker=%s listening on %s:%s calls=%s", self.index, self.sip.address,
                    self.port, self.max_calls)
        try:
            while not self.stopping:
                self.poll()
            self._hang_up_all()
        finally:
            self._destroy()
        logger.info("worker=%s stopped", self.index)

    def poll(self):
        self.endpoint.libHandleEvents(POLL_MS)
        self._run_requests()
        now = time.monotonic()
        for call in self.calls:
            call.check_transfer_deadline(now)
        self._delete_ended_calls()

    def _on_signal(self, signum, frame):
        self.stopping = True

    def _start_endpoint(self):
        self.endpoint = pj.Endpoint()
        self.endpoint.libCreate()
        config = pj.EpConfig()
        config.uaConfig.threadCnt = 0
        config.uaConfig.maxCalls = self.max_calls
        config.uaConfig.userAgent = "ivr-line"
        config.logConfig.level = self.sip.log_level
        config.logConfig.consoleLevel = self.sip.log_level
        config.medConfig.clockRate = self.sip.clock_rate
        config.medConfig.sndClockRate = self.sip.clock_rate
        config.medConfig.noVad = True
        self.endpoint.libInit(config)
        self.endpoint.audDevManager().setNullDev()
        for name in self.sip.transports:
            kind = pj.PJSIP_TRANSPORT_UDP if name == "udp" else pj.PJSIP_TRANSPORT_TCP
            transport = pj.TransportConfig()
            transport.port = self.port
            transport.boundAddress = self.sip.address
            self.endpoint.transportCreate(kind, transport)
        if "udp" not in self.sip.transports:
            # The front port forwards to workers over UDP whatever the callers use.
            transport = pj.TransportConfig()
            transport.port = self.port
            transport.boundAddress = self.sip.address
            self.endpoint.transportCreate(pj.PJSIP_TRANSPORT_UDP, transport)
        self.endpoint.libStart()
        self._set_codecs()
        self.account = LineAccount(self)
        self.account.create(self._account_config())

    def _set_codecs(self):
        wanted = [CODEC_IDS[name] for name in self.sip.codecs]
        for codec in self.endpoint.codecEnum2():
            if codec.codecId not in wanted:
                self.endpoint.codecSetPriority(codec.codecId, 0)
        for rank, codec_id in enumerate(wanted):
            self.endpoint.codecSetPriority(codec_id, 250 - rank)

    def _account_config(self):
        config = pj.AccountConfig()
        config.idUri = f"sip:{self.sip.user}@{self.sip.address}:{self.sip.port}"
        if self.sip.registrar:
            config.regConfig.registrarUri = self.sip.registrar
            config.idUri = f"sip:{self.sip.user}@{self.sip.registrar.split(':', 1)[-1]}"
            if self.sip.password:
                config.sipConfig.authCreds.append(
                    pj.AuthCredInfo("digest", "*", self.sip.user, 0, self.sip.password))
        else:
            config.regConfig.registerOnAdd = False
        media = config.mediaConfig.transportConfig
        media.port = self.sip.worker_rtp_port(self.index)
        media.portRange = 200
        media.boundAddress = self.sip.address
        return config

    def _hang_up_all(self):
        for call in self.calls:
            if not call.disconnected:
                call.hangup_quietly()
                if call.operator_call is not None and not call.operator_call.disconnected:
                    call.operator_call.hangup_quietly()
        deadline = time.monotonic() + SHUTDOWN_SECONDS
        while self.calls and time.monotonic() < deadline:
            self.poll()

    def _destroy(self):
        for call in list(self.calls):
            call.disconnected = True
            call.dialog_done = True
        self._delete_ended_calls()
        if self.account is not None:
            pj.Account.__swig_destroy__(self.account)
            self.account = None
        self.endpoint.libDestroy()

    def report(self, message):
        if self.report_connection is None:
            return
        with self.report_lock:
            try:
                self.report_connection.send(message)
            except (BrokenPipeError, OSError):
                logger.warning("worker=%s lost its supervisor; stopping", self.index)
                self.stopping = True

    # Calls

    def accept_call(self, account, prm):
        call = CallerCall(self, account, prm.callId)
        sip_call_id = call.getInfo().callIdString
        active = sum(1 for c in self.calls if not c.disconnected)
        if self.stopping or active >= self.max_calls:
            logger.warning("worker=%s rejected a call with 486: %s of %s calls in progress",
                           self.index, active, self.max_calls)
            call.answer(self._status(486))
            call.disconnected = True
            call.dialog_done = True
            self.calls.append(call)
            return
        call_id = uuid.uuid4().hex
        caller_id = caller_id_from_message(prm.rdata.wholeMsg)
        call.channel = SipChannel(call_id, sip_call_id, caller_id, self.sip.clock_rate,
                                  self.requests.put, self.sip.transfer_timeout)
        self.calls.append(call)
        call.answer(self._status(200))
        logger.info("call_id=%s answered worker=%s", call_id, self.index)
        self.report(("started", sip_call_id, call_id))

    @staticmethod
    def _status(code):
        prm = pj.CallOpParam()
        prm.statusCode = code
        return prm

    def start_dialog(self, call):
        """Run the call's dialog on its own thread (called once media is connected)."""
        if call.dialog_started:
            return
        call.dialog_started = True
        thread = threading.Thread(target=self._run_dialog, args=(call,),
                                  name=f"dialog-{call.channel.call_id[:8]}", daemon=True)
        thread.start()

    def _run_dialog(self, call):
        channel = call.channel
        pj.Endpoint.instance().libRegisterThread(threading.current_thread().name)
        try:
            self.handler(channel)
        except Exception:
            logger.exception("call_id=%s dialog failed", channel.call_id)
        finally:
            self.requests.put(("dialog_done", channel))

    def _find_call(self, channel):
        for call in self.calls:
            if call.channel is channel:
                return call
        return None

    def _run_requests(self):
        while True:
            try:
                request = self.requests.get_nowait()
            except queue.Empty:
                return
            call = self._find_call(request[1])
            if call is None:
                continue
            kind = request[0]
            if kind == "transfer":
                self._transfer(call, request[3])
            elif kind == "hangup" and not call.disconnected and not call.bridged:
                call.hangup_quietly()
            elif kind == "dialog_done":
                call.dialog_done = True
                if not call.disconnected and not call.bridged:
                    call.hangup_quietly()

    def _transfer(self, call, future):
        from ivr import channel as contract
        uri = self.settings.operator_uri
        if call.disconnected or call.transfer is not None:
            future.set_result(contract.TRANSFER_FAILED)
        elif not uri:
            future.set_result(contract.UNAVAILABLE)
        else:
            call.start_transfer(uri, future, self.sip.transfer_method, self.sip.transfer_timeout)

    def _delete_ended_calls(self):
        for call in list(self.calls):
            operator = call.operator_call
            operator_ended = operator is None or operator.disconnected
            if not (call.disconnected and call.dialog_done and operator_ended):
                continue
            self.calls.remove(call)
            self._delete_call(call)

    def _delete_call(self, call):
        if call.channel is not None:
            self.report(("ended", call.channel.sip_call_id, call.channel.call_id))
            logger.info("call_id=%s ended frames_in=%s frames_out=%s dropped=%s",
                        call.channel.call_id, call.port.frames_received if call.port else 0,
                        call.channel.prompt.frames_played, call.channel.frames_dropped)
        if call.port is not None:
            pj.AudioMediaPort.__swig_destroy__(call.port)
            call.port = None
        if call.operator_call is not None:
            pj.Call.__swig_destroy__(call.operator_call)
            call.operator_call = None
        pj.Call.__swig_destroy__(call)


def run_worker(index, settings, sip_settings, handler, report, inherited_fds=()):
    """Entry point of a worker process (forked by the supervisor)."""
    for fd in inherited_fds:
        try:
            os.close(fd)
        except OSError:
            pass
    Worker(index, settings, sip_settings, handler, report).run()
