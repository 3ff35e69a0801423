"""The `genmill/title-card-t2i` engine: params in, title cards out."""

from __future__ import annotations

from genmill.engines.base import Inputs, RunContext
from genmill.engines.common.title_card import check_drawable, compose
from genmill.engines.image import output, sizing
from genmill.engines.image.card_text import read_card_text
from genmill.engines.image.params import TitleCardParams


class TitleCardEngine:
    def run(self, params: TitleCardParams, inputs: Inputs, ctx: RunContext) -> list[str]:
        text = read_card_text(params.prompt, params.subtitle)
        check_drawable(text.title, text.subtitle)  # refused at submit; kept for direct calls
        width, height = sizing.resolve_size(params.size, params.aspect_ratio)
        names = []
        for i in range(params.n):
            ctx.check_canceled()
            ctx.progress(i / params.n, f"drawing card {i + 1} of {params.n}")
            # Card i uses seed+i: n=1 and the first of n=4 are the same image.
            card = compose(text.title, width, height, (ctx.seed + i) % 2**32, text.subtitle,
                           params.align, text.hint, params.background, params.negative_prompt)
            names.append(output.save(card.image, ctx.output_dir, i, params.output_format))
        ctx.progress(1.0, "done")
        return names
