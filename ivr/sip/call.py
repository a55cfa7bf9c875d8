"""PJSUA2 call objects of a worker: the caller's call and the operator's call of a bridge.

Every method here runs on the worker's main thread: PJSUA2 runs with no
threads of its own (threadCnt=0), so its callbacks arrive inside
`libHandleEvents()` called by that thread. Audio frames are the exception
(see ivr.sip.media).

A transfer first sends REFER (blind transfer). When the caller's side rejects
the REFER, or when IVR_SIP_TRANSFER=bridge, the line calls the operator itself
and, once the operator answers, connects the two calls' audio in the
conference bridge.
"""

import logging
import re
import time

import pjsua2 as pj

from ivr import channel as contract
from ivr.sip.media import CallerPort

logger = logging.getLogger(__name__)

BUSY_CODES = {486, 600, 603}
NO_ANSWER_CODES = {408, 480, 487}

_HEADER_LINE = re.compile(r"^(P-Asserted-Identity|From|f)\s*:\s*(.*)$", re.IGNORECASE | re.MULTILINE)
_URI_USER = re.compile(r"(?:sips?|tel):([^@;>\s]+)", re.IGNORECASE)


def caller_id_from_message(message):
    """Return the caller's number or user from an INVITE's P-Asserted-Identity or From header.

    P-Asserted-Identity wins when present (a trusted PBX sets it). Returns ""
    when neither header carries a SIP or tel URI.
    """
    headers = message.split("\r\n\r\n", 1)[0]
    found = {}
    for match in _HEADER_LINE.finditer(headers):
        name = match.group(1).lower()
        name = "from" if name == "f" else name
        found.setdefault(name, match.group(2))
    for name in ("p-asserted-identity", "from"):
        uri = _URI_USER.search(found.get(name, ""))
        if uri:
            return re.sub(r"[^0-9A-Za-z+*#._-]", "", uri.group(1))[:64]
    return ""


def transfer_result_of(status_code):
    """Map the final SIP status of the operator's call to a transfer result."""
    if 200 <= status_code < 300:
        return contract.TRANSFERRED
    if status_code in BUSY_CODES:
        return contract.BUSY
    if status_code in NO_ANSWER_CODES:
        return contract.NO_ANSWER
    return contract.TRANSFER_FAILED


class CallerCall(pj.Call):
    """The caller's call: owns the SipChannel, the CallerPort and any transfer in progress."""

    def __init__(self, worker, account, call_index):
        super().__init__(account, call_index)
        self.worker = worker
        self.channel = None
        self.port = None
        self.media = None
        self.disconnected = False
        self.dialog_started = False
        self.dialog_done = False
        self.operator_call = None
        self.bridged = False
        self.transfer = None

    @property
    def log_id(self):
        return self.channel.call_id if self.channel else "-"

    def onCallState(self, prm):
        info = self.getInfo()
        if info.state == pj.PJSIP_INV_STATE_DISCONNECTED and not self.disconnected:
            self.disconnected = True
            logger.info("call_id=%s disconnected status=%s", self.log_id, info.lastStatusCode)
            if self.channel:
                self.channel.put_hangup()
            if self.transfer is not None:
                self.finish_transfer(contract.TRANSFER_FAILED)
            if self.operator_call is not None and not self.operator_call.disconnected:
                self.operator_call.hangup_quietly()

    def onCallMediaState(self, prm):
        if self.disconnected or self.port is not None:
            return
        info = self.getInfo()
        for index, media in enumerate(info.media):
            if media.type == pj.PJMEDIA_TYPE_AUDIO and \
                    media.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                self.connect_port(self.getAudioMedia(index))
                break

    def connect_port(self, media):
        self.media = media
        self.port = CallerPort(self.channel.sample_rate, self.channel.put_frame,
                               self.channel.prompt)
        self.port.create(f"caller-{self.channel.call_id[:8]}")
        media.startTransmit(self.port)
        self.port.startTransmit(media)
        self.worker.start_dialog(self)

    def onDtmfDigit(self, prm):
        if self.channel and not self.bridged:
            logger.debug("call_id=%s DTMF method=%s", self.log_id, prm.method)
            self.channel.put_dtmf(prm.digit)

    # Transfer: REFER first, the bridge when REFER is rejected.

    def start_transfer(self, uri, future, method, timeout):
        self.transfer = {"future": future, "accepted": False, "stage": method,
                         "deadline": time.monotonic() + timeout, "uri": uri}
        logger.info("call_id=%s transfer started method=%s", self.log_id, method)
        if method == "bridge":
            self.start_bridge()
            return
        try:
            self.xfer(uri, pj.CallOpParam(True))
        except pj.Error as error:
            logger.warning("call_id=%s REFER failed to send (%s); calling the operator instead",
                           self.log_id, error.info())
            self.start_bridge()

    def onCallTransferStatus(self, prm):
        if self.transfer is None or self.transfer["stage"] != "refer":
            return
        code = prm.statusCode
        logger.debug("call_id=%s transfer status=%s final=%s", self.log_id, code, prm.finalNotify)
        if code == 202 or (self.transfer["accepted"] is False and 100 <= code < 200):
            self.transfer["accepted"] = True
        if not prm.finalNotify:
            return
        if self.transfer["accepted"]:
            self.finish_transfer(transfer_result_of(code))
        elif code >= 300:
            logger.info("call_id=%s REFER rejected status=%s; calling the operator instead",
                        self.log_id, code)
            self.start_bridge()
        else:
            self.finish_transfer(transfer_result_of(code))

    def start_bridge(self):
        self.transfer["stage"] = "bridge"
        self.operator_call = OperatorCall(self, self.worker.account)
        try:
            self.operator_call.makeCall(self.transfer["uri"], pj.CallOpParam(True))
        except pj.Error as error:
            logger.error("call_id=%s call to the operator failed: %s", self.log_id, error.info())
            self.operator_call.disconnected = True
            self.finish_transfer(contract.TRANSFER_FAILED)

    def operator_answered(self, operator_media):
        """Connect the caller and the operator; the line stops hearing and playing."""
        self.bridged = True
        self.channel.prompt.stop()
        self.media.stopTransmit(self.port)
        self.port.stopTransmit(self.media)
        self.media.startTransmit(operator_media)
        operator_media.startTransmit(self.media)
        self.finish_transfer(contract.TRANSFERRED)

    def operator_ended(self, status_code):
        if self.bridged:
            if not self.disconnected:
                logger.info("call_id=%s operator hung up; ending the call", self.log_id)
                self.hangup_quietly()
        elif self.transfer is not None:
            self.finish_transfer(transfer_result_of(status_code) if status_code >= 300
                                 else contract.TRANSFER_FAILED)

    def check_transfer_deadline(self, now):
        if self.transfer is None or now < self.transfer["deadline"]:
            return
        logger.info("call_id=%s operator did not answer in time", self.log_id)
        if self.operator_call is not None and not self.operator_call.disconnected:
            self.operator_call.hangup_quietly()
        self.finish_transfer(contract.NO_ANSWER)

    def finish_transfer(self, result):
        transfer, self.transfer = self.transfer, None
        if transfer is None:
            return
        logger.info("call_id=%s transfer ended result=%s", self.log_id, result)
        if not transfer["future"].done():
            transfer["future"].set_result(result)

    def hangup_quietly(self):
        """Hang up; a call that is already ending raises in PJSUA2, which is ignored."""
        try:
            self.hangup(pj.CallOpParam(True))
        except pj.Error:
            pass


class OperatorCall(pj.Call):
    """The line's own call to the operator, made when the caller's side rejects REFER."""

    def __init__(self, caller, account):
        super().__init__(account)
        self.caller = caller
        self.disconnected = False
        self.answered = False

    def onCallState(self, prm):
        info = self.getInfo()
        if info.state == pj.PJSIP_INV_STATE_CONFIRMED:
            self.answered = True
            self._bridge_when_ready()
        elif info.state == pj.PJSIP_INV_STATE_DISCONNECTED and not self.disconnected:
            self.disconnected = True
            logger.info("call_id=%s operator call ended status=%s",
                        self.caller.log_id, info.lastStatusCode)
            self.caller.operator_ended(info.lastStatusCode)

    def onCallMediaState(self, prm):
        self._bridge_when_ready()

    def _bridge_when_ready(self):
        if not self.answered or self.caller.bridged or self.caller.disconnected:
            return
        info = self.getInfo()
        for index, media in enumerate(info.media):
            if media.type == pj.PJMEDIA_TYPE_AUDIO and \
                    media.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                self.caller.operator_answered(self.getAudioMedia(index))
                return

    def hangup_quietly(self):
        try:
            self.hangup(pj.CallOpParam(True))
        except pj.Error:
            pass
