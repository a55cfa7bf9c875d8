"""Malformed and hostile SIP input sent to the line's front port on 127.0.0.1.

Every case checks the SIP answer (or that nothing is answered) and then that
the line still answers OPTIONS, so a bad message never takes the line down.
"""

import socket
import uuid

import pytest

from .conftest import HOST, needs_peers, run_sipp

pytestmark = [pytest.mark.sip, needs_peers]

SDP_PCMU = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")


class UdpPeer:
    """A raw UDP socket that sends hand-written SIP requests and reads the answers."""

    def __init__(self, port):
        self.target = (HOST, port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.settimeout(3.0)
        self.local_port = self.sock.getsockname()[1]

    def request(self, method, body="", content_type="application/sdp", headers=None,
                call_id=None, to_tag=""):
        call_id = call_id or uuid.uuid4().hex
        lines = [f"{method} sip:ivr@{HOST}:{self.target[1]} SIP/2.0",
                 f"Via: SIP/2.0/UDP {HOST}:{self.local_port};branch=z9hG4bK{uuid.uuid4().hex}",
                 "Max-Forwards: 70",
                 f"From: <sip:tester@{HOST}:{self.local_port}>;tag={uuid.uuid4().hex[:8]}",
                 f"To: <sip:ivr@{HOST}>{to_tag}", f"Call-ID: {call_id}",
                 f"CSeq: 1 {method}", f"Contact: <sip:tester@{HOST}:{self.local_port}>"]
        lines += headers or []
        if body:
            lines.append(f"Content-Type: {content_type}")
        lines.append(f"Content-Length: {len(body.encode())}")
        return "\r\n".join(lines) + "\r\n\r\n" + body

    def send(self, text):
        self.sock.sendto(text.encode() if isinstance(text, str) else text, self.target)

    def final_status(self, timeout=3.0):
        """Return the first final status code received, or None when nothing comes."""
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(65535).decode(errors="replace")
                code = int(data.split(" ", 2)[1])
                if code >= 200:
                    return code
        except socket.timeout:
            return None

    def close(self):
        self.sock.close()


@pytest.fixture
def peer_line(start_line):
    line = start_line(handler="tests.sip.handlers:hold", capacity=2)
    peer = UdpPeer(line.port)
    yield line, peer
    peer.close()


def assert_still_answers(peer):
    peer.send(peer.request("OPTIONS"))
    assert peer.final_status() == 200


def test_garbage_datagram_dropped(peer_line):
    line, peer = peer_line

    peer.send(b"\x00\xff not sip at all \r\n\r\n")
    peer.send(b"HELLO")

    assert peer.final_status(timeout=1.0) is None
    assert_still_answers(peer)


def test_broken_headers_rejected(peer_line):
    line, peer = peer_line
    broken = peer.request("INVITE", SDP_PCMU).replace("CSeq: 1 INVITE", "CSeq: one INVITE")

    peer.send(broken)

    assert peer.final_status() == 400
    assert_still_answers(peer)


def test_missing_call_id_rejected(peer_line):
    line, peer = peer_line
    request = "\r\n".join(l for l in peer.request("INVITE", SDP_PCMU).split("\r\n")
                          if not l.startswith("Call-ID"))

    peer.send(request)

    assert peer.final_status() == 400
    assert_still_answers(peer)


def test_bad_sdp_rejected(peer_line):
    line, peer = peer_line

    peer.send(peer.request("INVITE", "v=0\r\nthis is not sdp\r\n"))

    assert peer.final_status() in (400, 488)
    assert_still_answers(peer)


def test_unknown_codecs_only_rejected(peer_line):
    line, peer = peer_line
    opus_only = SDP_PCMU.replace("RTP/AVP 0", "RTP/AVP 111").replace(
        "a=rtpmap:0 PCMU/8000", "a=rtpmap:111 opus/48000/2")

    peer.send(peer.request("INVITE", opus_only))

    assert peer.final_status() == 488
    assert_still_answers(peer)


def test_bye_for_unknown_call(peer_line):
    line, peer = peer_line

    peer.send(peer.request("BYE", to_tag=";tag=nosuchdialog"))

    assert peer.final_status() == 481
    assert_still_answers(peer)


def test_tcp_front_answers_options(peer_line):
    line, peer = peer_line
    request = peer.request("OPTIONS").replace("SIP/2.0/UDP", "SIP/2.0/TCP")

    with socket.create_connection((HOST, line.port), timeout=3) as connection:
        connection.sendall(request.encode())
        answer = connection.recv(65535).decode(errors="replace")

    assert answer.startswith("SIP/2.0 200")


def test_invite_flood_bounded(peer_line, tmp_path):
    line, peer = peer_line
    flood = 40

    for _ in range(flood):
        peer.send(peer.request("INVITE", SDP_PCMU))
    codes = [peer.final_status(timeout=2.0) for _ in range(flood)]

    assert codes.count(200) == line.capacity
    assert codes.count(503) == flood - line.capacity
    assert_still_answers(peer)
