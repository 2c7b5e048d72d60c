"""Small stand-ins for every dataset the nine QUBA dimensions need, built from ../shared/data (the end-to-end test and
bench/quba_eval.py use them):

* reference ("IN-val"): the first photos of ``shared/imagenet_samples`` through the folder source (labels.csv);
* cue-conflict: one true conflict stimulus per shape category of ``shared/cue_conflict``, built into a tfds data
  dir with the model-vs-human builder;
* MvH edge / silhouette / sketch / stylized: tiny generated releases (in both release layouts) made from the sample
  photos of 14 of the 16 categories (edge filter, binary silhouette, greyscale contour, posterised photo), built with
  the same builder;
* ImageNet-R: sample photos of IN-R classes in the release layout ``imagenet-r/<wnid>/*``, read as ``folder:``;
* ImageNet-9: a generated ``bg_challenge`` tree (mixed_same = the photo, mixed_rand = the photo blended with a photo
  of another ImageNet-9 class), built with the ImageNet-9 builder; the 1000 -> 9 map from ``shared``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from PIL import Image, ImageFilter, ImageOps

from jaxquba.data.prepare import prepare

# One even-index sample photo per 16-class category (imagenet_samples holds the even classes only: no chair or
# knife member is among them).
SIXTEEN_CLASS_PHOTOS = {"airplane": 404, "bear": 294, "bicycle": 444, "bird": 10, "boat": 472, "bottle": 440,
                        "car": 436, "cat": 282, "clock": 530, "dog": 152, "elephant": 386, "keyboard": 508,
                        "oven": 766, "truck": 656}
IMAGENET_R_PHOTOS = 8
IN9_FOLDERS = ("00_dog", "01_bird", "02_vehicle", "03_reptile", "04_carnivore", "05_insect", "06_instrument",
               "07_primate", "08_fish")


def _samples(shared: Path) -> dict[int, Path]:
    with open(shared / "imagenet_samples" / "labels.csv", newline="") as f:
        return {int(r["class_index"]): shared / "imagenet_samples" / r["file"] for r in csv.DictReader(f)}


def _rgb(path: Path) -> Image.Image:
    with Image.open(path) as img:
        return img.convert("RGB").resize((224, 224), Image.BICUBIC)


def _make_reference(shared: Path, root: Path, count: int) -> Path:
    root.mkdir()
    with open(shared / "imagenet_samples" / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))[:count]
    with open(root / "labels.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "class_index"])
        for r in rows:
            (root / r["file"]).symlink_to(shared / "imagenet_samples" / r["file"])
            writer.writerow([r["file"], r["class_index"]])
    return root


def _make_mvh_releases(shared: Path, root: Path) -> None:
    """edge and silhouette in the folder layout, sketch and stylized in the session layout (label in the name)."""
    samples = _samples(shared)
    styles = {
        "edge": lambda im: ImageOps.invert(im.convert("L").filter(ImageFilter.FIND_EDGES)).convert("RGB"),
        "silhouette": lambda im: im.convert("L").point(lambda v: 0 if v < 110 else 255).convert("RGB"),
        "sketch": lambda im: im.convert("L").filter(ImageFilter.CONTOUR).convert("RGB"),
        "stylized": lambda im: ImageOps.posterize(im, 2),
    }
    for release, style in styles.items():
        for category, index in SIXTEEN_CLASS_PHOTOS.items():
            image = style(_rgb(samples[index]))
            if release in ("edge", "silhouette"):
                path = root / release / category / f"{category}1.png"
            else:
                path = root / release / "dnn" / "session-1" / f"0001_x_dnn_0_{category}_00_{index}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            image.save(path)


def _make_cue_conflict(shared: Path, root: Path) -> None:
    for folder in sorted(p for p in (shared / "cue_conflict").iterdir() if p.is_dir()):
        first = next(p for p in sorted(folder.glob("*.png"))
                     if not p.stem.split("-")[-1].rstrip("0123456789") == folder.name)
        (root / "cue-conflict" / folder.name).mkdir(parents=True)
        (root / "cue-conflict" / folder.name / first.name).symlink_to(first)


def _make_imagenet_r(shared: Path, root: Path) -> Path:
    samples = _samples(shared)
    wnids = (shared / "imagenet_metadata" / "timm" / "imagenet_synsets.txt").read_text().split()
    indices = [int(i) for i in (shared / "imagenet_metadata" / "timm" / "imagenet_r_indices.txt").read_text().split()]
    for index in [i for i in indices if i in samples][:IMAGENET_R_PHOTOS]:
        (root / wnids[index]).mkdir(parents=True)
        (root / wnids[index] / samples[index].name).symlink_to(samples[index])
    return root


def _make_imagenet9(shared: Path, root: Path) -> None:
    samples = _samples(shared)
    in_to_in9 = json.loads((shared / "imagenet_metadata" / "backgrounds_challenge" / "in_to_in9.json").read_text())
    first_of = {}
    for index in sorted(samples):
        first_of.setdefault(in_to_in9[str(index)], index)
    for label, folder in enumerate(IN9_FOLDERS):
        photo, other = _rgb(samples[first_of[label]]), _rgb(samples[first_of[(label + 4) % 9]])
        for variation, image in (("mixed_same", photo), ("mixed_rand", Image.blend(photo, other, 0.45))):
            path = root / "bg_challenge" / variation / "val" / folder / f"{first_of[label]}.JPEG"
            path.parent.mkdir(parents=True, exist_ok=True)
            image.save(path, quality=95)


def build(shared: Path, base: Path, reference_images: int) -> dict:
    """Builds every stand-in under ``base``; returns the specs and paths the app's flags need."""
    tfds_dir = base / "tfds"
    _make_mvh_releases(shared, base / "mvh")
    _make_cue_conflict(shared, base / "cue")
    _make_imagenet9(shared, base / "in9")
    for name in ("edge", "silhouette", "sketch", "stylized"):
        prepare(f"mvh_{name}", data_dir=str(tfds_dir), local_copy=str(base / "mvh"))
    prepare("mvh_cue_conflict", data_dir=str(tfds_dir), local_copy=str(base / "cue"))
    for variation in ("mixed_same", "mixed_rand"):
        prepare(f"imagenet9:{variation}", data_dir=str(tfds_dir), local_copy=str(base / "in9"))
    return {"reference": _make_reference(shared, base / "inval", reference_images), "tfds": tfds_dir,
            "imagenet_r": _make_imagenet_r(shared, base / "imagenet-r"),
            "in_to_in9": shared / "imagenet_metadata" / "backgrounds_challenge" / "in_to_in9.json"}


def app_flags(data: dict) -> list[str]:
    """The app's data flags for the stand-ins (with quba.flags)."""
    return [f"--datasets=folder:{data['reference']}", f"--data_dir={data['tfds']}",
            f"--quba_imagenet_r=folder:{data['imagenet_r']}", f"--quba_in_to_in9={data['in_to_in9']}"]
