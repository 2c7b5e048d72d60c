"""Views by name: every view the studies build parses back from its spec string into a view of the same name that
computes the same images; bad specs are one-line user errors."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxquba.errors import UserError
from jaxquba.views import registry
from jaxquba.views.attacks import pgd40_generalization, quba_attack_views
from jaxquba.views.base import CLEAN, ViewContext
from jaxquba.views.corruptions import CORRUPTION_NAMES, SEVERITIES, corruption_view
from jaxquba.views.corruptions.release import model_transform_of_release, release_view
from jaxquba.views.critical_band import critical_band_views
from jaxquba.views.spectral import spectral_views


def study_views():
    """The views of the three studies, built by their makers (as the dimensions build them)."""
    transform = model_transform_of_release(256, 224, "bicubic")
    return ([CLEAN, *quba_attack_views(), pgd40_generalization(), *spectral_views(), *critical_band_views()]
            + [corruption_view(c, s) for c in CORRUPTION_NAMES for s in SEVERITIES]
            + [release_view(c, s, t) for c in CORRUPTION_NAMES[:2] for s in (1, 5) for t in (None, transform)])


def test_every_study_view_parses_back_to_its_name():
    views = study_views()
    assert len(views) > 150
    assert [registry.parse(v.name).name for v in views] == [v.name for v in views]
    assert {"corrupt", "fgsm", "pgd", "lowpass", "highpass", "critical_band", "imagenet_c"} <= set(registry.kinds())


@pytest.mark.parametrize("spec", ["corrupt(name=gaussian_noise,severity=2)", "lowpass(cutoff=0.3)",
                                  "highpass(cutoff=0.1)"])
def test_parsed_view_computes_the_same_images(spec):
    """The parsed view and the one its maker built give identical images (same function, same per-example keys)."""
    made = {v.name: v for v in study_views()}[spec]
    images = jnp.asarray(np.random.default_rng(0).uniform(0, 1, (2, 64, 64, 3)), jnp.float32)
    ctx = ViewContext(example_ids=jnp.arange(2), labels=jnp.zeros(2, jnp.int32), seed=0, logits_fn=None)
    np.testing.assert_array_equal(np.asarray(registry.parse(spec)(images, ctx)), np.asarray(made(images, ctx)))


def test_short_spec_gives_the_canonical_view():
    assert registry.parse("fgsm(eps=8)").name == "fgsm(eps=8,space=pixel)"
    assert registry.parse("clean") is CLEAN


@pytest.mark.parametrize("spec, message", [("corupt(name=fog,severity=3)", "did you mean corrupt"),
                                           ("corrupt(name=fog severity=3)", "is not key=value"),
                                           ("corrupt(name=fog,severity=9)", "severity"),
                                           ("lowpass(cutof=0.3)", "cutof"),
                                           ("lowpass(cutoff=0.3", "is not of the form")])
def test_bad_specs_are_user_errors(spec, message):
    with pytest.raises(UserError, match=message):
        registry.parse(spec)
