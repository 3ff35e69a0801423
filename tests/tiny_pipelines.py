"""Tiny diffusers pipelines with random weights, built from configs as diffusers' own tests
build them: no downloads, tokenizers made in memory. Saved with `save_pretrained` into a
folder and into a local Hugging Face cache layout, so genmill loads them as it would load
real checkpoints.
"""

from __future__ import annotations

import inspect
import shutil
from pathlib import Path

import torch
from diffusers import (
    AutoencoderKL,
    DDIMScheduler,
    StableDiffusionPipeline,
    UNet2DConditionModel,
)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

TOKENS = 77


def tokenizer() -> CLIPTokenizer:
    """A character-level CLIP tokenizer: every letter and digit, no merges."""
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for char in "abcdefghijklmnopqrstuvwxyz0123456789":
        vocab[char] = len(vocab)
        vocab[char + "</w>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=TOKENS)


def text_encoder(vocab_size: int) -> CLIPTextModel:
    return CLIPTextModel(CLIPTextConfig(
        bos_token_id=0, eos_token_id=1, hidden_size=8, intermediate_size=16,
        num_attention_heads=2, num_hidden_layers=1, vocab_size=vocab_size, projection_dim=8,
        max_position_embeddings=TOKENS,
    ))


def stable_diffusion() -> StableDiffusionPipeline:
    """Stable-Diffusion-shaped: UNet (2 blocks, cross-attention), VAE (8x down), CLIP."""
    torch.manual_seed(0)
    tok = tokenizer()
    unet = UNet2DConditionModel(
        block_out_channels=(4, 8), layers_per_block=1, sample_size=8, in_channels=4,
        out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=8,
        norm_num_groups=2,
    )
    vae = AutoencoderKL(
        block_out_channels=[4, 8, 8, 8], in_channels=3, out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
        latent_channels=4, norm_num_groups=2,
    )
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012,
                              beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1)
    return StableDiffusionPipeline(
        unet=unet, vae=vae, text_encoder=text_encoder(len(tok)), tokenizer=tok,
        scheduler=scheduler, safety_checker=None, feature_extractor=None,
        requires_safety_checker=False,
    )


def save(pipe, folder: Path, hub_cache: Path | None = None, repo_id: str = "") -> Path:
    """save_pretrained into `folder`; also lay it out as the HF cache holds `repo_id`."""
    pipe.save_pretrained(folder)
    if hub_cache is not None and repo_id:
        repo = hub_cache / ("models--" + repo_id.replace("/", "--"))
        commit = "0" * 40
        shutil.copytree(folder, repo / "snapshots" / commit)
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / "main").write_text(commit)
    return folder


OOM_PROMPT = "simulate out of memory"


class OomOnPromptPipeline(StableDiffusionPipeline):
    """Stable Diffusion whose step callback raises CUDA's out-of-memory error at the second
    step when the prompt asks for it: the error a real GPU raises mid-run, injected from
    the callback so genmill's handling runs on a CPU."""

    def __call__(self, *args, callback_on_step_end=None, **kwargs):
        if OOM_PROMPT in (kwargs.get("prompt") or ""):
            chained = callback_on_step_end

            def callback(pipe, step, timestep, tensors):
                if chained is not None:
                    tensors = chained(pipe, step, timestep, tensors)
                if step == 1:
                    raise torch.cuda.OutOfMemoryError(
                        "CUDA out of memory. Tried to allocate 20.00 GiB (GPU 0; simulated)"
                    )
                return tensors

            callback_on_step_end = callback
        return super().__call__(*args, callback_on_step_end=callback_on_step_end, **kwargs)

    __call__.__signature__ = inspect.signature(StableDiffusionPipeline.__call__)
