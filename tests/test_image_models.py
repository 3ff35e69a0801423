"""The built-in image models: params validation, title cards, restyle styles, bad input.

Outputs are decoded with Pillow and checked for measurable properties; sizes are small
so the file runs in seconds.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFilter
from pydantic import ValidationError

from genmill.domain import Mode
from genmill.engines.base import Canceled, Engine, InputError, InputFile, Inputs, RunContext
from genmill.engines.common import fonts, layout
from genmill.engines.common.colors import rgb_to_oklch
from genmill.engines.common.title_card import (
    AA_CONTRAST,
    compose,
    luminance_map,
    render_background,
    render_title_card,
    worst_contrast,
)
from genmill.engines.image import MODELS
from genmill.engines.image.card_engine import TitleCardEngine
from genmill.engines.image.card_text import read_card_text
from genmill.engines.image.edges import sobel_magnitude
from genmill.engines.image.params import RestyleParams, TitleCardParams
from genmill.engines.image.restyle import RestyleEngine
from genmill.engines.image.sizing import resolve_size
from tests.image_helpers import encode, scene, sticker

# --- helpers ----------------------------------------------------------------------------


def ctx_for(tmp_path, seed=1234, canceled=False, reports=None):
    def report(fraction, message):
        if reports is not None:
            reports.append(fraction)

    return RunContext("image_test", seed, tmp_path, report, lambda: canceled)


def run_card(tmp_path, seed=1234, **params):
    params.setdefault("size", "320x180")
    names = TitleCardEngine().run(TitleCardParams(**params), Inputs(), ctx_for(tmp_path, seed))
    return [tmp_path / name for name in names]


def image_input(image: Image.Image, fmt="PNG", **options) -> Inputs:
    return Inputs({"image": [InputFile(encode(image, fmt, **options), f"image/{fmt.lower()}",
                                       "data: URL")]})


def run_restyle(tmp_path, image: Image.Image | Inputs, seed=5, **params) -> list[Image.Image]:
    inputs = image if isinstance(image, Inputs) else image_input(image)
    names = RestyleEngine().run(RestyleParams(**params), inputs, ctx_for(tmp_path, seed))
    out = []
    for name in names:
        with Image.open(tmp_path / name) as img:
            img.load()
            out.append(img)
    return out


def colours(image: Image.Image) -> int:
    return len(image.getcolors(maxcolors=1 << 24))


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return scene(192, 128)


# --- models and params ------------------------------------------------------------------


def test_models_are_listed_with_modes_and_lazy_engines():
    by_id = {spec.id: spec for spec in MODELS}
    assert by_id["genmill/title-card-t2i"].mode is Mode.TEXT_TO_IMAGE
    assert by_id["genmill/restyle-i2i"].mode is Mode.IMAGE_TO_IMAGE
    for spec in MODELS:
        assert isinstance(spec.factory(), Engine)
        assert spec.params.model_json_schema()["properties"]


@pytest.mark.parametrize(("model", "body", "field"), [
    (TitleCardParams, {"prompt": "Hi", "size": "5000x100"}, "size"),
    (TitleCardParams, {"prompt": "Hi", "size": "huge"}, "size"),
    (TitleCardParams, {"prompt": "Hi", "size": "32x32"}, "size"),
    (TitleCardParams, {"prompt": "Hi", "n": 5}, "n"),
    (TitleCardParams, {"prompt": "Hi", "n": 0}, "n"),
    (TitleCardParams, {"prompt": "Hi", "align": "right"}, "align"),
    (TitleCardParams, {"prompt": "Hi", "aspect_ratio": "5:4"}, "aspect_ratio"),
    (TitleCardParams, {"prompt": "Hi", "output_format": "gif"}, "output_format"),
    (TitleCardParams, {"prompt": "   "}, "prompt"),
    (TitleCardParams, {"prompt": "x" * 201}, "prompt"),
    (TitleCardParams, {"prompt": "Hi", "colour": "red"}, "colour"),
    (RestyleParams, {"style": "oil-paint"}, "style"),
    (RestyleParams, {"style": "cartoon", "strength": 1.5}, "strength"),
    (RestyleParams, {"style": "cartoon", "strength": -0.1}, "strength"),
    (RestyleParams, {"style": "cartoon", "fit": "zoom"}, "fit"),
    (RestyleParams, {"style": "upscale", "scale": 3}, "scale"),
    (RestyleParams, {"style": "duotone", "colors": ["navy", "not-a-colour"]}, "colors"),
    (RestyleParams, {"style": "duotone", "colors": ["navy"]}, "colors"),
    (RestyleParams, {"style": "pixel-art", "pixel_size": 1}, "pixel_size"),
])
def test_bad_params_name_the_field(model, body, field):
    with pytest.raises(ValidationError) as err:
        model(**body)
    assert {e["loc"][0] for e in err.value.errors()} == {field}


def test_restyle_without_style_lists_the_styles():
    with pytest.raises(ValidationError) as err:
        RestyleParams(prompt="make it nicer")
    (error,) = err.value.errors()
    assert error["loc"] == ("style",)
    for style in ("upscale", "cartoon", "pencil-sketch", "duotone", "pixel-art", "vintage"):
        assert style in error["msg"]


@pytest.mark.parametrize(("prompt", "style"), [
    ("make it a pencil sketch", "pencil-sketch"),
    ("Upscale this 4x please", "upscale"),
    ("turn it into 8-bit pixel art", "pixel-art"),
    ("a teal and orange duotone", "duotone"),
    ("old photo look, sepia", "vintage"),
    ("comic book cartoon", "cartoon"),
])
def test_prompt_words_pick_the_style(prompt, style):
    assert RestyleParams(prompt=prompt).style == style


def test_sizes_tiers_and_aspect_ratios():
    assert resolve_size(None, None) == (1024, 1024)
    assert resolve_size("2k", "16:9") == (2048, 1152)
    assert resolve_size("4K", "9:16") == (2304, 4096)
    assert resolve_size(None, "21:9") == (1024, 438)
    assert resolve_size("800x600", "16:9") == (800, 600)  # an explicit size wins
    assert TitleCardParams(prompt="a", size=" 1024X768 ").size == "1024x768"


# --- title cards ------------------------------------------------------------------------


def test_title_card_outputs_decode_with_size_mode_and_names(tmp_path):
    paths = run_card(tmp_path, prompt="Sunset Sessions\nLive from the rooftop", n=2)
    assert [p.name for p in paths] == ["image-1.png", "image-2.png"]
    for path in paths:
        with Image.open(path) as img:
            assert img.format == "PNG" and img.size == (320, 180) and img.mode == "RGB"
    assert paths[0].read_bytes() != paths[1].read_bytes()  # each of n is its own card


@pytest.mark.parametrize(("fmt", "pil"), [("jpeg", "JPEG"), ("webp", "WEBP")])
def test_title_card_formats(tmp_path, fmt, pil):
    (path,) = run_card(tmp_path, prompt="Hello", output_format=fmt, aspect_ratio="9:16",
                       size=None)
    assert path.name == f"image-1.{fmt}"
    with Image.open(path) as img:
        assert img.format == pil and img.size == (576, 1024)


def test_title_card_is_deterministic_by_seed(tmp_path):
    outputs = []
    for run, seed in enumerate((42, 42, 43)):
        (tmp_path / str(run)).mkdir()
        (path,) = run_card(tmp_path / str(run), prompt="Quarterly Review", seed=seed)
        outputs.append(path.read_bytes())
    assert outputs[0] == outputs[1] and outputs[0] != outputs[2]


CASES = [
    ("Sunset Sessions", "Live from the rooftop", "center", "", "auto"),
    ("The Future of Remote Work", "What changes and what stays", "left", "", "orbs"),
    ("Go!", "", "center", "neon", "halftone"),
    ("Quarterly Review", "Q3", "center", "pastel", "bands"),
    ("How I built a media server in a weekend", "", "left", "vivid", "waves"),
    ("Καλημέρα κόσμε", "Привет, мир", "center", "", "rays"),
    ("Launch day", "", "center", "bright yellow", "mesh"),
]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(("title", "subtitle", "align", "hint", "background"), CASES)
def test_text_meets_wcag_aa_against_the_pixels_behind_it(title, subtitle, align, hint,
                                                         background, seed):
    card = compose(title, 240, 160, seed, subtitle, align, hint, background)
    assert card.runs, "no text was set"
    # every pixel behind each line of text, against that line's colour
    assert worst_contrast(luminance_map(card.backdrop), card.runs) >= AA_CONTRAST
    image = np.asarray(card.image).astype(int)
    backdrop = np.asarray(card.backdrop).astype(int)
    for run in card.runs:
        x0, y0, x1, y1 = run.box
        assert 0 <= x0 < x1 <= 240 and 0 <= y0 < y1 <= 160, "text runs off the card"
        region = image[y0:y1, x0:x1]
        assert (region != backdrop[y0:y1, x0:x1]).any(), "the line was not drawn"
        # solid glyph pixels carry the run's colour (small text has few fully covered)
        assert (np.abs(region - np.array(run.colour)).max(axis=-1) <= 24).sum() >= 3


def test_left_alignment_shares_a_left_edge():
    card = compose("A rather long title that wraps onto lines", 320, 180, 9, align="left")
    title_runs = [r for r in card.runs if r.colour == card.palette.text]
    assert len(title_runs) >= 2
    lefts = [r.box[0] for r in title_runs]
    assert max(lefts) - min(lefts) <= 4


def test_long_titles_wrap_balanced_and_fit():
    title = "A title with quite a few words in it so it has to wrap over several lines"
    card = compose(title, 400, 300, 3)
    widths = [r.box[2] - r.box[0] for r in card.runs]
    assert len(widths) >= 3
    assert min(widths[:-1]) >= 0.6 * max(widths)  # balanced, not greedy-ragged
    assert all(0 <= r.box[0] and r.box[2] <= 400 for r in card.runs)


def test_colour_words_steer_the_palette():
    dark = np.asarray(render_background(160, 90, 5, "dark"), float).mean()
    light = np.asarray(render_background(160, 90, 5, "pastel"), float).mean()
    assert dark < 90 < 170 < light
    teal = render_background(160, 90, 5, "teal").resize((1, 1), Image.BOX).getpixel((0, 0))
    hue = rgb_to_oklch(teal)[2]
    assert 150 <= hue <= 230


def test_quoted_prompt_sets_only_the_quote(tmp_path):
    card_quoted = compose("Welcome back", 240, 135, 7, palette_hint="a dark teal card")
    assert card_quoted.palette.tone == "dark"
    paths = run_card(tmp_path, prompt='a dark teal card that says "Welcome back"', seed=7,
                     size="240x135")
    with Image.open(paths[0]) as img:
        assert np.array_equal(np.asarray(img), np.asarray(card_quoted.image))


@pytest.mark.parametrize("title", ["Breaking News", "The Future of Remote Work Starts Here",
                                   "Sunset Sessions: Live from the Rooftop, Episode 12"])
def test_the_accent_bar_is_inside_the_card_without_a_subtitle(title):
    card = compose(title, 1280, 720, 5)
    x0, y0, x1, y1 = card.rule
    assert 0 <= x0 < x1 <= 1280 and 0 <= y0 < y1 <= 720 - 720 * 0.04, card.rule
    bar = np.asarray(card.image)[int(y0) + 1:int(y1), int(x0) + 1:int(x1)]
    assert bar.size and (np.abs(bar - np.array(card.palette.rule)).max(axis=-1) <= 2).mean() > 0.9
    lowest_text = max(run.box[3] for run in card.runs)
    assert y0 > lowest_text - 2  # under the title, not over it


@pytest.mark.parametrize(("prompt", "title", "subtitle"), [
    ('"Knowledge is power."\n— Chinese proverb', "“Knowledge is power.”", "— Chinese proverb"),
    ('"Stay hungry, stay foolish." -- Steve Jobs', "“Stay hungry, stay foolish.”",
     "— Steve Jobs"),
    ("“知识就是力量。”\n——中国谚语", "“知识就是力量。”", "——中国谚语"),
    ('a dark teal card that says "Welcome back"', "Welcome back", ""),
])
def test_quotations_keep_their_marks_and_attribution(tmp_path, prompt, title, subtitle):
    text = read_card_text(prompt)
    assert (text.title, text.subtitle) == (title, subtitle)
    paths = run_card(tmp_path, prompt=prompt, seed=3, size="640x360")
    card = compose(title, 640, 360, 3, subtitle, "center", text.hint)
    with Image.open(paths[0]) as img:
        assert np.array_equal(np.asarray(img), np.asarray(card.image))
    assert len(card.runs) >= (2 if subtitle else 1)
    if subtitle:  # the attribution line is drawn: ink under the title
        x0, y0, x1, y1 = card.runs[-1].box
        diff = np.abs(np.asarray(card.image, int) - np.asarray(card.backdrop, int))
        assert diff[y0:y1, x0:x1].max() > 60


@pytest.mark.parametrize("prompt", [
    "a cat astronaut floating above the moon, oil painting",
    "photo of a red fox in the snow, highly detailed, 4k",
])
def test_a_picture_description_is_refused_saying_what_the_model_does(prompt):
    with pytest.raises(ValidationError) as err:
        TitleCardParams(prompt=prompt)
    message = str(err.value)
    assert "sets the prompt's text on a designed card" in message and "prompt" in message
    TitleCardParams(prompt=f'a card that says "{prompt}"')  # quoted: set as text


def test_chinese_japanese_and_korean_titles_are_drawn_with_the_cjk_font():
    stack = fonts.title_stack()
    runs = stack.runs("AI 改变世界")
    assert [piece for piece, _ in runs] == ["AI ", "改变世界"]
    assert runs[1][1].path == fonts.cjk_path() and runs[0][1].path == fonts.display_path()
    for title in ("人工智能如何改变世界", "東京タワーへようこそ", "안녕하세요 세계"):
        TitleCardParams(prompt=title)  # accepted at submit
        card = compose(title, 640, 360, 9)
        diff = np.abs(np.asarray(card.image, int) - np.asarray(card.backdrop, int)).max(-1)
        for run in card.runs:  # each line: ink across its width, no blank glyph gaps
            x0, y0, x1, y1 = run.box
            ink = diff[y0:y1, x0:x1] > 80
            assert ink.mean() > 0.05
            gap = longest = 0
            for column in ink.any(axis=0):
                gap = 0 if column else gap + 1
                longest = max(longest, gap)
            assert longest < 0.5 * (y1 - y0), (title, longest)  # a blank glyph is ~1 em
    card = compose("Title", 640, 360, 9, "副标题 · 한국어 · 日本語")
    x0, y0, x1, y1 = card.runs[-1].box
    diff = np.abs(np.asarray(card.image, int) - np.asarray(card.backdrop, int)).max(-1)
    assert (diff[y0:y1, x0:x1] > 80).mean() > 0.05  # the CJK subtitle is drawn


def test_chinese_titles_break_between_words_never_inside_one():
    text = "人工智能正在改变我们的大脑然后改变世界"
    words = {"人工智能", "正在", "改变", "我们", "的", "大脑", "然后", "世界"}
    for width in (160, 220, 300):
        block = layout.fit(text, fonts.title_stack(), width, 400, 60, 10, 6, 1.08)
        assert len(block.lines) > 1 and "".join(block.lines) == text
        for line in block.lines:  # each line is whole words
            rest = line
            while rest:
                word = next(w for w in sorted(words, key=len, reverse=True)
                            if rest.startswith(w))
                rest = rest[len(word):]
    closing = layout.fit("你好，世界。我们来了！", fonts.title_stack(), 120, 400, 60, 10, 6, 1.08)
    assert all(line[0] not in "，。！" for line in closing.lines)


def test_line_break_pieces_keep_words_and_bind_punctuation():
    from genmill.engines.common import linebreak

    def texts(text):
        return [p.text for p in linebreak.pieces(text)]

    assert texts("東京タワーへ行きました。") == ["東京", "タワー", "へ", "行", "き", "ま",
                                              "し", "た。"]
    assert texts("人工智能正在改变世界，“你好”") == ["人工智能", "正在", "改变", "世界，",
                                                "“你好”"]
    assert texts("Hello big world") == ["Hello", "big", "world"]
    assert [p.spaced for p in linebreak.pieces("AI 改变世界")] == [False, True, False]


def test_greek_and_cyrillic_render(tmp_path):
    paths = run_card(tmp_path, prompt="Ελληνικά και кириллица\nÀ la française — Việt Nam")
    with Image.open(paths[0]) as img:
        assert img.size == (320, 180)


@pytest.mark.parametrize(("text", "named"),
                         [("Party 🎉", "U+1F389"), ("مرحبا بالعالم", "U+0645"),
                          ("สวัสดี", "U+0E2A")])
def test_characters_no_font_can_draw_are_a_400_at_submit_naming_them(text, named):
    with pytest.raises(ValidationError) as err:
        TitleCardParams(prompt=text)
    assert named in str(err.value) and "prompt" in str(err.value)
    with pytest.raises(ValidationError) as err:
        TitleCardParams(prompt="Fine", subtitle=text)
    assert named in str(err.value) and "subtitle" in str(err.value)


def test_shared_functions_for_other_engines():
    card = render_title_card("Chapter One", 320, 180, 11, subtitle="The beginning",
                             align="left", palette_hint="forest")
    background = render_background(320, 180, 11, "forest")
    assert card.mode == background.mode == "RGB"
    assert card.size == background.size == (320, 180)
    assert render_background(64, 64, 3).tobytes() == render_background(64, 64, 3).tobytes()
    with pytest.raises(InputError):
        render_title_card("🎉", 100, 100, 1)


def test_progress_and_cancel(tmp_path):
    reports: list[float] = []
    TitleCardEngine().run(TitleCardParams(prompt="Hi", size="128x128", n=2), Inputs(),
                          ctx_for(tmp_path, reports=reports))
    assert reports == sorted(reports) and reports[-1] == 1.0
    with pytest.raises(Canceled):
        TitleCardEngine().run(TitleCardParams(prompt="Hi", size="128x128"), Inputs(),
                              ctx_for(tmp_path, canceled=True))


# --- restyle: what each style does --------------------------------------------------------


def _laplacian_energy(image: Image.Image) -> float:
    g = np.asarray(image.convert("L"), float)
    lap = 4 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:]
    return float((lap ** 2).mean())


def test_upscale_doubles_sharp_and_without_halos(tmp_path, photo):
    (out,) = run_restyle(tmp_path, photo, style="upscale")
    assert out.size == (384, 256) and out.mode == "RGB"
    bicubic = photo.resize((384, 256), Image.BICUBIC)
    assert _laplacian_energy(out) > 1.2 * _laplacian_energy(bicubic)
    # a hard step between two greys: Lanczos rings past them, ours stays within them
    step = np.full((32, 32, 3), 60, np.uint8)
    step[:, 16:] = 190
    (up,) = run_restyle(tmp_path, Image.fromarray(step), style="upscale", scale=4)
    values = np.asarray(up)
    assert up.size == (128, 128) and values.min() >= 60 and values.max() <= 190
    lanczos = np.asarray(Image.fromarray(step).resize((128, 128), Image.LANCZOS))
    assert lanczos.min() < 60 or lanczos.max() > 190  # the halo this avoids exists


def test_upscale_factor_from_prompt_and_output_limit(tmp_path, photo):
    (out,) = run_restyle(tmp_path, photo, prompt="upscale 4x")
    assert out.size == (768, 512)
    big = Image.new("RGB", (4000, 3000), (9, 9, 9))
    with pytest.raises(InputError, match="limit"):
        run_restyle(tmp_path, image_input(big, "JPEG"), style="upscale", scale=4)


def test_cartoon_flattens_colours_and_inks_edges(tmp_path, photo):
    (out,) = run_restyle(tmp_path, photo, style="cartoon")
    assert out.size == photo.size
    assert colours(photo) > 2000 and colours(out) <= 17
    dark = (np.asarray(out.convert("L")) < 40).mean()
    assert 0.005 < dark < 0.5  # outlines exist but do not swamp the picture


def test_pixel_art_blocks_and_palette(tmp_path, photo):
    (out,) = run_restyle(tmp_path, photo, style="pixel-art", pixel_size=8)
    assert out.size == photo.size and colours(out) <= 16
    blocks = np.asarray(out).reshape(16, 8, 24, 8, 3)
    assert (blocks == blocks[:, :1, :, :1]).all()  # every 8x8 block is one colour


def test_duotone_uses_only_the_two_colours(tmp_path, photo):
    (out,) = run_restyle(tmp_path, photo, style="duotone", colors=["#102040", "#ffb070"])
    a, b = np.array([0x10, 0x20, 0x40], float), np.array([0xFF, 0xB0, 0x70], float)
    pixels = np.asarray(out, float).reshape(-1, 3)
    t = np.clip((pixels - a) @ (b - a) / ((b - a) @ (b - a)), 0, 1)
    off_line = np.abs(pixels - (a + t[:, None] * (b - a))).max(axis=1)
    assert off_line.max() <= 1.0  # every pixel lies on the shadow-highlight line
    assert t.min() < 0.05 and t.max() > 0.95  # and the full range is used
    (worded,) = run_restyle(tmp_path, photo, prompt="a navy and coral duotone")
    corners = {worded.getpixel((0, 0)), worded.getpixel((191, 127))}
    assert all(px[2] >= px[0] or px[0] >= 200 for px in corners)


def test_pencil_sketch_draws_edges_on_white_paper(tmp_path, photo):
    (out,) = run_restyle(tmp_path, photo, style="pencil-sketch")
    rgb = np.asarray(out, float)
    assert np.abs(rgb - rgb.mean(axis=-1, keepdims=True)).max() <= 12  # greys only
    lum = rgb.mean(axis=-1)
    ink = lum < 150  # strokes; shading is a lighter wash
    edges = sobel_magnitude(np.asarray(photo.convert("L"), float))
    strong = Image.fromarray((edges > np.percentile(edges, 95)).astype(np.uint8) * 255)
    strong = np.asarray(strong.filter(ImageFilter.MaxFilter(3))) > 0  # a pixel either side
    # edge density: strokes sit on the input's edges; the smooth sky stays paper
    assert ink[strong].mean() > 2.5 * ink.mean()
    sky = lum[: lum.shape[0] // 4]
    assert np.median(sky) > 150 and (sky < 150).mean() < 0.01  # a wash, not strokes


def test_pencil_sketch_has_no_speckle_and_keeps_the_tones(tmp_path):
    """Flat areas with sensor noise: no salt-and-pepper in the shadows, and a lit area
    keeps a lighter tone than a dark one instead of both going to blank paper."""
    rng = np.random.default_rng(4)
    values = np.full((240, 360), 200.0)
    values[:, :180] = 60.0  # a shadow (left) and a lit wall (right)
    values += rng.normal(0, 10, values.shape)
    photo = Image.fromarray(np.clip(values, 0, 255).astype(np.uint8), "L").convert("RGB")
    (out,) = run_restyle(tmp_path, photo, style="pencil-sketch")
    lum = np.asarray(out.convert("L"), float)
    median = np.asarray(out.convert("L").filter(ImageFilter.MedianFilter(3)), float)
    inner = (slice(20, -20), slice(20, 160)), (slice(20, -20), slice(200, -20))
    for area in inner:
        speckle = (np.abs(lum - median)[area] > 25).mean()
        assert speckle < 0.002, speckle
    shadow, lit = lum[inner[0]].mean(), lum[inner[1]].mean()
    assert lit - shadow > 25, (shadow, lit)  # tones kept
    assert shadow > 120  # a graphite wash, not a black fill


def test_vintage_fades_warms_and_vignettes(tmp_path, photo):
    (out,) = run_restyle(tmp_path, photo, style="vintage")
    src, res = np.asarray(photo, float), np.asarray(out, float)

    def saturation(a):
        return (a.max(axis=-1) - a.min(axis=-1)).mean()

    assert saturation(res) < 0.8 * saturation(src)
    assert np.percentile(res.mean(axis=-1), 1) > np.percentile(src.mean(axis=-1), 1) + 5
    assert (res[..., 0] - res[..., 2]).mean() > (src[..., 0] - src[..., 2]).mean()
    (flat,) = run_restyle(tmp_path, Image.new("RGB", (96, 64), (128, 128, 128)),
                          style="vintage")
    grey = np.asarray(flat, float).mean(axis=-1)
    assert grey[:8, :8].mean() < grey[28:36, 44:52].mean() - 8  # vignette


def test_strength_blends_with_the_original(tmp_path, photo):
    (none,) = run_restyle(tmp_path, photo, style="duotone", strength=0.0)
    (half,) = run_restyle(tmp_path, photo, style="duotone", strength=0.5)
    (full,) = run_restyle(tmp_path, photo, style="duotone", strength=1.0)
    src = np.asarray(photo, float)
    assert np.abs(np.asarray(none, float) - src).max() <= 1
    expected = (src + np.asarray(full, float)) / 2
    assert np.abs(np.asarray(half, float) - expected).max() <= 1.5


@pytest.mark.parametrize("fit", ["crop", "pad", "stretch"])
def test_size_and_fit(tmp_path, photo, fit):
    (out,) = run_restyle(tmp_path, photo, style="vintage", size="128x128", fit=fit)
    assert out.size == (128, 128)
    (ratio,) = run_restyle(tmp_path, photo, style="cartoon", aspect_ratio="1:1", fit=fit)
    assert ratio.size == ((192, 192) if fit == "pad" else (128, 128))


def test_transparency_is_kept(tmp_path):
    art = sticker(96, 64)
    for style in ("cartoon", "upscale", "pixel-art", "duotone"):
        (out,) = run_restyle(tmp_path, art, style=style, output_format="png")
        assert out.mode == "RGBA", style
        alpha = np.asarray(out.getchannel("A"))
        assert alpha[0, 0] == 0 and alpha[alpha.shape[0] // 2, alpha.shape[1] // 2] == 255
    (padded,) = run_restyle(tmp_path, art, style="vintage", size="96x96", fit="pad")
    assert padded.mode == "RGBA" and padded.getpixel((48, 2))[3] == 0


def test_exif_orientation_is_applied(tmp_path):
    wide = scene(60, 40)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view"
    (out,) = run_restyle(tmp_path, image_input(wide, "JPEG", exif=exif), style="vintage")
    assert out.size == (40, 60)


def test_restyle_outputs_n_and_formats(tmp_path, photo):
    outs = run_restyle(tmp_path, photo, style="pixel-art", n=3, output_format="webp")
    assert [img.format for img in outs] == ["WEBP"] * 3
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["image-1.webp", "image-2.webp", "image-3.webp"]
    a = run_restyle(tmp_path, photo, style="vintage", seed=3)[0].tobytes()
    assert a == run_restyle(tmp_path, photo, style="vintage", seed=3)[0].tobytes()


# --- restyle: bad input -----------------------------------------------------------------


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims WxH but carries almost no data: a decompression bomb's
    shape, refused from the header alone."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    body = struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    idat = zlib.compress(b"\x00" * 64)
    body += struct.pack(">I", len(idat)) + b"IDAT" + idat + struct.pack(
        ">I", zlib.crc32(b"IDAT" + idat))
    return b"\x89PNG\r\n\x1a\n" + body


@pytest.mark.parametrize(("data", "message"), [
    (b"<html>not an image</html>", "not a decodable image"),
    (encode(scene(64, 64))[:300], "could not be decoded"),
    (_png_header_only(7_000, 7_000), "49.0 MP"),
    (_png_header_only(20_000, 20_000), "decompression bomb|MP"),
])
def test_bad_images_fail_with_a_reason(tmp_path, data, message):
    inputs = Inputs({"image": [InputFile(data, "image/png", "https://example.test/a.png")]})
    with pytest.raises(InputError, match=message):
        RestyleEngine().run(RestyleParams(style="cartoon"), inputs, ctx_for(tmp_path))
    assert not list(tmp_path.iterdir())


def test_missing_image_fails_with_a_reason(tmp_path):
    with pytest.raises(InputError, match="image"):
        RestyleEngine().run(RestyleParams(style="cartoon"), Inputs(), ctx_for(tmp_path))


def test_restyle_cancel(tmp_path, photo):
    with pytest.raises(Canceled):
        RestyleEngine().run(RestyleParams(style="cartoon"), image_input(photo),
                            ctx_for(tmp_path, canceled=True))


def test_jpeg_output_of_transparent_input_is_flattened(tmp_path):
    (out,) = run_restyle(tmp_path, sticker(64, 64), style="duotone", output_format="jpeg")
    assert out.mode == "RGB" and min(out.getpixel((1, 1))) > 240


def test_a_size_too_large_or_too_small_says_which():
    from genmill.engines.image.sizing import MAX_SIDE, MIN_SIDE, check_size

    with pytest.raises(ValueError, match=f"too large: each side must be at most {MAX_SIDE}"):
        check_size("100000x100000")
    with pytest.raises(ValueError, match=f"too small: each side must be at least {MIN_SIDE}"):
        check_size("8x8")
    with pytest.raises(ValueError, match="neither"):
        check_size("big")
