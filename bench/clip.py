"""CLIP benchmark: image-tower throughput and zero-shot head build time, jaxquba (Flax, jit) vs open_clip (PyTorch).

Both sides use the same randomly initialised weights (open_clip ``pretrained=None``, converted), the same batch and
the same prompts, in one process. The head build runs ``--prompts`` of the 80,000 ImageNet prompts (1000 classes x
80 templates) and reports the projected time of all 80,000. jaxquba trims trailing padding columns (exact for the
causal text tower read at end-of-text); open_clip runs its full 77-token context.

  python bench/clip.py --model=clip_vit_b16.openai --batch=8 --prompts=800
"""

from __future__ import annotations

import argparse
import datetime
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np
from timing import best_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="clip_vit_b16.openai")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--prompts", type=int, default=800)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    import torch

    from converters.clip import convert_towers
    from converters.state_dict import StateDictReader
    from converters.torch_env import import_open_clip
    from jaxquba import models, zoo
    from jaxquba.models import clip as clip_models
    from jaxquba.zeroshot import heads
    from jaxquba.zeroshot.tokenizer import Tokenizer

    open_clip = import_open_clip()
    spec = zoo.get(args.model)
    arch = clip_models.OPEN_CLIP_ARCH[spec.name]
    torch.manual_seed(0)
    reference = open_clip.create_model(arch, pretrained=None).eval()
    params = convert_towers(StateDictReader(reference.state_dict()), spec)
    embed_dim = spec.config_dict()["embed_dim"]
    variables = {"params": {**jax.tree.map(jnp.asarray, params), "zeroshot_head": jnp.zeros((embed_dim, 1000))}}
    module = models.build_module(spec)

    size = spec.data.input_size
    images = np.random.default_rng(0).random((args.batch, size, size, 3), np.float32)
    encode_image = jax.jit(lambda x: module.apply(variables, x, method="encode_image"))
    x = jnp.asarray(images)
    jax_s = best_seconds(lambda: encode_image(x).block_until_ready(), args.repeats)
    torch_images = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    with torch.inference_mode():
        torch_s = best_seconds(lambda: reference.encode_image(torch_images), args.repeats)

    classnames, templates = heads.imagenet_metadata()
    prompts = [t(c) for c in classnames for t in templates][:args.prompts]
    encode_text = lambda tokens: module.apply(variables, tokens, method="encode_text")  # noqa: E731
    start = time.perf_counter()
    heads.encode_prompts(encode_text, prompts, Tokenizer())
    jax_text_s = time.perf_counter() - start  # includes tokenizing and compiling, as a real head build does
    ref_tokenizer = open_clip.get_tokenizer(arch)
    start = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(prompts), 100):
            reference.encode_text(ref_tokenizer(prompts[i:i + 100]), normalize=True)
    torch_text_s = time.perf_counter() - start
    scale = 80_000 / len(prompts)

    print(f"\n### CLIP `bench/clip.py --model={args.model} --batch={args.batch} --prompts={args.prompts}`")
    print(f"{datetime.date.today()}, {platform.processor() or platform.machine()}, jax {jax.__version__} "
          f"({jax.devices()[0].platform}), torch {torch.__version__}, fp32, random weights\n")
    print("| measure | jaxquba | open_clip | ratio |")
    print("|---|---|---|---|")
    print(f"| image tower, images/s (batch {args.batch}) | {args.batch / jax_s:.2f} | {args.batch / torch_s:.2f} | "
          f"{torch_s / jax_s:.2f}x |")
    print(f"| zero-shot head, 80,000 prompts, projected s | {jax_text_s * scale:.0f} | {torch_text_s * scale:.0f} | "
          f"{torch_text_s / jax_text_s:.2f}x |")


if __name__ == "__main__":
    main()
