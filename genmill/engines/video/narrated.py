"""genmill/narrated-t2v: a narrated short from a script, fully offline.

Script -> caption chunks -> speech per chunk (espeak-ng) -> timeline (pacing) ->
subtitle.srt/.vtt and audio.m4a -> per variant: shots (a title card first when there is
a title, then the user's images with camera moves, else title-card backdrops),
crossfaded, encoded twice in one pass: combined-N.mp4 (picture only) and final-N.mp4
(picture, burned-in captions, narration).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from genmill.engines.base import InputError, Inputs, RunContext
from genmill.engines.decode import open_image
from genmill.engines.params import MAX_SEED
from genmill.engines.video import (
    caption_art,
    captions,
    language,
    memory,
    pacing,
    scenes,
    tts,
    voices,
)
from genmill.engines.video.captions import Chunk, Cue
from genmill.engines.video.encode import Mp4Writer, write_audio
from genmill.engines.video.params import NarratedParams
from genmill.engines.video.planes import Overlay, Planes
from genmill.engines.video.render import stream_frames
from genmill.engines.video.sizes import frame_size
from genmill.engines.video.soundtrack import music_bed, narration
from genmill.engines.video.source import prepare

BACKDROP_SIDE = 1024  # longest side a generated backdrop is drawn at
INTRO = 2.0  # seconds the title card shows before the narration starts
READING_CPS = {False: 15.0, True: 6.0}  # characters a second, spaced and CJK text
SPEECH_SHARE = 0.08  # of the progress bar
# The picture-only track is an intermediate for editing: a faster preset will do.
COMBINED_OPTIONS = {"preset": "superfast"}
# A shorter lookahead than veryfast's 10 frames: x264 holds 5 fewer 1080p frames (about
# 35 MB), which keeps a 1080p render under 400 MB with the narration and backdrops.
FINAL_OPTIONS = {"x264-params": "rc-lookahead=5"}


class NarratedEngine:
    def run(self, params: NarratedParams, inputs: Inputs, ctx: RunContext) -> list[str]:
        memory.map_large_blocks()
        written: list[Path] = []
        try:
            return self._run(params, inputs, ctx, written)
        except BaseException:
            for path in written:  # cancel or failure: no partial outputs stay behind
                path.unlink(missing_ok=True)
            raise

    def _run(self, params: NarratedParams, inputs: Inputs, ctx: RunContext,
             written: list[Path]) -> list[str]:
        text = params.text
        size = frame_size(params.resolution, params.aspect_ratio)
        style = caption_art.CaptionStyle(
            size, params.font_size, params.subtitle_position, params.text_fore_color,
            params.stroke_color, params.stroke_width)
        cjk = language.is_cjk(text)
        chunks = captions.chunks(text, style.max_chars(cjk))
        if not chunks:
            raise InputError("the script has no words to speak")
        images = [open_image(item) for item in inputs.images]  # fail early on a bad one
        aspects = [im.width / im.height for im in images]
        del images
        intro = INTRO if params.title else 0.0
        target = float(params.duration) if params.duration is not None else None

        clips: list[np.ndarray] = []
        rate = 0
        if params.audio_enable:
            voice = voices.for_text(voices.parse(params.voice_name), language.detect(text))
            clips, rate = _speak(chunks, voice, params.voice_rate, ctx, (0.0, SPEECH_SHARE / 2))
            lengths = [len(c) / rate for c in clips]
            factor = pacing.speed_factor(lengths, chunks, target, intro)
            if abs(factor - 1.0) > 0.03:  # meet the target duration: speak faster or slower
                clips, rate = _speak(chunks, voice, params.voice_rate * factor, ctx,
                                     (SPEECH_SHARE / 2, SPEECH_SHARE))
                lengths = [len(c) / rate for c in clips]
        else:
            lengths = [max(1.2, len(c.text) / READING_CPS[cjk]) for c in chunks]
            factor = pacing.speed_factor(lengths, chunks, target, intro)
            lengths = [length / factor for length in lengths]
        timeline = pacing.layout(lengths, chunks, target, params.fps, intro)
        ctx.progress(SPEECH_SHARE, f"{len(chunks)} captions, {timeline.total:.1f} s")

        names: list[str] = []
        for name, writer in (("subtitle.srt", captions.write_srt),
                             ("subtitle.vtt", captions.write_vtt)):
            written.append(ctx.output_dir / name)
            writer(timeline.cues, ctx.output_dir / name)
        track = None
        if params.audio_enable:
            track = narration(clips, timeline.starts, timeline.total, rate, params.voice_volume)
            if params.bgm_volume > 0:
                track = track + music_bed(timeline.total, rate, ctx.seed, params.bgm_volume,
                                          track)
            written.append(ctx.output_dir / "audio.m4a")
            write_audio(ctx.output_dir / "audio.m4a", track, rate, timeline.total)
        del clips

        share = (1.0 - SPEECH_SHARE) / params.video_count
        for v in range(params.video_count):
            seed = (ctx.seed + v) % (MAX_SEED + 1)
            shots = _shots(params, inputs, chunks, timeline, aspects, seed, intro)
            first = SPEECH_SHARE + v * share
            _render_variant(v + 1, shots, timeline.cues if params.subtitle_enabled else [],
                            style, track, rate, params.fps, size, timeline.total, ctx,
                            written, (first, first + share))
            names += [f"final-{v + 1}.mp4", f"combined-{v + 1}.mp4"]
        names += ["subtitle.srt", "subtitle.vtt"]
        if params.audio_enable:
            names.append("audio.m4a")
        ctx.progress(1.0, "done")
        return names


def _speak(chunks: list[Chunk], voice: voices.Voice, rate: float, ctx: RunContext,
           span: tuple[float, float]) -> tuple[list[np.ndarray], int]:
    clips, hz = [], tts.sample_rate()
    for i, chunk in enumerate(chunks):
        ctx.check_canceled()
        audio, hz = tts.speak(chunk.text, voice, rate, stop=ctx.canceled)
        if len(audio) == 0:  # a chunk of symbols espeak reads as nothing: a beat of silence
            audio = np.zeros(int(0.3 * hz), np.float32)
        clips.append(audio)
        ctx.progress(span[0] + (span[1] - span[0]) * (i + 1) / len(chunks), "speech")
    ctx.check_canceled()
    return clips, hz


def _shots(params: NarratedParams, inputs: Inputs, chunks: list[Chunk],
           timeline: pacing.Timeline, aspects: list[float], seed: int,
           intro: float) -> list[scenes.Shot]:
    # Cut a beat before each sentence's first word, so the picture leads the voice.
    sentence_starts = [max(timeline.starts[i] - 0.15, 0.0) for i, c in enumerate(chunks)
                       if i == 0 or c.sentence != chunks[i - 1].sentence]
    if intro:
        sentence_starts[0] = intro
    spans = scenes.cut(sentence_starts, timeline.total, params.clip_duration)
    hint = f"{params.title} {params.prompt}".strip() or params.text[:200]
    order = scenes.variant_order(len(aspects), seed) if aspects else []
    shots = []
    for k, (start, end) in enumerate(spans):
        shot_seed = (seed * 7919 + k * 104_729) % (MAX_SEED + 1)
        if k == 0 and intro:  # the title card opens the video, with or without images
            shots.append(scenes.Shot(start, end, shot_seed,
                                     _title_canvas(params.title, seed, hint), 1.0, "zoom-in"))
        elif order:
            index = order[(k - (1 if intro else 0)) % len(order)]
            make = _image_canvas(inputs, index, params.fit)
            shots.append(scenes.Shot(start, end, shot_seed, make, aspects[index]))
        else:
            shots.append(scenes.Shot(start, end, shot_seed, _backdrop_canvas(shot_seed, hint),
                                     1.0))
    return shots


def _image_canvas(inputs: Inputs, index: int, fit: str):  # type: ignore[no-untyped-def]
    def make(size: tuple[int, int], zoom: float) -> Planes:
        return prepare(open_image(inputs.images[index]), size, zoom, fit)  # type: ignore[arg-type]

    return make


def _backdrop_canvas(seed: int, hint: str):  # type: ignore[no-untyped-def]
    def make(size: tuple[int, int], zoom: float) -> Planes:
        from genmill.engines.common.title_card import render_background

        width, height = (_even(side * zoom) for side in size)
        # Backdrops are soft fields and shapes: drawn at up to BACKDROP_SIDE and scaled up,
        # they look the same at a fraction of the time and memory.
        scale = min(1.0, BACKDROP_SIDE / max(width, height))
        small = render_background(max(2, round(width * scale)), max(2, round(height * scale)),
                                  seed, palette_hint=hint)
        if scale < 1.0:
            small = small.resize((width, height), Image.BICUBIC)
        return Planes.from_rgb(small)

    return make


def _title_canvas(title: str, seed: int, hint: str):  # type: ignore[no-untyped-def]
    made: dict[tuple[tuple[int, int], float], Planes] = {}

    def make(size: tuple[int, int], zoom: float) -> Planes:
        # Kept for the second pass (combined-N): drawing a full-size card is the costliest
        # allocation of the render, and its planes are only a few MB.
        if (size, zoom) not in made:
            made[(size, zoom)] = _draw_title(title, seed, hint, size, zoom)
        return made[(size, zoom)]

    return make


def _draw_title(title: str, seed: int, hint: str, size: tuple[int, int],
                zoom: float) -> Planes:
    from genmill.engines.common.title_card import render_title_card

    width, height = (_even(side * zoom) for side in size)
    # Titles the fonts cannot draw were refused at submit; any other failure is a failure.
    return Planes.from_rgb(render_title_card(title, width, height, seed, palette_hint=hint))


def _even(value: float) -> int:
    return max(2, 2 * int(value / 2 + 0.999))


def _render_variant(number: int, shots: list[scenes.Shot], cues: list[Cue],
                    style: caption_art.CaptionStyle, track: np.ndarray | None, rate: int,
                    fps: int, size: tuple[int, int], total: float, ctx: RunContext,
                    written: list[Path], span: tuple[float, float]) -> None:
    """final-N.mp4, then combined-N.mp4: one pass each, so only one x264 encoder (about
    150 MB of frame buffers at 1080p) is alive at a time."""
    count = round(total * fps)
    first, last = span
    middle = first + (last - first) * 0.6
    final_path = ctx.output_dir / f"final-{number}.mp4"
    combined_path = ctx.output_dir / f"combined-{number}.mp4"
    written += [final_path, combined_path]
    overlays = _CaptionCache(cues, style)

    def captioned(picture: Planes, t: float) -> Planes:
        layer = overlays.at(t)
        if layer is not None:
            picture.overlay(layer)
        return picture

    _encode_pass(final_path, shots, size, fps, count, ctx, (first, middle),
                 f"video {number}", captioned, FINAL_OPTIONS, track, rate)
    _encode_pass(combined_path, shots, size, fps, count, ctx, (middle, last),
                 f"picture track {number}", lambda picture, _t: picture, COMBINED_OPTIONS,
                 None, rate)


def _encode_pass(path: Path, shots: list[scenes.Shot], size: tuple[int, int], fps: int,
                 count: int, ctx: RunContext, span: tuple[float, float], message: str,
                 finish, options: dict[str, str],  # type: ignore[no-untyped-def]
                 track: np.ndarray | None, rate: int) -> None:
    pictures = scenes.ShotTrack(shots, size, fps)
    try:
        pictures.prepare_first()  # the title card's peak memory passes before x264 starts
        writer = Mp4Writer(path, size, fps, audio=track, audio_rate=rate or 1,
                           video_options=options)
    except BaseException:
        pictures.close()
        raise

    def frame(i: int) -> Planes:
        return finish(pictures.frame(i), (i + 0.5) / fps)

    try:
        stream_frames(count, frame, lambda _i, planes: writer.write(planes), ctx, span=span,
                      message=message, chunk=max(fps // 4, 1))
        writer.close()
    except BaseException:
        writer.abort()
        raise
    finally:
        pictures.close()
        memory.release()  # the encoder's frame buffers, before the next pass allocates


class _CaptionCache:
    """The caption overlay on screen at a time; each is drawn once, when it first shows."""

    def __init__(self, cues: list[Cue], style: caption_art.CaptionStyle) -> None:
        self.cues = cues
        self.style = style
        self._index = -1
        self._layer: Overlay | None = None

    def at(self, t: float) -> Overlay | None:
        index = next((i for i, c in enumerate(self.cues) if c.start <= t < c.end), None)
        if index is None:
            return None
        if index != self._index:
            self._index, self._layer = index, caption_art.render(self.cues[index].text,
                                                                 self.style)
        return self._layer

