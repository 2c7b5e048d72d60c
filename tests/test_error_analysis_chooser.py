"""The CLIP chooser of rule 6 on a tiny random CLIP and shared sample photos: choices equal a direct zero-shot
computation, prompts reach the text tower once each, results are deterministic, and the chooser drives
:class:`OOVRule` end to end. The image features are what the app's CLIP pass stores: the classifier's apply with
``outputs='image_embedding'``."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxquba import models, zoo
from jaxquba.data.folder import FolderSource
from jaxquba.data.preprocess import make_eval_transform
from jaxquba.error_analysis.chooser import ClipChooser, clip_text
from jaxquba.error_analysis.oov import OOVRule, Query, proposals_for
from jaxquba.error_analysis.wordnet import imagenet_wnids
from jaxquba.models import clip as clip_models
from jaxquba.zeroshot.heads import encode_prompts

TINY = zoo.ModelSpec(name="tiny_clip.chooser_test", family="clip", num_params=0, output="probs",
                     data=zoo.DataConfig(64, 1.0, "bicubic", clip_models.OPENAI_MEAN, clip_models.OPENAI_STD),
                     config=zoo.config(embed_dim=32, quick_gelu=False,
                                       vision=zoo.config(layers=1, width=64, patch_size=32, image_size=64),
                                       text=zoo.config(context_length=77, vocab_size=49408, width=64, heads=2,
                                                       layers=2)))
NUM_IMAGES = 6


@pytest.fixture(scope="module")
def tiny_clip():
    module = models.build_module(TINY)
    shapes = jax.eval_shape(module.init, jax.random.PRNGKey(0), jnp.zeros((1, 64, 64, 3)))["params"]
    # Flax's init would leave some projections and the zero-shot head at zero (features and scores all tied); every
    # leaf redrawn from N(0, 0.05^2) gives towers that tell images and prompts apart.
    leaves, tree = jax.tree.flatten(shapes)
    keys = jax.random.split(jax.random.PRNGKey(1), len(leaves))
    params = jax.tree.unflatten(tree, [0.05 * jax.random.normal(k, x.shape) for k, x in zip(keys, leaves)])
    return models.Classifier(TINY, params, models.make_apply(TINY), "random")


@pytest.fixture(scope="module")
def photos(shared_data):
    source = FolderSource(shared_data / "imagenet_samples")
    indices = list(range(0, 60, 10))[:NUM_IMAGES]
    names = [f"photo_{i}.JPEG" for i in range(len(source))]  # any unique names serve as lookup keys
    transform = make_eval_transform(TINY.data)
    return source, names, indices, transform


def queries_for(names, indices):
    wnids = imagenet_wnids()
    pairs = [(207, 208), (281, 285), (817, 511)]  # retrievers, cats, sports car vs convertible
    return [Query(names[i], p, t, proposals_for(wnids[p], wnids[t], []))
            for i in indices for p, t in pairs]


def direct_choices(classifier, source, transform, names, queries):
    """Zero-shot argmax computed without the chooser: all query images in one tower call (unbatched, unpadded),
    every query's prompts (repeats included) in one text call, cosine by explicit normalisation."""
    module = models.build_module(classifier.spec)
    variables = {"params": classifier.params}
    index = {n: i for i, n in enumerate(names)}
    images = np.stack([transform(source[index[q.image]]["image"]) for q in queries]).astype(np.float32) / 255.0
    x = models.normalize(jnp.asarray(images), classifier.spec.data)
    image_features = np.array(module.apply(variables, x, method=clip_models.CLIP.encode_image))
    image_features /= np.linalg.norm(image_features, axis=-1, keepdims=True)
    text = encode_prompts(lambda t: module.apply(variables, t, method=clip_models.CLIP.encode_text),
                          [p for q in queries for p in q.proposals.prompts])
    bounds = np.cumsum([0] + [len(q.proposals.prompts) for q in queries])
    return [int(np.argmax(text[a:b] @ f)) for a, b, f in zip(bounds[:-1], bounds[1:], image_features)]


def counted(text):
    calls = []

    def encode(prompts):
        calls.append(len(prompts))
        return text.encode(prompts)

    return dataclasses.replace(text, encode=encode), calls


def stored_features(classifier, source, transform, names, indices) -> dict[str, np.ndarray]:
    """File name -> image embedding, as the CLIP pass computes and stores them (batched through the apply that
    ``load_classifier(..., outputs='image_embedding')`` builds)."""
    embed = jax.jit(models.make_apply(classifier.spec, outputs="image_embedding"))
    images = np.stack([transform(source[i]["image"]) for i in indices]).astype(np.float32) / 255.0
    return dict(zip([names[i] for i in indices], np.asarray(embed(classifier.params, images))))


def test_choices_match_direct_computation_and_caches_hit(tiny_clip, photos):
    source, names, indices, transform = photos
    text, calls = counted(clip_text(tiny_clip))
    chooser = ClipChooser(stored_features(tiny_clip, source, transform, names, indices), text)
    queries = queries_for(names, indices)
    choices = chooser(queries)
    assert choices == direct_choices(tiny_clip, source, transform, names, queries)
    distinct_prompts = len({p for q in queries for p in q.proposals.prompts})
    assert calls == [distinct_prompts]  # one text-tower call, every prompt once
    assert len(set(choices)) > 1  # random towers still tell the images apart: the test can fail on a mix-up
    again = chooser(queries[::-1])
    assert again == choices[::-1]  # deterministic, and served from the prompt cache:
    assert calls == [distinct_prompts]


def test_neighbour_classes_are_zero_shot_top_k(tiny_clip, photos):
    source, names, indices, transform = photos
    chooser = ClipChooser(stored_features(tiny_clip, source, transform, names, indices), clip_text(tiny_clip))
    chosen = [names[i] for i in indices]
    neighbours = chooser.neighbour_classes(chosen, k=10)
    images = np.stack([transform(source[i]["image"]) for i in indices]).astype(np.float32) / 255.0
    logits = np.asarray(tiny_clip.apply(tiny_clip.params, images))  # the classifier's own zero-shot logits
    # Tolerance-free comparison of rankings: top-10 sets of the same logits up to summation order; a tie within
    # float32 rounding among 1000 random-head scores is improbable, and would show as a failure, not a pass.
    assert neighbours.shape == (NUM_IMAGES, 10)
    np.testing.assert_array_equal(neighbours, np.argsort(-logits, axis=-1)[:, :10])


def test_chooser_drives_oov_rule(tiny_clip, photos):
    source, names, indices, transform = photos
    chooser = ClipChooser(stored_features(tiny_clip, source, transform, names, indices), clip_text(tiny_clip))
    chosen = [names[i] for i in indices]
    same_superclass = np.zeros((1000, 1000), bool)
    same_superclass[207, 208] = same_superclass[208, 207] = True  # golden retriever ~ Labrador
    rule = OOVRule(chooser, same_superclass, chooser.neighbour_classes(chosen))
    targets, predictions = np.full(len(chosen), 207), np.full(len(chosen), 208)
    decided = rule.decide(chosen, predictions, targets)
    expected = [rule.proposals(208, 207).offsets[c] not in rule.in_vocabulary
                for c in direct_choices(tiny_clip, source, transform, names,
                                        [Query(n, 208, 207, rule.proposals(208, 207)) for n in chosen])]
    assert decided.tolist() == expected
