"""Code the built-in engines share: fonts with per-script fallback, line breaking (CJK
included), text layout, colours, palettes and the title-card renderer (used by the title
card model and by the narrated video's title and backdrops).

Engines import from here, never from another kind's package.
"""
