"""genmill/kenburns-i2v: a still image brought to life by a smooth camera move."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genmill.engines.base import InputError, Inputs, RunContext
from genmill.engines.decode import open_image
from genmill.engines.video import memory, motion
from genmill.engines.video.encode import AUDIO_RATE, Mp4Writer
from genmill.engines.video.interest import centre_of_interest
from genmill.engines.video.params import KenBurnsParams
from genmill.engines.video.planes import Planes
from genmill.engines.video.render import stream_frames
from genmill.engines.video.sizes import frame_size
from genmill.engines.video.soundtrack import music_bed
from genmill.engines.video.source import prepare

VIDEO = "video-1.mp4"
POSTER = "poster.jpg"
BED_LEVEL = 0.3  # the music bed peaks near -20 dBFS: there, not in the way


class KenBurnsEngine:
    def run(self, params: KenBurnsParams, inputs: Inputs, ctx: RunContext) -> list[str]:
        item = inputs.image
        if item is None:
            raise InputError("an input image is required (field `image`)")
        image = open_image(item)
        ctx.check_canceled()
        size = frame_size(params.resolution, params.aspect_ratio)
        move = motion.choose(params.motion, params.prompt, ctx.seed,
                             image.width / image.height, size[0] / size[1])
        zoom_max = motion.zoom_amount(move, params.duration)
        canvas = prepare(image, size, motion.canvas_zoom(move, zoom_max), params.fit)
        del image  # only the pre-scaled canvas is needed from here on
        memory.release()
        path = motion.plan(move, canvas.size, size, zoom_max, params.duration, ctx.seed,
                           centre_of_interest(canvas))
        ctx.progress(0.05, f"camera: {move}")
        count = params.duration * params.fps
        track = None
        if params.audio_enable:  # a Siray client asked for sound: a quiet music bed
            track = music_bed(count / params.fps, AUDIO_RATE, ctx.seed, BED_LEVEL)
            fade = min(len(track), AUDIO_RATE // 2)  # ends softly with the picture
            track[len(track) - fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
        render_clip(canvas, path, size, count, params.fps, ctx.output_dir, ctx, track)
        return [VIDEO, POSTER]


def render_clip(canvas: Planes, path: motion.CameraPath, size: tuple[int, int], count: int,
                fps: int, output_dir: Path, ctx: RunContext,
                track: np.ndarray | None = None) -> None:
    """Write video-1.mp4 (with `track` as its sound, if any) and poster.jpg; on any
    failure or cancel, neither is left behind."""
    video, poster = output_dir / VIDEO, output_dir / POSTER
    writer = Mp4Writer(video, size, fps, audio=track, audio_rate=AUDIO_RATE)

    def frame(i: int) -> Planes:
        return canvas.resample(path.box(i / (count - 1) if count > 1 else 0.0), size)

    def write(i: int, planes: Planes) -> None:
        if i == 0:
            planes.to_rgb().save(poster, quality=90)
        writer.write(planes)

    try:
        stream_frames(count, frame, write, ctx, span=(0.05, 0.99), chunk=max(fps // 4, 1))
        writer.close()
    except BaseException:
        writer.abort()
        poster.unlink(missing_ok=True)
        raise
    ctx.progress(1.0, "done")
