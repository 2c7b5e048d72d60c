"""Your own model through the app: a module registers a Flax family and a spec (``--model_module``), its params
come from an orbax folder (``--weights=PATH``), and the app's numbers equal a direct computation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np

USER_MODULE = '''
import flax.linen as nn
import jax.numpy as jnp

from jaxquba import models, zoo


class TinyNet(nn.Module):
    width: int
    dtype: object = jnp.float32

    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Conv(self.width, (3, 3), strides=(4, 4), dtype=self.dtype)(x))
        return nn.Dense(1000, dtype=self.dtype)(x.mean(axis=(1, 2)))


models.register_family("tinynet", lambda dtype, **config: TinyNet(dtype=dtype, **config),
                       converter="my_models:no_pytorch_checkpoints")
SPEC = zoo.register(zoo.ModelSpec(
    name="tinynet.mine", family="tinynet", config=zoo.config(width=8),
    data=zoo.DataConfig(input_size=64, crop_pct=1.0, interpolation="bilinear"),
    num_params=3 * 3 * 3 * 8 + 8 + 8 * 1000 + 1000, aliases=("tiny_mine",)))
'''


def test_registered_user_model_runs_through_the_app(tmp_path):
    import jax
    import orbax.checkpoint as ocp

    (tmp_path / "my_models.py").write_text(textwrap.dedent(USER_MODULE))
    sys.path.insert(0, str(tmp_path))
    try:
        import my_models
        from jaxquba.data import registry
        from jaxquba.data.preprocess import make_eval_transform
        from jaxquba.models import build_module, make_apply
        spec = my_models.SPEC
        params = build_module(spec).init(jax.random.PRNGKey(1), np.zeros((1, 64, 64, 3), np.float32))["params"]
        assert sum(np.size(a) for a in jax.tree.leaves(params)) == spec.num_params
        checkpointer = ocp.StandardCheckpointer()
        checkpointer.save(tmp_path / "weights", params)
        checkpointer.wait_until_finished()
        # the direct computation: the demo photos through the spec's own transform and apply
        source = registry.open_source("demo", None)
        transform = make_eval_transform(spec.data)
        images = np.stack([transform(source[i]["image"]) for i in range(len(source))]).astype(np.float32) / 255
        labels = np.array([source[i]["label"] for i in range(len(source))])
        top1 = np.asarray(make_apply(spec)(params, images)).argmax(-1)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("my_models", None)

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    out = tmp_path / "out"
    args = [sys.executable, "-m", "jaxquba.main", "--model_module=my_models", "--model=tiny_mine",
            f"--weights={tmp_path / 'weights'}", "--datasets=demo", "--dimensions=accuracy,parameters",
            "--batch_size=4", f"--output_dir={out}"]
    run = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    [model] = json.loads((out / "summary.json").read_text())["models"]
    values = {r["spec"]: r["value"] for r in model["results"]}
    assert model["model"] == "tinynet.mine"
    assert values["top1@demo"] == np.mean(top1 == labels)
    assert values["params_m@tinynet.mine[protocol=quba_paper@v2]"] == round(spec.num_params / 1e6, 1)

    listing = subprocess.run([*args[:4], "--list_models"], capture_output=True, text=True, env=env, timeout=300)
    assert "tinynet.mine" in listing.stdout

    missing = subprocess.run([*args[:3], "--model_module=not_a_module_anywhere", "--model=tiny_mine"],
                             capture_output=True, text=True, env=env, timeout=300)
    assert missing.returncode != 0 and "--model_module=not_a_module_anywhere: no such module" in missing.stderr
    assert "Traceback" not in missing.stderr
