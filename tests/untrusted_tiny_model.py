"""A tiny registered model for the untrusted-input runs (``--model_module=untrusted_tiny_model``): one strided
conv and a 1000-way dense layer on 32x32 inputs, so an app run compiles and evaluates in seconds."""

import flax.linen as nn
import jax.numpy as jnp

from jaxquba import models, zoo


class UntrustedTiny(nn.Module):
    dtype: object = jnp.float32

    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Conv(4, (3, 3), strides=(4, 4), dtype=self.dtype)(x))
        return nn.Dense(1000, dtype=self.dtype)(x.mean(axis=(1, 2)))


models.register_family("untrusted_tiny", lambda dtype, **config: UntrustedTiny(dtype=dtype, **config),
                       converter="untrusted_tiny_model:no_pytorch_checkpoints")
SPEC = zoo.register(zoo.ModelSpec(
    name="untrusted_tiny.test", family="untrusted_tiny", config=(),
    data=zoo.DataConfig(input_size=32, crop_pct=1.0, interpolation="bilinear"),
    num_params=3 * 3 * 3 * 4 + 4 + 4 * 1000 + 1000))
