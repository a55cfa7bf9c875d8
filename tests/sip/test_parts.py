"""Parts of the SIP channel that need no peer: settings, caller ID, framing, routing."""

import pjsua2 as pj
import pytest

from ivr.config import ConfigError
from ivr.sip.call import caller_id_from_message, transfer_result_of
from ivr.sip.config import load_sip_settings
from ivr.sip.front import Front, SipMessage
from ivr.sip.media import PromptBuffer, vector_bytes
from ivr.sip.supervisor import WorkerSlot, split_stream


@pytest.mark.parametrize("variable, value", [
    ("IVR_SIP_TRANSPORTS", "udp,sctp"),
    ("IVR_SIP_CODECS", "PCMU,OPUS"),
    ("IVR_SIP_CAPACITY", "0"),
    ("IVR_SIP_CALLS_PER_WORKER", "5"),
    ("IVR_SIP_CLOCK_RATE", "44100"),
    ("IVR_SIP_TRANSFER", "attended"),
    ("IVR_SIP_PORT", "70000"),
    ("IVR_TRANSFER_TIMEOUT", "soon"),
])
def test_invalid_setting_names_variable(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)

    with pytest.raises(ConfigError) as error:
        load_sip_settings()

    assert variable in str(error.value)


def test_capacity_spreads_over_workers():
    settings = load_sip_settings(port=6000, capacity=10)

    assert settings.worker_count == 3
    assert [settings.worker_calls(i) for i in range(3)] == [4, 4, 2]
    assert settings.worker_port == 6001
    assert settings.worker_rtp_port(2) == settings.rtp_port + 400


def test_front_port_inside_worker_ports():
    with pytest.raises(ConfigError):
        load_sip_settings(port=6002, worker_port=6000, capacity=12)


def test_caller_id_prefers_asserted_identity():
    message = ("INVITE sip:ivr@h SIP/2.0\r\nFrom: \"A\" <sip:1111@pbx>;tag=1\r\n"
               "P-Asserted-Identity: <tel:+8210222>\r\n\r\n")

    assert caller_id_from_message(message) == "+8210222"


def test_caller_id_from_compact_from():
    message = "INVITE sip:ivr@h SIP/2.0\r\nf: <sip:0101234@pbx;user=phone>;tag=1\r\n\r\n"

    assert caller_id_from_message(message) == "0101234"


def test_caller_id_missing():
    assert caller_id_from_message("INVITE sip:ivr@h SIP/2.0\r\nFrom: <urn:x>\r\n\r\n") == ""


@pytest.mark.parametrize("status, result", [
    (200, "transferred"), (486, "busy"), (603, "busy"), (408, "no_answer"),
    (487, "no_answer"), (500, "failed")])
def test_transfer_result_of_status(status, result):
    assert transfer_result_of(status) == result


def test_vector_bytes_matches_slow_copy():
    data = bytes(range(256)) * 3
    vector = pj.ByteVector(data)

    assert vector_bytes(vector) == data
    assert vector_bytes(pj.ByteVector()) == b""


def test_prompt_buffer_pads_last_frame():
    prompt = PromptBuffer(8000)
    prompt.play(b"\x01" * 400)

    first, second = prompt.next_frame(), prompt.next_frame()

    assert len(first) == 320
    assert second == b"\x01" * 80 + bytes(240)
    assert prompt.next_frame() is None
    assert not prompt.is_playing()


def test_split_stream_keeps_partial_message():
    whole = b"OPTIONS sip:a SIP/2.0\r\nContent-Length: 2\r\n\r\nhi"

    messages, rest = split_stream(b"\r\n" + whole + whole[:10])

    assert messages == [whole]
    assert rest == whole[:10]


def test_split_stream_rejects_bad_length():
    messages, rest = split_stream(b"OPTIONS sip:a SIP/2.0\r\nContent-Length: x\r\n\r\n")

    assert messages == []
    assert rest is None


def _front(max_calls=1):
    slots = {0: WorkerSlot(0, ("127.0.0.1", 7001), max_calls)}
    slots[0].ready = True
    sent = []
    return Front("127.0.0.1", 7000, slots, lambda data, address: sent.append((data, address))), sent


def _invite(call_id, branch):
    return (f"INVITE sip:ivr@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch={branch}\r\n"
            f"From: <sip:a@b>;tag=1\r\nTo: <sip:ivr@127.0.0.1>\r\nCall-ID: {call_id}\r\n"
            "CSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()


def test_front_forwards_then_rejects_when_full():
    front, sent = _front(max_calls=1)
    replies = []

    front.handle_request(_invite("one", "z9hG4bK1"), replies.append)
    front.handle_request(_invite("two", "z9hG4bK2"), replies.append)

    assert len(sent) == 1
    forwarded = SipMessage(sent[0][0])
    assert forwarded.headers["via"][0].startswith("SIP/2.0/UDP 127.0.0.1:7000;branch=z9hG4bK")
    assert forwarded.header("max-forwards") == "69"
    assert replies[0].startswith(b"SIP/2.0 503")
    assert b"Retry-After: 5" in replies[0]


def test_front_releases_place_on_error_response():
    front, sent = _front(max_calls=1)
    replies = []
    front.handle_request(_invite("one", "z9hG4bK1"), replies.append)
    response = sent[0][0].replace(b"INVITE sip:ivr@127.0.0.1 SIP/2.0", b"SIP/2.0 486 Busy Here")

    front.handle_response(response)
    front.handle_request(_invite("two", "z9hG4bK2"), replies.append)

    assert replies[0].startswith(b"SIP/2.0 486")
    assert b"z9hG4bK-ivr" not in replies[0]
    assert len(sent) == 2
