"""The built-in video models, checked through real decoders (PyAV) on small renders."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import threading
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw
from pydantic import ValidationError

from genmill.domain import Mode
from genmill.engines.base import Canceled, InputError, InputFile, Inputs, RunContext
from genmill.engines.video import (
    MODELS,
    captions,
    language,
    motion,
    pacing,
    planes,
    tts,
    voices,
)
from genmill.engines.video.kenburns import KenBurnsEngine
from genmill.engines.video.narrated import NarratedEngine
from genmill.engines.video.params import KenBurnsParams, NarratedParams

SCRIPT = ("The ocean covers most of our planet. Yet we have explored only a small part of "
          "its floor. Deep down, strange creatures make their own light!")


def _png(image: Image.Image) -> InputFile:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return InputFile(buffer.getvalue(), "image/png", "test")


def _scene(width: int = 1600, height: int = 1000) -> Image.Image:
    """A picture with detail everywhere: gradients, shapes and noise."""
    rng = np.random.default_rng(3)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([120 + 100 * np.sin(xs / 170), 90 + 80 * np.cos(ys / 130),
                     140 + 60 * np.sin((xs + ys) / 250)], axis=-1)
    base += rng.normal(0, 12, base.shape)
    image = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for i in range(12):
        x, y = rng.integers(0, width), rng.integers(0, height)
        draw.ellipse((x - 60, y - 60, x + 60, y + 60), fill=(250, 230 - 10 * i, 40 + 15 * i))
    return image


def _probe(path: Path) -> dict:
    with av.open(str(path)) as container:
        info: dict = {"duration": container.duration / 1e6, "audio": None, "video": None}
        for stream in container.streams:
            ctx = stream.codec_context
            if stream.type == "video":
                frames = sum(1 for _ in container.decode(stream))
                info["video"] = dict(codec=ctx.name, profile=ctx.profile, pix_fmt=ctx.pix_fmt,
                                     size=(ctx.width, ctx.height), frames=frames,
                                     seconds=float(stream.duration * stream.time_base),
                                     fps=stream.average_rate)
        container.seek(0)
        for stream in container.streams.audio:
            samples = sum(f.samples for f in container.decode(stream))
            info["audio"] = dict(codec=stream.codec_context.name,
                                 seconds=samples / stream.codec_context.sample_rate)
    return info


def _faststart(path: Path) -> bool:
    head = path.read_bytes()
    return 0 <= head.find(b"moov") < head.find(b"mdat")


def _ctx(tmp_path: Path, seed: int = 7, **kw) -> RunContext:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    return RunContext("task", seed, out, **kw)


def _parse_cues(path: Path) -> list[tuple[float, float, str]]:
    text = path.read_text(encoding="utf-8")
    stamp = r"(\d\d):(\d\d):(\d\d)[,.](\d\d\d)"
    cues = []
    for m in re.finditer(stamp + r" --> " + stamp + r"\n(.+?)(?:\n\n|\n?$)", text, re.S):
        g = [int(x) if x.isdigit() else x for x in m.groups()]
        start = g[0] * 3600 + g[1] * 60 + g[2] + g[3] / 1000
        end = g[4] * 3600 + g[5] * 60 + g[6] + g[7] / 1000
        cues.append((start, end, g[8].strip()))
    return cues


# --- registry and params ---------------------------------------------------------------


def test_models_are_registered_and_import_light() -> None:
    ids = {m.id: m for m in MODELS}
    assert ids["genmill/kenburns-i2v"].mode is Mode.IMAGE_TO_VIDEO
    assert ids["genmill/narrated-t2v"].mode is Mode.TEXT_TO_VIDEO
    schema = ids["genmill/narrated-t2v"].params.model_json_schema()
    assert "zh-CN-female" in schema["properties"]["voice_name"]["examples"]
    code = "import sys, genmill.engines.video; assert 'av' not in sys.modules, 'av loaded'"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("model, body, field", [
    (KenBurnsParams, {"duration": 61}, "duration"),
    (KenBurnsParams, {"duration": 0}, "duration"),
    (KenBurnsParams, {"fps": 23}, "fps"),
    (KenBurnsParams, {"resolution": "4k"}, "resolution"),
    (KenBurnsParams, {"motion": "spin"}, "motion"),
    (KenBurnsParams, {"prompt": "the orange rolls off the table and explodes"}, "motion"),
    (NarratedParams, {"script": "hi", "title": "Party 🎉"}, "title"),
    (NarratedParams, {"script": "مرحبا بالعالم"}, "script"),
    (KenBurnsParams, {"bogus": 1}, "bogus"),
    (NarratedParams, {}, "script"),
    (NarratedParams, {"script": "   "}, "script"),
    (NarratedParams, {"script": "?!"}, "script"),
    (NarratedParams, {"script": "hi", "voice_name": "xx-Nowhere"}, "voice_name"),
    (NarratedParams, {"script": "hi", "text_fore_color": "blurple"}, "text_fore_color"),
    (NarratedParams, {"script": "hi", "duration": 0}, "duration"),
])
def test_bad_params_name_the_field(model, body, field) -> None:
    with pytest.raises(ValidationError) as err:
        model(**body)
    assert err.value.errors()[0]["loc"][0] == field


def test_a_prompt_with_no_camera_move_is_refused_saying_what_is_read() -> None:
    with pytest.raises(ValidationError) as err:
        KenBurnsParams(prompt="the orange rolls off the table and explodes into juice")
    message = str(err.value)
    assert "names no camera move" in message and "zoom in" in message and "pan-left" in message
    assert KenBurnsParams(prompt="slow zoom into the castle").motion == "auto"
    assert KenBurnsParams(prompt="the orange", motion="pan-left").motion == "pan-left"
    assert KenBurnsParams(prompt="").motion == "auto"  # no prompt: the move is picked


def test_undrawable_title_and_captions_are_named_at_submit() -> None:
    with pytest.raises(ValidationError) as err:
        NarratedParams(script="Hello.", title="Party 🎉")
    assert "U+1F389" in str(err.value)
    with pytest.raises(ValidationError) as err:
        NarratedParams(script="مرحبا بالعالم")
    assert "U+0645" in str(err.value) and "subtitle_enabled" in str(err.value)
    # without captions, the same script is only spoken: accepted
    assert NarratedParams(script="مرحبا بالعالم", subtitle_enabled=False)
    assert NarratedParams(script="人工智能正在改变世界。", title="人工智能如何改变世界")


def test_prompt_stands_in_for_script() -> None:
    assert NarratedParams(prompt="Hello there.").text == "Hello there."


# --- Ken Burns -------------------------------------------------------------------------


def test_kenburns_output_is_h264_high_with_exact_frames_and_poster(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    params = KenBurnsParams(duration=2, fps=24, resolution="480p", aspect_ratio="16:9")
    names = KenBurnsEngine().run(params, Inputs({"image": [_png(_scene())]}), ctx)
    assert names == ["video-1.mp4", "poster.jpg"]
    assert sorted(p.name for p in ctx.output_dir.iterdir()) == sorted(names)
    info = _probe(ctx.output_dir / "video-1.mp4")
    video = info["video"]
    assert (video["codec"], video["profile"], video["pix_fmt"]) == ("h264", "High", "yuv420p")
    assert video["size"] == (854, 480)
    assert video["frames"] == 48
    assert abs(video["seconds"] - 2.0) <= 1 / 24
    assert _faststart(ctx.output_dir / "video-1.mp4")
    poster = Image.open(ctx.output_dir / "poster.jpg")
    assert poster.format == "JPEG" and poster.size == (854, 480)
    assert np.asarray(poster).std() > 10  # a picture, not a blank


def test_kenburns_audio_enable_makes_a_quiet_music_track(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    params = KenBurnsParams(duration=2, fps=24, resolution="480p", motion="zoom-in")
    KenBurnsEngine().run(params, Inputs({"image": [_png(_scene(400, 300))]}), ctx)
    info = _probe(ctx.output_dir / "video-1.mp4")
    assert info["audio"]["codec"] == "aac"
    assert abs(info["audio"]["seconds"] - 2.0) <= 0.05
    with av.open(str(ctx.output_dir / "video-1.mp4")) as container:
        pcm = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
    rms = float(np.sqrt(np.mean(pcm ** 2)))
    assert 0.003 < rms < 0.1  # a sound, and a quiet one
    (tmp_path / "silent").mkdir()
    silent = _ctx(tmp_path / "silent")
    KenBurnsEngine().run(KenBurnsParams(duration=1, resolution="480p", audio_enable=False),
                         Inputs({"image": [_png(_scene(400, 300))]}), silent)
    assert _probe(silent.output_dir / "video-1.mp4")["audio"] is None


def _subject_photo(x: float) -> InputFile:
    """A 3:4 photo: a red disk (the subject) at `x` of the width, on a textured grey."""
    w, h = 900, 1200
    rng = np.random.default_rng(1)
    base = np.clip(rng.normal(110, 12, (h // 8, w // 8, 3)), 0, 255).astype(np.uint8)
    image = Image.fromarray(base).resize((w, h), Image.BICUBIC)
    ImageDraw.Draw(image).ellipse((x * w - 70, h * 0.45 - 70, x * w + 70, h * 0.45 + 70),
                                  fill=(230, 20, 30))
    return _png(image)


@pytest.mark.parametrize("x, move", [
    (0.15, "pan-left"), (0.15, "pan-right"), (0.85, "pan-left"), (0.5, "pan-right"),
    (0.15, "zoom-in"), (0.85, "zoom-out")])
def test_the_subject_stays_in_frame_for_the_whole_move(tmp_path: Path, x: float,
                                                       move: str) -> None:
    """A 3:4 photo into a 9:16 frame crops its sides: every frame of the move (4 s is
    long enough for a pan's full travel) still shows the whole subject, off-centre too."""
    ctx = _ctx(tmp_path)
    params = KenBurnsParams(duration=4, fps=24, resolution="480p", aspect_ratio="9:16",
                            motion=move, audio_enable=False)
    KenBurnsEngine().run(params, Inputs({"image": [_subject_photo(x)]}), ctx)
    with av.open(str(ctx.output_dir / "video-1.mp4")) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index % 4:
                continue
            rgb = frame.to_ndarray(format="rgb24").astype(int)
            ys, xs = np.nonzero((rgb[..., 0] > 170) & (rgb[..., 1] < 80))
            assert len(xs), f"frame {index}: the subject is out of frame"
            margin = min(xs.min(), ys.min(), rgb.shape[1] - 1 - xs.max(),
                         rgb.shape[0] - 1 - ys.max())
            assert margin >= 2, f"frame {index}: the subject touches the frame's edge"


def test_kenburns_fit_mode_portrait(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    params = KenBurnsParams(duration=1, fps=25, resolution="480p", aspect_ratio="9:16",
                            fit="fit", motion="zoom-out")
    KenBurnsEngine().run(params, Inputs({"image": [_png(_scene())]}), ctx)
    video = _probe(ctx.output_dir / "video-1.mp4")["video"]
    assert video["size"] == (480, 854) and video["frames"] == 25


def test_kenburns_bad_image_fails_with_reason(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    broken = InputFile(b"\x89PNG\r\n\x1a\nnot really", "image/png", "https://x/y.png")
    with pytest.raises(InputError, match="not a decodable image|could not be decoded"):
        KenBurnsEngine().run(KenBurnsParams(), Inputs({"image": [broken]}), ctx)
    with pytest.raises(InputError, match="image is required"):
        KenBurnsEngine().run(KenBurnsParams(), Inputs(), ctx)
    assert list(ctx.output_dir.iterdir()) == []


def _disk_image() -> Image.Image:
    """One large bright disk (drawn 4x and scaled down: antialiased) on a dark field."""
    w, h = 1200, 900
    big = Image.new("RGB", (w * 4, h * 4), (30, 50, 80))
    ImageDraw.Draw(big).ellipse((w * 2 - 480, h * 2 - 480, w * 2 + 480, h * 2 + 480),
                                fill=(250, 240, 200))
    return big.resize((w, h), Image.LANCZOS)


def _track(path: Path) -> np.ndarray:
    """The disk's centroid in each decoded frame."""
    points = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            y = frame.to_ndarray(format="gray").astype(np.float64)
            weight = np.clip(y - np.median(y), 0, None)
            rows, cols = np.indices(y.shape)
            points.append(((weight * cols).sum() / weight.sum(),
                           (weight * rows).sum() / weight.sum()))
    return np.array(points)


@pytest.mark.parametrize("move, axis, backend", [
    ("pan-right", 0, "opencv"), ("pan-up", 1, "opencv"), ("pan-right", 0, "pillow")])
def test_camera_motion_is_smooth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, move: str,
                                 axis: int, backend: str) -> None:
    if backend == "pillow":  # the path taken where OpenCV (the `fast` extra) is missing
        monkeypatch.setattr(planes, "_cv2", lambda: None)
    else:
        pytest.importorskip("cv2")
    ctx = _ctx(tmp_path)
    params = KenBurnsParams(duration=4, fps=25, resolution="480p", aspect_ratio="4:3",
                            motion=move)
    KenBurnsEngine().run(params, Inputs({"image": [_png(_disk_image())]}), ctx)
    steps = np.diff(_track(ctx.output_dir / "video-1.mp4")[:, axis])
    n = len(steps)
    direction = np.sign(steps[n // 2])
    # Monotonic: every step goes the same way (0.03 px is the decoder's noise floor, met
    # only in the first and last frames, where the eased camera barely moves).
    assert (steps * direction > -0.03).all(), steps
    # The linear stretch (the middle 60% of the clip; 25-75% keeps clear of the ramps):
    linear = steps[int(n * 0.25): int(n * 0.75)]
    assert np.abs(linear).mean() > 0.5  # it does move
    assert linear.max() - linear.min() < 0.1, linear


def test_ease_is_continuous_with_linear_middle() -> None:
    ts = np.linspace(0, 1, 1001)
    s = np.array([motion.ease(t) for t in ts])
    assert s[0] == 0 and abs(s[-1] - 1) < 1e-12 and (np.diff(s) >= 0).all()
    speed = np.diff(s)
    middle = speed[300:700]
    assert middle.max() - middle.min() < 1e-9
    assert np.abs(np.diff(speed)).max() < 1e-4  # no jump in speed anywhere


def test_motion_from_prompt_words() -> None:
    assert motion.choose("auto", "slow zoom into the castle", 1, 1.5, 1.7) == "zoom-in"
    assert motion.choose("auto", "Pull back to reveal the city", 1, 1.5, 1.7) == "zoom-out"
    assert motion.choose("auto", "camera pans left over the bay", 1, 1.5, 1.7) == "pan-left"
    assert motion.choose("auto", "tilt up to the sky", 1, 1.5, 1.7) == "pan-up"
    assert motion.choose("pan-down", "zoom in", 1, 1.5, 1.7) == "pan-down"
    # A panorama pans sideways when the prompt says nothing.
    assert motion.choose("auto", "", 5, 4.0, 16 / 9) in ("pan-left", "pan-right")


# --- narrated --------------------------------------------------------------------------


def test_narrated_outputs(tmp_path: Path) -> None:
    seen: list[float] = []
    ctx = _ctx(tmp_path, report=lambda fraction, message: seen.append(fraction))
    params = NarratedParams(script=SCRIPT, resolution="480p", fps=24, bgm_volume=0.2)
    names = NarratedEngine().run(params, Inputs(), ctx)
    assert names == ["final-1.mp4", "combined-1.mp4", "subtitle.srt", "subtitle.vtt",
                     "audio.m4a"]
    assert sorted(p.name for p in ctx.output_dir.iterdir()) == sorted(names)
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) > 10

    final = _probe(ctx.output_dir / "final-1.mp4")
    combined = _probe(ctx.output_dir / "combined-1.mp4")
    for info in (final, combined):
        video = info["video"]
        assert (video["codec"], video["profile"], video["pix_fmt"]) == ("h264", "High",
                                                                        "yuv420p")
        assert video["size"] == (480, 854)
        assert video["frames"] == round(video["seconds"] * 24)
    assert combined["audio"] is None
    assert final["audio"]["codec"] == "aac"
    seconds = final["video"]["seconds"]
    assert abs(final["audio"]["seconds"] - seconds) <= 1 / 24 + 0.03
    assert _faststart(ctx.output_dir / "final-1.mp4")

    srt = _parse_cues(ctx.output_dir / "subtitle.srt")
    vtt = _parse_cues(ctx.output_dir / "subtitle.vtt")
    assert srt == vtt and len(srt) >= 3
    assert (ctx.output_dir / "subtitle.vtt").read_text().startswith("WEBVTT\n")
    for (s0, e0, _), (s1, _e1, _) in zip(srt, srt[1:], strict=False):
        assert s0 < e0 <= s1  # ordered, no overlap
    assert " ".join(text.replace("\n", " ") for _, _, text in srt) == SCRIPT
    # The narration lasts as long as the captions run (to the last one's end).
    audio = _probe(ctx.output_dir / "audio.m4a")["audio"]
    assert abs(audio["seconds"] - srt[-1][1]) <= 0.05
    assert abs(srt[-1][1] - seconds) <= 1 / 24


def test_narrated_speech_is_where_captions_say(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    NarratedEngine().run(NarratedParams(script="One. Two. Three.", resolution="480p",
                                        aspect_ratio="1:1", subtitle_enabled=False),
                         Inputs(), ctx)
    with av.open(str(ctx.output_dir / "audio.m4a")) as container:
        rate = container.streams.audio[0].codec_context.sample_rate
        pcm = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
    cues = _parse_cues(ctx.output_dir / "subtitle.srt")
    assert len(cues) == 3
    for start, end, _ in cues:
        inside = pcm[int(start * rate): int(end * rate)]
        assert np.abs(inside).max() > 0.05  # speech under each caption
    gap = pcm[int((cues[0][1] - 0.12) * rate): int((cues[0][1] - 0.02) * rate)]
    assert np.abs(gap).max() < 0.02  # a pause before the next sentence


def test_narrated_meets_a_target_duration_with_images_and_variants(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    params = NarratedParams(script="Short and sweet. Two sentences.", duration=9,
                            resolution="480p", aspect_ratio="16:9", fps=25, video_count=2,
                            clip_duration=3, audio_enable=False)
    names = NarratedEngine().run(params, Inputs({"images": [_png(_scene()),
                                                           _png(_disk_image())]}), ctx)
    assert names == ["final-1.mp4", "combined-1.mp4", "final-2.mp4", "combined-2.mp4",
                     "subtitle.srt", "subtitle.vtt"]
    first = _probe(ctx.output_dir / "final-1.mp4")
    assert first["audio"] is None and first["video"]["frames"] == 9 * 25
    one = _first_frame(ctx.output_dir / "combined-1.mp4")
    two = _first_frame(ctx.output_dir / "combined-2.mp4")
    assert np.abs(one.astype(int) - two.astype(int)).mean() > 1  # variants differ


def _frame_at(path: Path, seconds: float) -> np.ndarray:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            if frame.time >= seconds:
                return frame.to_ndarray(format="gray").astype(float)
    raise AssertionError(f"no frame at {seconds} s")


def _text_edges(gray: np.ndarray) -> float:
    """Share of pixels on sharp edges: lettering has many, backdrops and photos few."""
    gx, gy = np.abs(np.diff(gray, axis=1))[:-1], np.abs(np.diff(gray, axis=0))[:, :-1]
    return float((np.maximum(gx, gy) > 40).mean())


@pytest.mark.parametrize("with_images", [False, True])
def test_a_chinese_title_opens_the_video_also_with_images(tmp_path: Path,
                                                          with_images: bool) -> None:
    ctx = _ctx(tmp_path)
    params = NarratedParams(script="人工智能正在改变我们的世界。", aspect_ratio="1:1",
                            title="人工智能如何改变世界", resolution="480p", fps=24,
                            audio_enable=False, subtitle_enabled=False)
    images = {"images": [_png(_disk_image())]} if with_images else {}
    NarratedEngine().run(params, Inputs(images), ctx)
    video = ctx.output_dir / "combined-1.mp4"
    title = _text_edges(_frame_at(video, 1.0))
    later = _text_edges(_frame_at(video, _probe(video)["video"]["seconds"] - 0.5))
    assert title > 0.01 and title > 4 * later, (title, later)


def test_chinese_captions_break_between_words() -> None:
    from genmill.engines.video import caption_art

    words = {"人工智能", "正在", "改变", "我们", "的", "大脑", "然后", "会", "记住", "这些",
             "东西", "世界"}

    def whole_words(line: str) -> bool:
        rest = line.strip("，。")
        while rest:
            word = next((w for w in sorted(words, key=len, reverse=True)
                         if rest.startswith(w)), None)
            if word is None:
                return False
            rest = rest[len(word):].lstrip("，。")
        return True

    text = "人工智能正在改变我们的世界，我们的大脑然后会记住这些东西。"
    stack = caption_art.caption_stack()
    for width in (180, 260, 340):
        lines = caption_art.wrap(text, stack, 40, width)
        assert len(lines) > 1 and "".join(lines) == text
        assert all(whole_words(line) for line in lines), lines
        assert all(line[0] not in "，。" for line in lines)
    sentence = "我们的大脑然后会记住这些东西人工智能正在改变世界"
    for size in (8, 10, 12):
        pieces = [c.text for c in captions.chunks(sentence, size)]
        assert "".join(pieces) == sentence
        assert all(whole_words(p) for p in pieces), pieces


def _first_frame(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return next(container.decode(video=0)).to_ndarray(format="gray")


def test_narrated_bad_image_fails(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    broken = InputFile(b"GIF89a-broken", "image/gif", "upload")
    with pytest.raises(InputError):
        NarratedEngine().run(NarratedParams(script="Hello."), Inputs({"images": [broken]}),
                             ctx)
    assert list(ctx.output_dir.iterdir()) == []


def test_cancel_stops_at_the_next_check_and_leaves_nothing(tmp_path: Path) -> None:
    """The engine stops within a chunk of frames of a cancel (how fast that is in seconds
    is measured by bench/video.py, not asserted here)."""
    flag = threading.Event()
    after: list[float] = []

    def report(fraction: float, _message: str) -> None:
        if flag.is_set():
            after.append(fraction)
        elif fraction > 0.3:
            flag.set()

    ctx = _ctx(tmp_path, report=report, is_canceled=flag.is_set)
    params = NarratedParams(script=SCRIPT, resolution="480p", duration=30, fps=24)
    with pytest.raises(Canceled):
        NarratedEngine().run(params, Inputs(), ctx)
    assert flag.is_set() and len(after) <= 2, after
    assert list(ctx.output_dir.iterdir()) == []


# --- speech, languages, captions -------------------------------------------------------


@pytest.mark.parametrize("text, lang", [
    ("The weather is nice today and we are going to the park.", "en"),
    ("Das Wetter ist heute schön und wir gehen in den Park.", "de"),
    ("Il fait beau aujourd'hui et nous allons au parc avec les enfants.", "fr"),
    ("Hoy hace buen tiempo y vamos al parque con los niños.", "es"),
    ("今天天气很好，我们去公园散步。", "cmn"),
])
def test_language_detection_and_speech(text: str, lang: str) -> None:
    assert language.detect(text) == lang
    voice = voices.for_text(None, language.detect(text))
    audio, rate = tts.speak(text, voice)
    assert rate > 8000 and len(audio) / rate > 1.0
    assert np.abs(audio).max() > 0.1


def test_voice_names() -> None:
    assert voices.parse("auto") is None
    assert voices.parse("zh-CN-XiaoxiaoNeural-Female") == voices.Voice("cmn", voices.FEMALE)
    assert voices.parse("en-GB") == voices.Voice("en", "")
    assert voices.parse("fr+f2") == voices.Voice("fr", "f2")
    with pytest.raises(ValueError):
        voices.parse("en+nope")
    assert len(voices.languages()) > 100


def test_voice_rate_changes_speed() -> None:
    voice = voices.Voice("en-us")
    slow, rate = tts.speak("This sentence is spoken at two speeds.", voice, 0.8)
    fast, _ = tts.speak("This sentence is spoken at two speeds.", voice, 1.5)
    assert len(fast) < 0.75 * len(slow)


def test_sentences_and_chunks() -> None:
    text = "Dr. Smith walked 3.5 miles. Did he? Yes!\n新的一段。第二句！"
    assert [s for s, _ in captions.sentences(text)] == [
        "Dr. Smith walked 3.5 miles.", "Did he?", "Yes!", "新的一段。", "第二句！"]
    long = "This is a long sentence, with a clause in the middle, that must be cut up."
    pieces = captions.chunks(long, 40)
    assert all(len(p.text) <= 40 for p in pieces) and len(pieces) >= 2
    assert " ".join(p.text for p in pieces) == long
    assert pieces[-1].ends_sentence and not pieces[0].ends_sentence


def test_pacing_meets_targets() -> None:
    chunks = captions.chunks("One two three. Four five six. Seven eight.", 80)
    lengths = [1.0, 1.0, 0.8]
    natural = pacing.layout(lengths, chunks, None, 30)
    assert natural.total == pytest.approx(pacing.natural_length(lengths, chunks), abs=1 / 30)
    longer = pacing.layout(lengths, chunks, 10.0, 30)
    assert longer.total == pytest.approx(10.0, abs=1e-9)
    assert pacing.speed_factor(lengths, chunks, 3.0) == pacing.FASTEST  # too short a target
    assert pacing.speed_factor(lengths, chunks, 4.5) == 1.0  # shorter pauses are enough
    assert 1.0 < pacing.speed_factor(lengths, chunks, 3.5) < pacing.FASTEST
    assert pacing.speed_factor(lengths, chunks, 8.0) < 1.0  # a little slower, then pauses
    assert natural.cues[-1].end == pytest.approx(natural.total, abs=1e-3)
    # Stretched far past the speech: the last caption leaves before the long silent ending.
    assert longer.cues[-1].end < longer.total - 1.0
    for timeline in (natural, longer):
        cues = timeline.cues
        assert cues[0].start == 0.0
        assert all(a.end <= b.start for a, b in zip(cues, cues[1:], strict=False))
