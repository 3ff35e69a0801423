"""Regenerate docs/video-contact-sheet.png: frames from each built-in video model's outputs.

    .venv/bin/python bench/contact_sheet_video.py [--out docs/video-contact-sheet.png]

Renders a Ken Burns clip from a synthetic landscape photo (bench/video.py makes it), and
narrated shorts (English with generated backdrops and a title; Chinese with a title and
captions over the photo, and over generated backdrops),
then lays out frames of each output in a grid with labels.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image, ImageDraw  # noqa: E402

from genmill.engines.base import InputFile, Inputs, RunContext  # noqa: E402
from genmill.engines.common import fonts  # noqa: E402

THUMB_H = 300


def frames(video: Path, count: int) -> list[Image.Image]:
    """`count` frames spread over the video, as RGB images."""
    import av

    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        total = stream.frames
        wanted = {round(i * (total - 1) / max(count - 1, 1)) for i in range(count)}
        found = [f.to_image() for i, f in enumerate(container.decode(stream)) if i in wanted]
    return found


def row(label: str, images: list[Image.Image]) -> Image.Image:
    thumbs = [im.resize((round(im.width * THUMB_H / im.height), THUMB_H), Image.LANCZOS)
              for im in images]
    width = sum(t.width for t in thumbs) + 8 * (len(thumbs) + 1)
    out = Image.new("RGB", (max(width, 600), THUMB_H + 48), (24, 24, 28))
    draw = ImageDraw.Draw(out)
    fonts.draw(draw, (8, 8), label, fonts.text_stack(600), 22, "la", fill=(235, 235, 235))
    x = 8
    for thumb in thumbs:
        out.paste(thumb, (x, 40))
        x += thumb.width + 8
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="docs/video-contact-sheet.png")
    args = parser.parse_args()

    from bench.video import landscape
    from genmill.engines.video.kenburns import KenBurnsEngine
    from genmill.engines.video.narrated import NarratedEngine
    from genmill.engines.video.params import KenBurnsParams, NarratedParams

    photo = io.BytesIO()
    landscape(2400, 1600, seed=3).save(photo, "JPEG", quality=92)
    image = InputFile(photo.getvalue(), "image/jpeg", "bench")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "kb"
        out.mkdir()
        KenBurnsEngine().run(
            KenBurnsParams(prompt="slow zoom into the mountains", duration=4, fps=24,
                           resolution="720p"), Inputs({"image": [image]}), RunContext("k", 5, out))
        rows.append(row("kenburns-i2v  zoom-in, 16:9 720p", frames(out / "video-1.mp4", 4)))
        out = Path(tmp) / "en"
        out.mkdir()
        NarratedEngine().run(NarratedParams(
            title="Secrets of the deep ocean", resolution="720p", bgm_volume=0.3,
            script="The ocean covers more than seventy percent of our planet. Yet we have "
                   "explored less than a quarter of its floor. Deep below the surface, "
                   "sunlight disappears, and strange creatures make their own light."),
            Inputs(), RunContext("n", 11, out))
        rows.append(row("narrated-t2v  final-1.mp4, English, backdrops, 9:16 720p",
                        frames(out / "final-1.mp4", 6)))
        out = Path(tmp) / "zh"
        out.mkdir()
        NarratedEngine().run(NarratedParams(
            aspect_ratio="16:9", resolution="720p", subtitle_position="bottom",
            text_fore_color="#FFE066", title="山间的清晨",
            script="山顶的清晨非常安静。阳光慢慢照亮了整个山谷，云海在脚下流动。"
                   "我们的大脑然后会记住这些美丽的瞬间。"),
            Inputs({"images": [image]}), RunContext("z", 12, out))
        rows.append(row("narrated-t2v  final-1.mp4, Chinese title and captions, user image, "
                        "16:9 720p", frames(out / "final-1.mp4", 5)))
        out = Path(tmp) / "zh-short"
        out.mkdir()
        NarratedEngine().run(NarratedParams(
            resolution="720p", title="人工智能如何改变世界", audio_enable=False,
            script="人工智能正在改变我们的世界。每一天都有新的发现，从医院到工厂。"),
            Inputs(), RunContext("s", 21, out))
        rows.append(row("narrated-t2v  final-1.mp4, Chinese, backdrops, 9:16 720p",
                        frames(out / "final-1.mp4", 5)))
    width = max(r.width for r in rows)
    sheet = Image.new("RGB", (width, sum(r.height for r in rows)), (24, 24, 28))
    y = 0
    for r in rows:
        sheet.paste(r, (0, y))
        y += r.height
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out, optimize=True)
    print(f"wrote {args.out} ({sheet.width}x{sheet.height})")


if __name__ == "__main__":
    main()
