"""Benchmark: images/s of the host data pipeline (decode, resize, crop) and of pipeline + model, to find the bottleneck.

On the shared ImageNet sample photos (real JPEGs of varying size, mean 110 KB). Stages, each timed on its own:

* decode only (PIL, one thread), and decode + resize + crop in a plain loop (one thread);
* ``host_batches`` with 1..N read threads, and with 2 worker processes (total time, including their start-up);
* the peer: a torch ``DataLoader`` over the same files with timm's eval transform (Normalize removed), 0 and 2
  workers -- the loader timm's own validation script uses;
* the model alone (jitted ``tf_efficientnet_lite0`` forward on uint8 batches, random weights), and pipeline + model
  (host batches fed to the jitted step one after another).

Prints a markdown table. Run::

    .venv/bin/python bench/pipeline.py [--images 192] [--batch_size 32] [--threads 1,2,4] [--processes 2] [--model_images 64]
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from jaxquba.data.folder import FolderSource
from jaxquba.data.pipeline import host_batches
from jaxquba.data.preprocess import make_eval_transform
from jaxquba.testing.shared_data import shared_data_dir
from jaxquba.zoo import DataConfig

MODEL = "tf_efficientnet_lite0"
DATA_CONFIG = DataConfig(input_size=224, crop_pct=0.875, interpolation="bicubic")  # tf_efficientnet_lite0's


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def drain(batches) -> int:
    return sum(len(b.labels) for b in batches)


class _TimmFiles:
    """The peer's dataset: (PIL open + convert RGB + timm eval transform) per file, as timm's loader does."""

    def __init__(self, paths, transform):
        self.paths, self.transform = paths, transform

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        from PIL import Image
        with Image.open(self.paths[i]) as img:
            return np.asarray(self.transform(img.convert("RGB")))


def peer_loader(paths, batch_size, workers):
    import torch
    from converters.torch_env import import_timm

    import_timm()
    from timm.data import create_transform, resolve_data_config

    composed = create_transform(**resolve_data_config({"input_size": (3, 224, 224), "crop_pct": 0.875,
                                                       "interpolation": "bicubic"}), is_training=False)
    composed.transforms = composed.transforms[:-2]  # drop ToTensor + Normalize: uint8 out, like ours
    dataset = _TimmFiles(paths, composed)
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, num_workers=workers,
                                       collate_fn=lambda xs: np.stack(xs))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=192)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--threads", default="1,2,4")
    parser.add_argument("--processes", type=int, default=2, help="worker processes for one extra run (0: skip)")
    parser.add_argument("--model_images", type=int, default=64, help="images for the (slow on CPU) model stages")
    args = parser.parse_args()

    source = FolderSource(shared_data_dir() / "imagenet_samples")
    indices = np.arange(args.images)
    transform = make_eval_transform(DATA_CONFIG)
    rows = []

    def row(stage, seconds, note=""):
        rows.append((stage, args.images / seconds, note))
        print(f"{stage}: {args.images / seconds:.1f} img/s {note}", flush=True)

    [source[int(i)]["image"] for i in indices]  # warm the OS file cache so every stage reads from memory
    row("decode only, 1 thread (loop)", timed(lambda: [source[int(i)]["image"] for i in indices]))
    row("decode+resize+crop, 1 thread (loop)", timed(lambda: [transform(source[int(i)]["image"]) for i in indices]))
    reference = list(host_batches(source, transform, args.batch_size, indices, num_threads=1))
    for threads in [int(t) for t in args.threads.split(",")]:
        row(f"host_batches, {threads} thread(s)",
            timed(lambda: drain(host_batches(source, transform, args.batch_size, indices, num_threads=threads))))
    if args.processes:
        def with_processes():
            got = list(host_batches(source, transform, args.batch_size, indices, num_threads=2,
                                    num_processes=args.processes))
            assert all(np.array_equal(a.images, b.images) for a, b in zip(got, reference)), "process output differs"
        row(f"host_batches, {args.processes} processes x 2 threads", timed(with_processes), "(incl. process start)")

    paths = [source.root / source[int(i)]["id"] for i in indices]
    for workers in (0, 2):
        loader = peer_loader(paths, args.batch_size, workers)
        row(f"peer: torch DataLoader + timm transform, {workers} workers", timed(lambda: [b for b in loader]))

    import jax
    import jax.numpy as jnp

    from jaxquba.loader import load_classifier

    classifier = load_classifier(MODEL, weights="random")
    step = jax.jit(lambda params, images: jnp.argmax(classifier.apply(params, images.astype(jnp.float32) / 255), -1))
    model_indices = indices[:args.model_images]
    model_batches = [b for b in reference if b.example_ids[-1] < args.model_images]
    for b in model_batches:  # compile every batch shape before timing
        step(classifier.params, b.images).block_until_ready()

    def model_row(stage, seconds):
        rows.append((stage, len(model_indices) / seconds, f"{len(model_indices)} images"))
        print(f"{stage}: {len(model_indices) / seconds:.1f} img/s", flush=True)

    model_row(f"model only ({MODEL}, jit, batch {args.batch_size})",
              timed(lambda: [step(classifier.params, b.images).block_until_ready() for b in model_batches]))
    model_row("host_batches (2 threads) + model",
              timed(lambda: [step(classifier.params, b.images).block_until_ready()
                             for b in host_batches(source, transform, args.batch_size, model_indices, num_threads=2)]))
    n_batches = len(reference)

    print(f"\n{platform.node()} | {args.images} images ({n_batches} batches of <= {args.batch_size}) | "
          f"jax {jax.__version__} on {jax.devices()[0].platform}\n")
    print("| stage | images/s | note |\n|---|---:|---|")
    for stage, rate, note in rows:
        print(f"| {stage} | {rate:.1f} | {note} |")


if __name__ == "__main__":
    main()
