"""Streaming MP4 writer (PyAV): H.264 High yuv420p, AAC audio, moov atom up front.

Frames go to the encoder one at a time and are never collected, so memory stays flat
however long the video is. Audio, when given, is encoded alongside the frames (up to the
time of the last frame written), which keeps the file interleaved for progressive play.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from genmill.engines.video.planes import Planes

AUDIO_RATE = 44_100
_AAC_FRAME = 1024

# H.264 settings: "veryfast" keeps 1080p encoding near real time on two cores while CRF 20
# keeps photos clean; BT.709 limited range is what players assume for HD video.
VIDEO_OPTIONS = {
    "preset": "veryfast",
    "crf": "20",
    "profile": "high",
    "colorspace": "bt709",
    "color_primaries": "bt709",
    "color_trc": "bt709",
    "color_range": "tv",
}
CONTAINER_OPTIONS = {"movflags": "+faststart"}


class Mp4Writer:
    """One MP4 file: an optional H.264 video stream and an optional AAC audio stream."""

    def __init__(self, path: Path, size: tuple[int, int] | None, fps: int,
                 audio: np.ndarray | None = None, audio_rate: int = AUDIO_RATE,
                 video_options: dict[str, str] | None = None) -> None:
        import av

        self.path = path
        self.fps = fps
        self._frames = 0
        self._container = av.open(str(path), "w", format="mp4", options=CONTAINER_OPTIONS)
        self._video = None
        if size is not None:
            stream = self._container.add_stream(
                "libx264", rate=fps, options={**VIDEO_OPTIONS, **(video_options or {})}
            )
            stream.width, stream.height = size
            stream.pix_fmt = "yuv420p"
            stream.codec_context.time_base = Fraction(1, fps)
            # A keyframe every two seconds: seeking in a browser lands close to the target.
            stream.codec_context.gop_size = 2 * fps
            self._video = stream
        self._audio = None
        self._samples: np.ndarray | None = None
        self._sent = 0
        if audio is not None:
            self._samples = _resample(audio, audio_rate, AUDIO_RATE)
            stream = self._container.add_stream("aac", rate=AUDIO_RATE)
            stream.layout = "mono"
            stream.bit_rate = 128_000
            self._audio = stream

    def write(self, planes: Planes) -> None:
        """Append one picture; encodes audio up to its end time."""
        self.write_frame(planes.to_video_frame())

    def write_frame(self, frame) -> None:  # type: ignore[no-untyped-def]
        """Append one av.VideoFrame (yuv420p, or anything the encoder can convert)."""
        assert self._video is not None
        frame.pts = self._frames
        frame.time_base = Fraction(1, self.fps)
        for packet in self._video.encode(frame):
            self._container.mux(packet)
        self._frames += 1
        self._encode_audio_until(self._frames * AUDIO_RATE // self.fps)

    def close(self, audio_seconds: float | None = None) -> None:
        """Flush and finish the file.

        The audio ends with the video (padded with silence or cut), or at `audio_seconds`
        for an audio-only file.
        """
        if self._audio is not None:
            if self._video is not None:
                end = self._frames * AUDIO_RATE // self.fps
            elif audio_seconds is not None:
                end = round(audio_seconds * AUDIO_RATE)
            else:
                end = len(self._samples)  # type: ignore[arg-type]
            self._encode_audio_until(end, final=True)
            for packet in self._audio.encode(None):
                self._container.mux(packet)
        if self._video is not None:
            for packet in self._video.encode(None):
                self._container.mux(packet)
        self._container.close()

    def abort(self) -> None:
        """Stop without finishing: the partial file is removed."""
        try:
            self._container.close()
        except Exception:  # noqa: BLE001 - the file goes away anyway
            pass
        self.path.unlink(missing_ok=True)

    def _encode_audio_until(self, end: int, final: bool = False) -> None:
        """Encode audio samples up to `end`, in whole AAC frames unless this is the end."""
        if self._audio is None or self._samples is None:
            return
        import av

        while self._sent < end:
            count = min(_AAC_FRAME, end - self._sent)
            if count < _AAC_FRAME and not final:
                break
            chunk = np.zeros(count, np.float32)
            have = self._samples[self._sent:self._sent + count]
            chunk[:len(have)] = have
            frame = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
            frame.sample_rate = AUDIO_RATE
            frame.pts = self._sent
            frame.time_base = Fraction(1, AUDIO_RATE)
            for packet in self._audio.encode(frame):
                self._container.mux(packet)
            self._sent += count


def write_audio(path: Path, audio: np.ndarray, rate: int, seconds: float) -> None:
    """An AAC file (.m4a) of `audio`, exactly `seconds` long (padded with silence)."""
    writer = Mp4Writer(path, None, 1, audio=audio, audio_rate=rate)
    try:
        writer.close(audio_seconds=seconds)
    except BaseException:
        writer.abort()
        raise


def _resample(audio: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Float mono audio at `target` Hz, through FFmpeg's resampler (band-limited)."""
    if rate == target or len(audio) == 0:
        return np.asarray(audio, np.float32)
    import av

    resampler = av.AudioResampler(format="flt", layout="mono", rate=target)
    frame = av.AudioFrame.from_ndarray(np.asarray(audio, np.float32)[None, :], format="flt",
                                       layout="mono")
    frame.sample_rate = rate
    out = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    out += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(out) if out else np.zeros(0, np.float32)
