"""Calls from real SIP peers (sipp, baresip) on 127.0.0.1 to the line's SIP channel.

The line runs as `python -m ivr.sip` with a small test dialog (tests/sip/handlers.py)
so that these tests check the channel: DTMF, caller ID, transfer, capacity.
"""

import subprocess

import pytest

from .conftest import HOST, SCENARIOS, free_ports, needs_peers, run_sipp, sipp_counts

pytestmark = [pytest.mark.sip, needs_peers]


def test_rfc2833_key_reaches_dialog(start_line, tmp_path):
    line = start_line()

    code, output = run_sipp(tmp_path / "sipp", line.port, "-s", "ivr", timeout=30)

    assert code == 0, output
    key = line.wait_for_event(lambda e: e["event"] == "key")
    assert key["keys"] == "1"
    assert key["caller_id"] == "sipp"
    assert key["rate"] == 16000
    end = line.wait_for_event(lambda e: e["event"] == "end")
    assert end["frames"] > 300


def test_narrowband_frames_at_8khz(start_line, tmp_path):
    line = start_line(env={"IVR_SIP_CLOCK_RATE": "8000"})

    code, output = run_sipp(tmp_path / "sipp", line.port, "-s", "ivr", timeout=30)

    assert code == 0, output
    key = line.wait_for_event(lambda e: e["event"] == "key")
    assert key["rate"] == 8000


def _refer_rejected_call(start_line, tmp_path, operator_scenario, hold_ms, timeout=3):
    operator_port = free_ports(1)
    line = start_line(env={"IVR_OPERATOR_URI": f"sip:operator@{HOST}:{operator_port}",
                           "IVR_TRANSFER_TIMEOUT": str(timeout)})
    operator = subprocess.Popen(
        ["sipp", "-i", HOST, "-mi", HOST, "-p", str(operator_port), "-m", "1", "-nostdin",
         "-timeout", "30s", *(["-sf", str(SCENARIOS / operator_scenario)]
                              if operator_scenario.endswith(".xml") else ["-sn", operator_scenario])],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        code, output = run_sipp(tmp_path / "caller", line.port, "-s", "ivr", "-d", str(hold_ms),
                                scenario="caller_refer_reject.xml", timeout=30)
        operator_output = operator.communicate(timeout=20)[0]
    finally:
        if operator.poll() is None:
            operator.kill()
            operator.wait()
    return line, code, output, operator.returncode, operator_output


def test_refer_rejected_bridges_operator(start_line, tmp_path):
    line, code, output, operator_code, operator_output = _refer_rejected_call(
        start_line, tmp_path, "uas", hold_ms=3000)

    assert code == 0, output
    assert operator_code == 0, operator_output
    transfer = line.wait_for_event(lambda e: e["event"] == "transfer")
    assert transfer["keys"] == "0"
    assert transfer["transfer"] == "transferred"
    assert "REFER rejected status=603" in line.log()


def test_operator_no_answer_returns_to_line(start_line, tmp_path):
    line, code, output, operator_code, operator_output = _refer_rejected_call(
        start_line, tmp_path, "operator_no_answer.xml", hold_ms=5000, timeout=2)

    assert code == 0, output
    assert operator_code == 0, operator_output
    transfer = line.wait_for_event(lambda e: e["event"] == "transfer")
    assert transfer["transfer"] == "no_answer"


def test_operator_busy_returns_to_line(start_line, tmp_path):
    line, code, output, operator_code, operator_output = _refer_rejected_call(
        start_line, tmp_path, "operator_busy.xml", hold_ms=3000)

    assert code == 0, output
    assert operator_code == 0, operator_output
    transfer = line.wait_for_event(lambda e: e["event"] == "transfer")
    assert transfer["transfer"] == "busy"


def test_capacity_rejects_extra_calls(start_line, tmp_path):
    capacity = 5   # two workers: 4 calls and 1 call
    line = start_line(capacity=capacity)

    code, output = run_sipp(tmp_path / "load", line.port, "-s", "ivr", "-r", "20",
                            "-l", str(capacity + 2), calls=capacity + 2, timeout=40)

    successful, failed = sipp_counts(output)
    assert successful == capacity, output
    assert failed == 2, output
    assert line.log().count("rejected with 503") == 2
    code, output = run_sipp(tmp_path / "after", line.port, "-s", "ivr", timeout=30)
    assert code == 0, output


def test_dead_worker_restarted_and_call_failed(start_line, tmp_path):
    import os
    import signal
    import sqlite3

    line = start_line(handler="tests.sip.handlers:stored", capacity=1)
    caller = subprocess.Popen(
        ["sipp", f"{HOST}:{line.port}", "-sn", "uac_pcap", "-s", "ivr", "-i", HOST, "-mi", HOST,
         "-p", str(free_ports(1)), "-m", "1", "-nostdin", "-timeout", "30s"],
        cwd=_pcap_dir(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        started = line.wait_for_event(lambda e: e["event"] == "start")
        os.kill(line.worker_pids()[0], signal.SIGKILL)
        line.wait_for_log("logged failed")
        line.wait_for_log("listening on", count=2, timeout=20)
    finally:
        caller.kill()
        caller.wait()

    with sqlite3.connect(line.data_dir / "ivr.sqlite3") as db:
        outcome, reason = db.execute("SELECT outcome, outcome_reason FROM calls WHERE id = ?",
                                     (started["call_id"],)).fetchone()
    assert outcome == "failed"
    assert reason == "sip_worker_exit_-9"
    code, output = run_sipp(tmp_path / "after", line.port, "-s", "ivr", timeout=30)
    assert code == 0, output


def _pcap_dir(tmp_path):
    folder = tmp_path / "pcap-dir"
    folder.mkdir(exist_ok=True)
    if not (folder / "pcap").exists():
        (folder / "pcap").symlink_to("/usr/share/sip-tester")
    return folder


def test_refer_accepted_by_baresip(start_line, baresip, tmp_path):
    operator = baresip("operator", user="operator", auto_answer=True).start(seconds=40)
    line = start_line(env={"IVR_OPERATOR_URI": f"sip:operator@{HOST}:{operator.port}"})
    caller = baresip("caller", user="1002003000").start(
        dial=f"sip:ivr@{HOST}:{line.port}", seconds=30)

    caller.wait_for_log("Call established", timeout=15)
    caller.send_key("0")
    transfer = line.wait_for_event(lambda e: e["event"] == "transfer", timeout=20)

    assert transfer["transfer"] == "transferred", line.log() + caller.log()
    assert "transfer ended result=transferred" in line.log()
    assert "REFER rejected" not in line.log()
