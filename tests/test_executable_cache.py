"""The executable cache (jaxquba/engine/executable_cache.py): compiled steps found before tracing.

A second checkpoint of an architecture loads the step without tracing it and computes what a fresh compile
computes, bit for bit (the same XLA program on the same CPU and inputs: no tolerance is needed); whatever changes the
program misses; a damaged entry is a miss and is rewritten; the loader refuses a pickle that names any global outside
its allow-list.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import pickle
import shutil
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import engine_helpers as H
from jaxquba import models, protocols, zoo
from jaxquba.engine import Engine, ViewRequest, compile_options, executable_cache
from jaxquba.views import registry
from jaxquba.views.base import CLEAN

FAMILY = "executable_cache_tiny"
SPEC = zoo.ModelSpec(name=f"{FAMILY}.test", family=FAMILY, config=zoo.config(width=8), num_params=0,
                     data=zoo.DataConfig(input_size=H.IMAGE_SIZE, num_classes=H.NUM_CLASSES))
TRACES: list[tuple[int, ...]] = []  # one entry per trace of the model's forward pass (Python runs only when tracing)


class Tiny(nn.Module):
    width: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        TRACES.append(x.shape)
        x = nn.relu(nn.Conv(self.width, (3, 3), strides=2, dtype=self.dtype)(x))
        return nn.Dense(H.NUM_CLASSES, dtype=self.dtype)(x.mean(axis=(1, 2)))


@pytest.fixture(autouse=True)
def tiny_family(monkeypatch):
    monkeypatch.setitem(models._FAMILIES, FAMILY, models.Family(
        FAMILY, lambda dtype, **config: Tiny(dtype=dtype, **config), converter="unused:none"))


def classifier(seed: int, precision: str = "fp32") -> models.Classifier:
    """The tiny family with seeded random weights: one architecture, a checkpoint per seed."""
    module = models.build_module(SPEC, precision)
    shapes = jax.eval_shape(module.init, jax.random.key(0), jnp.zeros((1, H.IMAGE_SIZE, H.IMAGE_SIZE, 3)))["params"]
    rng = np.random.default_rng(seed)
    params = jax.tree.map(lambda s: rng.standard_normal(s.shape).astype(np.float32) * 0.3, shapes)
    return made_by_the_zoo(SPEC, params, f"seed{seed}", precision)


def made_by_the_zoo(spec: zoo.ModelSpec, params: Any, digest: str, precision: str = "fp32") -> models.Classifier:
    """A classifier of ``spec`` with its functions from :func:`models.make_network_fns`, as the loader makes it."""
    apply, to_network_input, apply_network_input = models.make_network_fns(spec, precision)
    return models.Classifier(spec, params, apply, digest, precision, "logits", to_network_input, apply_network_input)


VIEWS = ("lowpass(cutoff=0.5)", "fgsm(eps=4,space=pixel)")


def requests(views=VIEWS) -> tuple[ViewRequest, ...]:
    """Clean and a filter (one shared scan over the model) and an attack (traces the model itself)."""
    return (ViewRequest(CLEAN, ("logits", "top1")),
            *(ViewRequest(registry.parse(v), ("logits", "top1")) for v in views))


def run(clf, cache, *, batch_size=8):
    """(flat outputs, the compile record, traces of the model while running) of one Engine over the dataset."""
    engine = Engine(clf, batch_size=batch_size, executable_cache=cache)
    traces = len(TRACES)
    outputs = H.flatten(engine.run_range(H.make_reader(), 0, H.NUM_EXAMPLES, requests()))
    [record] = engine.compile_seconds
    return outputs, record, len(TRACES) - traces


def key_and_args(clf, *, batch_size=8, views=VIEWS, seed=0, protocol="pixel"):
    """The step's cache key as the engine computes it, with the arguments and mesh it is loaded for."""
    engine = Engine(clf, batch_size=batch_size, seed=seed, protocol=protocols.PROTOCOLS[protocol])
    batch = next(engine._device_batches(H.make_reader(), 0, H.NUM_EXAMPLES, H.IMAGE_SIZE))
    args = (engine.params, batch)
    key = executable_cache.step_key(clf, requests(views), protocol=engine.protocol, seed=seed, args=args,
                                    mesh=engine.mesh)
    return key, args, engine.mesh


def entries(cache) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in cache.glob(f"*{executable_cache.SUFFIX}")}


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """The first checkpoint's run into an empty cache (traced, compiled, stored): (cache, outputs, record, traces).
    Tests copy the cache before changing it."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setitem(models._FAMILIES, FAMILY, models.Family(
            FAMILY, lambda dtype, **config: Tiny(dtype=dtype, **config), converter="unused:none"))
        cache = tmp_path_factory.mktemp("first") / "executables"
        return (cache, *run(classifier(1), cache))


@pytest.fixture
def cache(first_run, tmp_path):
    """A copy of the first run's cache (one entry)."""
    return shutil.copytree(first_run[0], tmp_path / "executables")


def test_second_checkpoint_loads_the_step_without_tracing_and_computes_what_a_compile_does(first_run, cache):
    _, first, record, traces = first_run
    assert not record["from_executable_cache"] and traces > 0
    assert len(entries(cache)) == 1
    # a program of dense convolutions: compiled without YNNPACK on CPU (jaxquba/engine/compile_options.py), and the
    # entry says so when it is loaded
    options = {compile_options.YNN_FUSION_TYPES: ""} if jax.default_backend() == "cpu" else {}
    assert record["compiler_options"] == options

    second, record, traces = run(classifier(2), cache)  # other weights, same architecture
    assert record["from_executable_cache"] and traces == 0 and record["compiler_options"] == options
    assert len(entries(cache)) == 1

    fresh, record, traces = run(classifier(2), None)  # no cache: traced and compiled anew
    assert not record["from_executable_cache"] and traces > 0 and record["compiler_options"] == options
    assert sorted(second) == sorted(fresh)
    for name in fresh:
        np.testing.assert_array_equal(second[name], fresh[name], err_msg=name)
    assert not np.array_equal(first["clean.logits"], second["clean.logits"])  # the weights did reach the step


@pytest.fixture
def jax_persistent_cache(tmp_path):
    """JAX's persistent compilation cache on, in an empty folder, storing every program however fast it compiled
    (the app turns it on under ``--compilation_cache``); as it was again afterwards."""
    from jax.experimental.compilation_cache import compilation_cache as jax_cache
    options = {"jax_compilation_cache_dir": str(tmp_path / "xla"), "jax_persistent_cache_min_compile_time_secs": 0,
               "jax_persistent_cache_min_entry_size_bytes": 0}
    saved = {name: getattr(jax.config, name) for name in options}
    for name, value in options.items():
        jax.config.update(name, value)
    jax_cache.reset_cache()  # JAX sets its cache up once per process: make it take the folder now
    try:
        yield tmp_path / "xla"
    finally:
        for name, value in saved.items():
            jax.config.update(name, value)
        jax_cache.reset_cache()


def test_a_step_whose_program_is_in_jaxs_persistent_cache_is_stored_whole(jax_persistent_cache, tmp_path):
    """The failure 8325829 was reverted for (2d89785): an XLA:CPU executable that JAX's persistent cache served is
    a deserialised one, and serialising it again leaves out its compiled code, so the stored entry loaded and then
    failed on its first call (``NOT_FOUND: Function ... not found``). Here JAX's cache holds the step's program
    (compiled for the first checkpoint without the executable cache) when the second checkpoint stores its step;
    the third loads that entry and must compute what a compile computes."""
    cache = tmp_path / "executables"
    want, _, _ = run(classifier(1), None)
    assert any(p.name.startswith("jit_step") for p in jax_persistent_cache.iterdir())
    _, record, _ = run(classifier(2), cache)
    assert not record["from_executable_cache"] and len(entries(cache)) == 1
    got, record, traces = run(classifier(1), cache)
    assert record["from_executable_cache"] and traces == 0
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def test_whatever_changes_the_program_misses(cache):
    base = key_and_args(classifier(1))[0]
    assert key_and_args(classifier(2))[0] == base  # the weights are no part of it
    other_std = dataclasses.replace(SPEC, data=dataclasses.replace(SPEC.data, std=(1.0, 1.0, 1.0)))
    changed = {
        "views": key_and_args(classifier(1), views=("lowpass(cutoff=0.25)", "fgsm(eps=4,space=pixel)")),
        "view order": key_and_args(classifier(1), views=VIEWS[::-1]),
        "batch shape": key_and_args(classifier(1), batch_size=4),
        "precision": key_and_args(classifier(1, precision="bf16")),
        "seed": key_and_args(classifier(1), seed=1),
        "protocol": key_and_args(classifier(1), protocol="quba_paper"),
        "std": key_and_args(made_by_the_zoo(other_std, classifier(1).params, "x")),
    }
    keys = [base] + [key for key, _, _ in changed.values()]
    assert len({json.dumps(k, sort_keys=True) for k in keys}) == len(keys), "two changes gave one key"
    store = executable_cache.ExecutableCache(cache)
    for change, (key, args, mesh) in changed.items():
        assert store.load(key, args, mesh) is None, change
    assert base["sources"]["jaxquba"] == executable_cache.jaxquba_source_digest()
    assert base["sources"]["family"] is not None  # this file's digest: editing the family misses

    _, record, traces = run(classifier(1), cache, batch_size=4)  # the engine: a miss, then its own entry
    assert not record["from_executable_cache"] and traces > 0
    assert len(entries(cache)) == 2


def test_steps_the_key_cannot_describe_are_not_cached():
    assert "make_network_fns" in executable_cache.uncacheable_reason(H.tiny_classifier(), requests())
    other_input = dataclasses.replace(classifier(1), to_network_input=lambda images01: images01)
    assert "make_network_fns" in executable_cache.uncacheable_reason(other_input, requests())
    homemade = (ViewRequest(CLEAN, ("top1",)), ViewRequest(H.test_views()[1], ("top1",)))  # "noise": no registry view
    assert "noise" in executable_cache.uncacheable_reason(classifier(1), homemade)
    assert executable_cache.uncacheable_reason(classifier(1), requests()) is None


def test_a_damaged_entry_is_a_miss_and_is_rewritten(first_run, cache):
    want = first_run[1]
    key, args, mesh = key_and_args(classifier(1))
    store = executable_cache.ExecutableCache(cache)
    [(name, good)] = entries(cache).items()
    assert store.path(key).name == name and store.load(key, args, mesh) is not None
    middle = len(good) // 2
    for damage, damaged in {"flipped byte": good[:middle] + bytes([good[middle] ^ 0xFF]) + good[middle + 1:],
                            "truncated": good[:middle], "other format": b"PK\x03\x04" + good[4:],
                            "empty": b""}.items():
        (cache / name).write_bytes(damaged)
        assert store.load(key, args, mesh) is None, damage

    got, record, traces = run(classifier(1), cache)  # the engine compiles, computes, and rewrites the entry
    assert not record["from_executable_cache"] and traces > 0
    for view in want:
        np.testing.assert_array_equal(got[view], want[view], err_msg=view)
    assert entries(cache)[name] != damaged
    assert store.load(key, args, mesh) is not None


class _RunsACommand:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def test_the_loader_refuses_a_pickle_naming_a_disallowed_global(cache, tmp_path):
    sentinel = tmp_path / "ran"
    payload = pickle.dumps(_RunsACommand(f"touch {sentinel}"))
    devices = jax.devices()
    with pytest.raises(pickle.UnpicklingError, match="system is not allowed"):
        executable_cache.RestrictedUnpickler(io.BytesIO(payload), devices[0].client, devices).load()
    assert not sentinel.exists()

    # The same payload inside an otherwise valid entry (right key, right checksum): refused, so a miss.
    key, args, mesh = key_and_args(classifier(1))
    [(name, good)] = entries(cache).items()
    header_line = good[len(executable_cache.FORMAT):].split(b"\n", 1)[0]
    header = json.loads(header_line)
    out_tree = good[len(executable_cache.FORMAT) + len(header_line) + 1:][:header["out_tree_bytes"]]
    header["payload_sha256"] = hashlib.sha256(payload).hexdigest()
    (cache / name).write_bytes(executable_cache.FORMAT + json.dumps(header, sort_keys=True).encode() + b"\n"
                               + out_tree + payload)
    assert executable_cache.ExecutableCache(cache).load(key, args, mesh) is None
    assert not sentinel.exists()
