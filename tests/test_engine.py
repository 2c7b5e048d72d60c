"""The sharded engine: outputs equal a direct computation, in dataset order, whatever the batch size, device count
or mesh shape (several processes: test_distributed.py).

Tolerances. Discrete outputs (top-1, top-5, labels, ids, extras) must be equal. Float outputs (logits,
probabilities) may differ by float32 rounding where the *per-device* batch differs, because XLA's CPU convolution
kernels block their loops by batch size and so sum in a different order: |diff| <= 1e-6 on values of size ~1
(measured: 1.5e-7, i.e. 1-2 ulp). Where the per-device batch is the same, the program is the same and the
outputs are required to be bitwise equal.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

import engine_helpers as H
from jaxquba.engine import Engine, HEADS, ViewRequest, make_mesh, register_head
from jaxquba.views.base import CLEAN

HELPER = str(Path(__file__).with_name("engine_helpers.py"))
FLOAT_ATOL = 1e-6  # see module docstring


def assert_outputs_match(got: dict, want: dict, *, exact: bool = False):
    assert sorted(got) == sorted(want)
    for key in want:
        a, b = np.asarray(got[key]), np.asarray(want[key])
        assert a.shape == b.shape and a.dtype == b.dtype, (key, a.shape, b.shape, a.dtype, b.dtype)
        if exact or a.dtype.kind != "f":
            np.testing.assert_array_equal(a, b, err_msg=key)
        else:
            np.testing.assert_allclose(a, b, rtol=0, atol=FLOAT_ATOL, equal_nan=True, err_msg=key)


@pytest.fixture(scope="module")
def reference():
    return H.reference_outputs()


def run_engine(batch_size, ranges=((0, H.NUM_EXAMPLES),), calls=None):
    engine = Engine(H.tiny_classifier(), batch_size=batch_size)
    parts = [H.flatten(engine.run_range(H.make_reader(calls=calls), a, b, H.requests())) for a, b in ranges]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def test_engine_matches_direct_computation_one_device(reference):
    calls = []
    got = run_engine(batch_size=5, ranges=((0, 11), (11, H.NUM_EXAMPLES)), calls=calls)
    assert_outputs_match(got, reference)
    # Each example was read exactly once, in order (one decode serves all three views).
    assert [i for c in calls for i in c] == list(range(H.NUM_EXAMPLES))
    assert np.isnan(got["clean.label_prob"][3])  # example 3 has an unknown label
    assert "extra.file" not in got  # string metadata stays with the source


def test_a_view_returning_the_network_input_is_evaluated_on_it():
    """``quba_paper``'s attacks perturb the network input (here the normalised image) and return it; the engine gives
    it to the model as it is, without the image's normalisation: the logits are the model's on the attacked input."""
    from jaxquba.views import attacks
    clf = H.tiny_classifier()
    view = attacks.fgsm_view(8, "network_input")
    engine = Engine(clf, batch_size=H.NUM_EXAMPLES)
    got = engine.run_range(H.make_reader(), 0, H.NUM_EXAMPLES, [ViewRequest(view, ("logits",))])
    images, labels, _ = H.dataset()
    to_network_input, apply_network_input = clf.network_input_fns()
    adversarial = attacks.fgsm(to_network_input(jnp.asarray(images, jnp.float32) / 255), jnp.asarray(labels, jnp.int32),
                               lambda z: apply_network_input(clf.params, z), eps=8 / 255)
    want = np.asarray(apply_network_input(clf.params, adversarial))
    np.testing.assert_allclose(got.views[view.name]["logits"], want, rtol=0, atol=FLOAT_ATOL)
    # the same tensor read as an image (normalised a second time) gives other logits
    assert np.abs(np.asarray(clf.apply(clf.params, adversarial)) - want).max() > 1e-2


def test_global_batch_rounding_and_empty_range():
    mesh = make_mesh()
    engine = Engine(H.tiny_classifier(), mesh=mesh, batch_size=5)
    assert engine.batch_size == 5 * mesh.shape["data"]
    with pytest.raises(ValueError):
        engine.run_range(H.make_reader(), 3, 3, H.requests())


def test_register_head_feeds_the_step(reference):
    register_head("neg_top1", lambda x: -HEADS["top1"](x))
    engine = Engine(H.tiny_classifier(), batch_size=8)
    out = engine.run_range(H.make_reader(), 0, 9, (ViewRequest(CLEAN, ("neg_top1",)),))
    np.testing.assert_array_equal(out.views["clean"]["neg_top1"], -reference["clean.top1"][:9])
    with pytest.raises(ValueError):
        ViewRequest(CLEAN, ("no_such_head",))


@pytest.mark.multiprocess
def test_eight_devices_equal_one_device(tmp_path, reference):
    out = tmp_path / "devices.npz"
    subprocess.run([sys.executable, HELPER, "devices", str(out)], check=True, timeout=300)
    results = np.load(out)
    settings = sorted({k.split("/")[0] for k in results.files})
    assert settings == ["d1_b5", "d4x2_b6", "d8_b37", "d8_b5"]
    assert {s: int(results[f"{s}/global_batch"]) for s in settings} == {"d1_b5": 5, "d8_b5": 8, "d8_b37": 40,
                                                                       "d4x2_b6": 8}

    def setting(name):
        return {k.split("/", 1)[1]: results[k] for k in results.files if k.startswith(name + "/")
                and not k.endswith("global_batch")}

    one = setting("d1_b5")
    assert_outputs_match(one, reference)
    assert_outputs_match(setting("d8_b37"), one, exact=True)  # 5 rows per device, as on one device
    assert_outputs_match(setting("d8_b5"), one)
    assert_outputs_match(setting("d4x2_b6"), one)


def test_views_sharing_a_finish_equal_each_view_whole():
    """Views that name the same ``finish`` (release-style ImageNet-C's JPEG and resize) run it once after the
    engine picks the view; the outputs equal those of each view applied whole, bitwise (the same float ops)."""
    from jaxquba.views.base import View

    finish = View("finish", lambda x, ctx: jnp.sqrt(x) * 0.5 + 0.25)
    views = [View(f"scale{k}", lambda x, ctx, k=k: x * (0.2 + 0.3 * k), finish=finish) for k in range(3)]
    other = View("other", lambda x, ctx: x[:, ::-1], finish=View("finish2", lambda x, ctx: 1 - x))
    heads = ("top1", "logits")
    engine = Engine(H.tiny_classifier(), batch_size=8)
    got = engine.run_range(H.make_reader(), 0, 12, [ViewRequest(v, heads) for v in (*views, other)])
    apply = H.tiny_classifier()
    images = jnp.asarray(H.dataset()[0][:12], jnp.float32) / 255
    for view in (*views, other):
        logits = np.asarray(apply.apply(apply.params, view(images, None)))
        np.testing.assert_allclose(got.views[view.name]["logits"], logits, rtol=0, atol=FLOAT_ATOL)
        np.testing.assert_array_equal(got.views[view.name]["top1"], logits.argmax(-1))


def test_a_step_over_the_memory_limit_is_refused_with_a_batch_size_that_fits():
    """On a CPU, which reports no memory limit, a limit given to the engine stands in for an accelerator's: the
    compiled step's estimate (XLA's memory analysis) is checked before the step runs, and the error names a
    --batch_size; that batch size then passes the same check and computes the same outputs."""
    import re

    from jaxquba.errors import UserError

    unlimited = Engine(H.tiny_classifier(), batch_size=64)
    want = H.flatten(unlimited.run_range(H.make_reader(), 0, H.NUM_EXAMPLES, H.requests()))
    [executable] = unlimited._executables.values()
    memory = executable.memory_analysis()
    needed = (memory.argument_size_in_bytes + memory.output_size_in_bytes + memory.temp_size_in_bytes
              - memory.alias_size_in_bytes)

    limit = needed // 3  # the batch-sized part dominates this tiny model's step
    with pytest.raises(UserError, match=r"at --batch_size=64 needs .* GiB .* use --batch_size=(\d+) or less") as e:
        Engine(H.tiny_classifier(), batch_size=64, memory_limit_bytes=limit).run_range(
            H.make_reader(), 0, H.NUM_EXAMPLES, H.requests())
    suggested = int(re.search(r"use --batch_size=(\d+)", str(e.value)).group(1))
    assert 1 <= suggested < 64 // 2
    fitting = Engine(H.tiny_classifier(), batch_size=suggested, memory_limit_bytes=limit)
    assert_outputs_match(H.flatten(fitting.run_range(H.make_reader(), 0, H.NUM_EXAMPLES, H.requests())), want)
