"""Offline text-to-speech with espeak-ng, driven through its C API with ctypes.

The `espeakng-loader` wheel ships libespeak-ng and its voice data (100+ languages), so
this works on a fresh machine with nothing but pip; a Debian `espeak-ng` install is used
when the wheel is missing. espeak-ng keeps global state, so one lock guards it.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from functools import cache

import numpy as np

from genmill.engines.video.voices import Voice, espeak_install

_OUTPUT_SYNCHRONOUS = 2
_CHARS_UTF8 = 1
_END_PAUSE = 0x1000
_RATE, _VOLUME = 1, 2
BASE_WPM = 165  # voice_rate 1.0; espeak's own default (175) sounds hurried for narration

_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)
_lock = threading.Lock()


class SpeechUnavailable(RuntimeError):
    pass


class _Espeak:
    def __init__(self) -> None:
        install = espeak_install()
        if install is None:
            raise SpeechUnavailable(
                "espeak-ng is not installed: pip install espeakng-loader "
                "(or apt-get install espeak-ng)"
            )
        lib = ctypes.CDLL(str(install.library))
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p,
                                          ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint,
                                     ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
                                     ctypes.c_void_p, ctypes.c_void_p]
        self.sample_rate = lib.espeak_Initialize(
            _OUTPUT_SYNCHRONOUS, 0, str(install.data_parent).encode(), 0
        )
        if self.sample_rate <= 0:
            raise SpeechUnavailable(f"espeak-ng failed to start (data in {install.data_parent})")
        self._chunks: list[np.ndarray] = []
        self._stop: Callable[[], bool] = lambda: False
        # Kept on self: ctypes must not free the callback while the library holds it.
        self._callback = _SynthCallback(self._collect)
        lib.espeak_SetSynthCallback(self._callback)
        self._lib = lib

    def _collect(self, wav, count, _events) -> int:  # type: ignore[no-untyped-def]
        if count > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 1 if self._stop() else 0  # non-zero asks espeak to abandon the text

    def speak(self, text: str, voice: Voice, rate: float, stop: Callable[[], bool]) -> np.ndarray:
        if self._lib.espeak_SetVoiceByName(voice.espeak_name.encode()) != 0:
            if self._lib.espeak_SetVoiceByName(voice.language.encode()) != 0:
                raise SpeechUnavailable(f"espeak-ng has no voice {voice.espeak_name!r}")
        wpm = int(min(max(BASE_WPM * rate, 80), 450))
        self._lib.espeak_SetParameter(_RATE, wpm, 0)
        self._lib.espeak_SetParameter(_VOLUME, 100, 0)
        self._chunks, self._stop = [], stop
        data = text.encode("utf-8")
        self._lib.espeak_Synth(data, len(data) + 1, 0, 0, 0, _CHARS_UTF8 | _END_PAUSE,
                               None, None)
        chunks, self._chunks = self._chunks, []
        return np.concatenate(chunks) if chunks else np.zeros(0, np.int16)


@cache
def _engine() -> _Espeak:
    return _Espeak()


def sample_rate() -> int:
    with _lock:
        return _engine().sample_rate


def speak(text: str, voice: Voice, rate: float = 1.0,
          stop: Callable[[], bool] = lambda: False) -> tuple[np.ndarray, int]:
    """Speech for `text` as float32 mono in [-1, 1], with its sample rate.

    Leading and trailing silence is trimmed so the caller controls pauses exactly.
    """
    with _lock:
        engine = _engine()
        pcm = engine.speak(text, voice, rate, stop)
        rate_hz = engine.sample_rate
    audio = pcm.astype(np.float32) / 32768.0
    return trim_silence(audio, rate_hz), rate_hz


def trim_silence(audio: np.ndarray, rate_hz: int, threshold: float = 0.004) -> np.ndarray:
    loud = np.flatnonzero(np.abs(audio) > threshold)
    if loud.size == 0:
        return audio[:0]
    pad = int(0.02 * rate_hz)  # keep a breath of the attack and the release
    return audio[max(loud[0] - pad, 0): loud[-1] + pad + 1]
