"""Tiny diffusers pipelines with random weights, built from configs as diffusers' own tests
build them: no downloads, tokenizers made in memory. Saved with `save_pretrained` into a
folder and into a local Hugging Face cache layout, so genmill loads them as it would load
real checkpoints.
"""

from __future__ import annotations

import inspect
import shutil
import time
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
SLOW_PROMPT = "slow steps"


class OomOnPromptPipeline(StableDiffusionPipeline):
    """Stable Diffusion whose step callback raises CUDA's out-of-memory error at the second
    step when the prompt asks for it: the error a real GPU raises mid-run, injected from
    the callback so genmill's handling runs on a CPU. With SLOW_PROMPT each step takes at
    least 50 ms, as a real model's do, so that a poll can see progress between steps."""

    def __call__(self, *args, callback_on_step_end=None, **kwargs):
        if SLOW_PROMPT in (kwargs.get("prompt") or ""):
            chained_slow = callback_on_step_end

            def slow_callback(pipe, step, timestep, tensors):
                time.sleep(0.05)
                return chained_slow(pipe, step, timestep, tensors) if chained_slow else tensors

            callback_on_step_end = slow_callback
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


def text_to_video():
    """A TextToVideoSD-shaped pipeline (3D UNet over frames, SD VAE, CLIP text encoder)."""
    from diffusers import TextToVideoSDPipeline, UNet3DConditionModel

    torch.manual_seed(0)
    sd = stable_diffusion()
    unet = UNet3DConditionModel(
        block_out_channels=(4, 8), layers_per_block=1, sample_size=8, in_channels=4,
        out_channels=4, down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
        up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"), cross_attention_dim=8,
        attention_head_dim=4, norm_num_groups=2,
    )
    return TextToVideoSDPipeline(vae=sd.vae, text_encoder=sd.text_encoder,
                                 tokenizer=sd.tokenizer, unet=unet, scheduler=sd.scheduler)


def stable_video_diffusion():
    """StableVideoDiffusion-shaped: spatio-temporal UNet, temporal VAE decoder, CLIP vision."""
    from diffusers import (
        AutoencoderKLTemporalDecoder,
        EulerDiscreteScheduler,
        StableVideoDiffusionPipeline,
        UNetSpatioTemporalConditionModel,
    )
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        CLIPVisionModelWithProjection,
    )

    torch.manual_seed(0)
    unet = UNetSpatioTemporalConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=8, in_channels=8,
        out_channels=4, down_block_types=("CrossAttnDownBlockSpatioTemporal",
                                          "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
        cross_attention_dim=8, num_attention_heads=2, addition_time_embed_dim=4,
        projection_class_embeddings_input_dim=12,
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
        interpolation_type="linear", num_train_timesteps=1000, prediction_type="v_prediction",
        sigma_max=700.0, sigma_min=0.002, steps_offset=1, timestep_spacing="leading",
        timestep_type="continuous", use_karras_sigmas=True,
    )
    vae = AutoencoderKLTemporalDecoder(
        block_out_channels=[32, 32, 32, 32], in_channels=3, out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 4, latent_channels=4, layers_per_block=1,
    )
    image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=8, projection_dim=8, num_hidden_layers=1, num_attention_heads=2,
        image_size=224, intermediate_size=16, patch_size=32,  # SVD resizes to 224 itself
    ))
    extractor = CLIPImageProcessor(crop_size=224, size=224)
    return StableVideoDiffusionPipeline(vae=vae, image_encoder=image_encoder, unet=unet,
                                        scheduler=scheduler, feature_extractor=extractor)


# Shap-E's marching cubes: corner c = x + 2y + 4z (bit c of the case set when inside);
# its 12 edges in the renderer's order: 4 along x, 4 along y, 4 along z.
_CORNERS = [(x, y, z) for z in (0, 1) for y in (0, 1) for x in (0, 1)]
_EDGES = (
    [((0, y, z), (1, y, z)) for z in (0, 1) for y in (0, 1)]
    + [((x, 0, z), (x, 1, z)) for z in (0, 1) for x in (0, 1)]
    + [((x, y, 0), (x, y, 1)) for y in (0, 1) for x in (0, 1)]
)


def marching_cubes_tables() -> tuple[torch.Tensor, torch.Tensor]:
    """The (cases, masks) buffers a trained Shap-E checkpoint carries, rebuilt: for each of
    the 256 corner states, up to 5 triangles over the crossed edges, wound outward.

    On every cube face the crossed edges are joined in pairs (on a face with four, the
    pairs cut off the inside corners), the segments close into loops, and each loop is
    fanned into triangles."""
    import numpy as np

    index = {c: i for i, c in enumerate(_CORNERS)}
    cases = torch.zeros(256, 5, 3, dtype=torch.long)
    masks = torch.zeros(256, 5, dtype=torch.bool)
    faces = [(axis, side) for axis in range(3) for side in (0, 1)]
    for case in range(256):
        inside = {c for c in _CORNERS if case >> index[c] & 1}
        crossed = [e for e, (a, b) in enumerate(_EDGES) if (a in inside) != (b in inside)]
        links: dict[int, list[int]] = {e: [] for e in crossed}
        for axis, side in faces:
            on_face = [e for e in crossed if all(p[axis] == side for p in _EDGES[e])]
            if len(on_face) == 2:
                pairs = [tuple(on_face)]
            elif len(on_face) == 4:  # ambiguous face: pair the edges around each inside corner
                corners = [c for c in inside if c[axis] == side]
                pairs = [tuple(e for e in on_face if c in _EDGES[e]) for c in corners]
            else:
                pairs = []
            for a, b in pairs:
                links[a].append(b)
                links[b].append(a)
        seen: set[int] = set()
        triangles = []
        for start in crossed:
            if start in seen:
                continue
            loop, previous, current = [start], None, start
            seen.add(start)
            while True:
                following = [e for e in links[current] if e != previous and e not in loop[-1:]]
                nxt = next((e for e in following if e not in seen), None)
                if nxt is None:
                    break
                loop.append(nxt)
                seen.add(nxt)
                previous, current = current, nxt
            middle = [np.mean(_EDGES[e], axis=0) for e in loop]
            outward = sum(np.subtract(*(_EDGES[e][::-1] if _EDGES[e][0] in inside
                                        else _EDGES[e])) for e in loop)
            for k in range(1, len(loop) - 1):
                tri = [loop[0], loop[k], loop[k + 1]]
                normal = np.cross(middle[k] - middle[0], middle[k + 1] - middle[0])
                if np.dot(normal, outward) < 0:
                    tri = [tri[0], tri[2], tri[1]]
                triangles.append(tri)
        for slot, tri in enumerate(triangles[:5]):
            cases[case, slot] = torch.tensor(tri)
            masks[case, slot] = True
    return cases, masks


def shap_e():
    """A Shap-E-shaped text-to-3D pipeline (prior, CLIP text encoder, NeRF/STF renderer)."""
    from diffusers import HeunDiscreteScheduler, PriorTransformer, ShapEPipeline
    from diffusers.pipelines.shap_e import ShapERenderer
    from transformers import CLIPTextModelWithProjection

    torch.manual_seed(0)
    tok = tokenizer()
    prior = PriorTransformer(
        num_attention_heads=2, attention_head_dim=8, embedding_dim=16, num_embeddings=32,
        embedding_proj_dim=16, time_embed_dim=64, num_layers=1, clip_embed_dim=32,
        additional_embeddings=0, time_embed_act_fn="gelu", norm_in_type="layer",
        encoder_hid_proj_type=None, added_emb_type=None,
    )
    text = CLIPTextModelWithProjection(CLIPTextConfig(
        bos_token_id=0, eos_token_id=1, hidden_size=16, projection_dim=16,
        intermediate_size=32, num_attention_heads=2, num_hidden_layers=1,
        vocab_size=len(tok), max_position_embeddings=TOKENS,
    ))
    renderer = ShapERenderer(param_shapes=((8, 93), (8, 8), (8, 8), (8, 8)), d_latent=16,
                             d_hidden=8, n_output=12, background=(0.1, 0.1, 0.1))
    with torch.no_grad():  # small projected weights: a smooth field, one closed surface
        for weight in renderer.params_proj.parameters():
            weight.mul_(0.1)
    cases, masks = marching_cubes_tables()
    renderer.mesh_decoder.cases.copy_(cases)
    renderer.mesh_decoder.masks.copy_(masks)
    scheduler = HeunDiscreteScheduler(beta_schedule="exp", num_train_timesteps=1024,
                                      prediction_type="sample", use_karras_sigmas=True,
                                      clip_sample=True, clip_sample_range=1.0)
    return ShapEPipeline(prior=prior, text_encoder=text, tokenizer=tok,
                         shap_e_renderer=renderer, scheduler=scheduler)


def shap_e_img2img():
    """A Shap-E-shaped image-to-3D pipeline: a tiny CLIP vision encoder whose patch
    embeddings condition the prior, over the text-to-3D pipeline's renderer (whose seeded
    weights are known to give one closed surface)."""
    from diffusers import PriorTransformer, ShapEImg2ImgPipeline
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    text_to_3d = shap_e()
    torch.manual_seed(0)
    encoder = CLIPVisionModel(CLIPVisionConfig(
        hidden_size=16, image_size=32, patch_size=8, projection_dim=16, intermediate_size=32,
        num_attention_heads=2, num_channels=3, num_hidden_layers=1,
    ))
    processor = CLIPImageProcessor(
        crop_size=32, do_center_crop=True, do_normalize=True, do_resize=True, resample=3,
        image_mean=[0.48145466, 0.4578275, 0.40821073],
        image_std=[0.26862954, 0.26130258, 0.27577711], size=32,
    )
    prior = PriorTransformer(
        num_attention_heads=2, attention_head_dim=8, embedding_dim=16, num_embeddings=32,
        embedding_proj_dim=16, time_embed_dim=64, num_layers=1, clip_embed_dim=32,
        additional_embeddings=0, time_embed_act_fn="gelu", norm_in_type="layer",
        embedding_proj_norm_type="layer", encoder_hid_proj_type=None, added_emb_type=None,
    )
    return ShapEImg2ImgPipeline(prior=prior, image_encoder=encoder, image_processor=processor,
                                shap_e_renderer=text_to_3d.shap_e_renderer,
                                scheduler=text_to_3d.scheduler)
