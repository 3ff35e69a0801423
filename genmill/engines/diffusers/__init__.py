"""Real diffusion models through Hugging Face diffusers: all six modes, resident pipelines.

Only what the models file needs loads at import (pydantic models, no torch): torch,
diffusers and transformers load when a worker first runs one of these models. They come
with the optional extra: `pip install 'genmill[diffusers]'`.
"""
