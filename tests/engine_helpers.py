"""A tiny model, an in-memory dataset and test views for the engine/store tests, plus a subprocess entry point.

The subprocess modes exist because device count and ``jax.distributed`` must be fixed before JAX initialises:

  python tests/engine_helpers.py devices OUT.npz
      8 fake CPU devices; writes the outputs of several (devices, batch size, model axis) settings.
  python tests/engine_helpers.py distributed OUT.npz PORT NUM_PROCESSES PROCESS_ID STORE_DIR
      one process of a localhost jax.distributed run (2 fake devices each); process 0 writes the outputs.
  python tests/engine_helpers.py store STORE_DIR OUT.npz SLEEP_S [--overwrite]
      a chunked, stored evaluation whose reader sleeps per batch (so a test can SIGKILL it mid-run); prints the
      number of chunks it computed.
"""

from __future__ import annotations

import os
import sys
import time
import numpy as np  # (JAX itself is imported late: its device count must be set first)

NUM_EXAMPLES = 37  # prime: no batch size or chunk size used here divides it
NUM_CLASSES = 10
IMAGE_SIZE = 16
CHUNK_EXAMPLES = 8


def dataset():
    """Deterministic images, labels and a numeric extra for NUM_EXAMPLES examples."""
    rng = np.random.default_rng(1234)
    images = rng.integers(0, 256, (NUM_EXAMPLES, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    labels = rng.integers(0, NUM_CLASSES, NUM_EXAMPLES).astype(np.int64)
    labels[3] = -1  # an unknown label
    texture = rng.integers(0, 16, NUM_EXAMPLES).astype(np.int64)
    return images, labels, texture


def make_reader(sleep_s: float = 0.0, calls: list | None = None):
    """An in-memory stand-in for ``host_batches``: ``reader(batch_size, indices)`` over :func:`dataset`.
    Records the indices it was asked for in ``calls``; sleeps ``sleep_s`` per batch."""
    from jaxquba.data.pipeline import HostBatch
    images, labels, texture = dataset()

    def reader(batch_size, indices):
        indices = list(indices)
        if calls is not None:
            calls.append(indices)
        for i in range(0, len(indices), batch_size):
            idx = np.asarray(indices[i:i + batch_size])
            time.sleep(sleep_s)
            yield HostBatch(images[idx], labels[idx].astype(np.int32), idx.astype(np.int32),
                            {"texture": texture[idx], "file": np.array([f"img{j}.png" for j in idx])})

    return reader


def tiny_classifier():
    """A two-layer conv net on 16x16 images with fixed random weights, as a jaxquba Classifier."""
    import flax.linen as nn
    import jax
    import jax.numpy as jnp

    from jaxquba import zoo
    from jaxquba.models import Classifier, normalize

    class Tiny(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.relu(nn.Conv(8, (3, 3))(x))
            x = nn.relu(nn.Conv(16, (3, 3), strides=2)(x))
            return nn.Dense(NUM_CLASSES)(x.mean(axis=(1, 2)))

    spec = zoo.ModelSpec(name="tiny.test", family="tiny", config=(), num_params=0,
                         data=zoo.DataConfig(input_size=IMAGE_SIZE, num_classes=NUM_CLASSES))
    module = Tiny()
    # Shapes from flax, values from numpy: skips compiling an initialiser (seconds of CPU per test process).
    shapes = jax.eval_shape(module.init, jax.random.key(0), jnp.zeros((1, IMAGE_SIZE, IMAGE_SIZE, 3)))["params"]
    rng = np.random.default_rng(0)
    params = jax.tree.map(lambda s: (rng.standard_normal(s.shape) / np.sqrt(np.prod(s.shape[:-1]))).astype(np.float32),
                          shapes)

    def to_network_input(images01):
        return normalize(images01, spec.data)

    def apply_network_input(p, inputs):
        return module.apply({"params": p}, inputs)

    def apply(p, images01):
        return apply_network_input(p, to_network_input(images01))

    return Classifier(spec, params, apply, weights_digest="tiny0", to_network_input=to_network_input,
                      apply_network_input=apply_network_input)


def test_views():
    """clean; per-example noise (randomness from example ids) and a darkening, which the engine runs through one
    shared copy of the model (same heads); a one-step gradient attack (uses the model)."""
    import jax
    import jax.numpy as jnp

    from jaxquba.views.base import CLEAN, View, example_keys

    def noise(x, ctx):
        keys = example_keys(ctx, "noise")
        eps = jax.vmap(lambda k: jax.random.normal(k, x.shape[1:]))(keys)
        return jnp.clip(x + 0.1 * eps, 0.0, 1.0)

    def fgsm(x, ctx):
        def loss(x):
            logits = ctx.logits_fn(x)
            return -jnp.sum(jnp.take_along_axis(jax.nn.log_softmax(logits), jnp.maximum(ctx.labels, 0)[:, None], 1))
        return jnp.clip(x + 8 / 255 * jnp.sign(jax.grad(loss)(x)), 0.0, 1.0)

    return CLEAN, View("noise", noise), View("darken", lambda x, ctx: 0.6 * x), View("fgsm", fgsm, 2.0, True)


def requests():
    from jaxquba.engine import ViewRequest
    clean, noise, darken, fgsm = test_views()
    return (ViewRequest(clean, ("logits", "top1", "top5", "label_prob", "confidence")),
            ViewRequest(noise, ("logits", "top1")),
            ViewRequest(darken, ("logits", "top1")),
            ViewRequest(fgsm, ("logits", "top1")))


def reference_outputs() -> dict:
    """What the engine must return, computed without it: every view and head on the whole dataset at once."""
    import jax
    import jax.numpy as jnp

    from jaxquba.engine import HEADS, HeadInputs
    from jaxquba.views.base import ViewContext
    clf = tiny_classifier()
    images, labels, texture = dataset()
    ids = jnp.arange(NUM_EXAMPLES, dtype=jnp.int32)
    labels32 = jnp.asarray(labels, jnp.int32)
    ctx = ViewContext(ids, labels32, 0, lambda x: clf.apply(clf.params, x))
    flat = {"labels": labels.astype(np.int32), "example_ids": np.arange(NUM_EXAMPLES, dtype=np.int32),
            "extra.texture": texture.astype(np.int32)}
    for request in requests():
        @jax.jit
        def heads(images):
            outputs = clf.apply(clf.params, request.view(images.astype(jnp.float32) / 255.0, ctx))
            inputs = HeadInputs(outputs, jax.nn.softmax(outputs), labels32)
            return {h: HEADS[h](inputs) for h in request.heads}
        flat.update({f"{request.view.name}.{h}": np.asarray(v) for h, v in heads(images).items()})
    return flat


def flatten(outputs) -> dict:
    """Outputs as a flat dict of arrays (for npz files and comparisons)."""
    flat = {"labels": outputs.labels, "example_ids": outputs.example_ids}
    flat.update({f"extra.{k}": v for k, v in outputs.extras.items()})
    for view, heads in outputs.views.items():
        flat.update({f"{view}.{h}": v for h, v in heads.items()})
    return flat


def _save(path, arrays):
    np.savez(path, **arrays)


def _devices(out):
    import jax

    from jaxquba.engine import Engine, make_mesh
    clf = tiny_classifier()
    reader = make_reader()
    results = {}
    # (name, devices, requested batch, model axis): one device; 8 devices with batches that 8 does not divide
    # (5 -> 8 rows, 1 per device; 37 -> 40 rows, 5 per device as on one device with batch 5); a 4x2 mesh.
    settings = [("d1_b5", 1, 5, 1), ("d8_b5", 8, 5, 1), ("d8_b37", 8, 37, 1), ("d4x2_b6", 8, 6, 2)]
    for name, n_devices, batch, model_axis in settings:
        mesh = make_mesh(model_axis, devices=jax.devices()[:n_devices])
        # min_split_size=1: split every parameter the model axis divides, to exercise it on a tiny model.
        engine = Engine(clf, mesh=mesh, batch_size=batch, min_split_size=1)
        split = [p for p in jax.tree.leaves(engine.params) if not p.sharding.is_fully_replicated]
        assert bool(split) == (model_axis > 1)
        ranges = [(0, 20), (20, 37)]
        parts = [flatten(engine.run_range(reader, a, b, requests())) for a, b in ranges]
        results.update({f"{name}/{k}": np.concatenate([p[k] for p in parts]) for k in parts[0]})
        results[f"{name}/global_batch"] = np.array(engine.batch_size)
    _save(out, results)


def _distributed(out, port, num_processes, process_id, store_dir):
    import jax
    jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=num_processes,
                               process_id=process_id, local_device_ids=[0, 1])
    from jaxquba.engine import Engine, evaluate, load_outputs, plan_chunks
    from jaxquba.store import Store
    assert jax.device_count() == 2 * num_processes, jax.devices()
    calls = []
    engine = Engine(tiny_classifier(), batch_size=6)
    reqs = requests()
    store = Store(store_dir)
    entries = {r.view.name: store.outputs({"view": r.view.name, "test": "distributed"}) for r in reqs}
    plans = plan_chunks(NUM_EXAMPLES, reqs, entries, chunk_examples=CHUNK_EXAMPLES)
    evaluate(engine, make_reader(calls=calls), plans, entries)
    read = sorted(i for c in calls for i in c)
    np.save(f"{out}.read{process_id}.npy", read)
    if process_id == 0:
        _save(out, flatten(load_outputs(entries, reqs, NUM_EXAMPLES, chunk_examples=CHUNK_EXAMPLES)))
    jax.distributed.shutdown()


def _store(store_dir, out, sleep_s, overwrite):
    from jaxquba.engine import Engine, evaluate, load_outputs, plan_chunks
    from jaxquba.store import Store
    engine = Engine(tiny_classifier(), batch_size=3)
    reqs = requests()
    store = Store(store_dir)
    entries = {r.view.name: store.outputs({"view": r.view.name, "test": "store"}) for r in reqs}
    plans = plan_chunks(NUM_EXAMPLES, reqs, entries, chunk_examples=CHUNK_EXAMPLES, overwrite=overwrite)
    print("PLANNED", sum(bool(p.todo) for p in plans), flush=True)
    computed = evaluate(engine, make_reader(sleep_s), plans, entries, overwrite=overwrite)
    print("COMPUTED", computed, flush=True)
    _save(out, flatten(load_outputs(entries, reqs, NUM_EXAMPLES, chunk_examples=CHUNK_EXAMPLES)))


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    n_devices = {"devices": 8, "distributed": 2, "store": 1}[mode]
    os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={n_devices}"
    os.environ["JAX_PLATFORMS"] = "cpu"
    import jax
    jax.config.update("jax_default_matmul_precision", "highest")
    if mode == "devices":
        _devices(args[0])
    elif mode == "distributed":
        _distributed(args[0], int(args[1]), int(args[2]), int(args[3]), args[4])
    else:
        _store(args[0], args[1], float(args[2]), "--overwrite" in args)
