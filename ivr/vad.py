"""Energy-based voice activity detection on 20 ms frames.

Frames arrive every 20 ms whatever the caller does, so the start and the end
of an utterance come from the level of the audio, not from gaps. The detector
tracks the background noise level and calls a frame voiced when it is clearly
above both that level and an absolute floor. Speech starts after
`start_frames` voiced frames within a short window, which keeps clicks and
single noise bursts from stopping a prompt.
"""

from collections import deque

from .audio import rms_dbfs

ABSOLUTE_FLOOR_DBFS = -45.0
MARGIN_DB = 10.0


class VoiceActivityDetector:
    def __init__(self, start_frames=5, window_frames=8, preroll_frames=15):
        self.start_frames = start_frames
        self.noise_dbfs = -60.0
        self._recent = deque(maxlen=window_frames)
        self.preroll = deque(maxlen=preroll_frames)

    def is_voiced(self, pcm):
        """Classify one frame and update the noise estimate with unvoiced frames."""
        level = rms_dbfs(pcm)
        voiced = level > max(ABSOLUTE_FLOOR_DBFS, self.noise_dbfs + MARGIN_DB)
        if not voiced:
            # Follow the noise floor slowly upwards and quickly downwards.
            rate = 0.05 if level > self.noise_dbfs else 0.3
            self.noise_dbfs += rate * (level - self.noise_dbfs)
        return voiced

    def speech_started(self, pcm):
        """Feed a frame while waiting for speech; return True once speech has begun.

        The frames that led to the start stay in `preroll`, so that the start of
        the first word is not cut off.
        """
        self.preroll.append(pcm)
        self._recent.append(self.is_voiced(pcm))
        return sum(self._recent) >= self.start_frames

    def reset(self):
        self._recent.clear()
        self.preroll.clear()
