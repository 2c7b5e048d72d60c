"""Evaluation protocols: the faithful reproduction of a published protocol versus the corrected one.

Every result carries the protocol that produced it (its name and version are part of each result's spec).

* ``quba_paper``: reproduces the published "Beyond Accuracy" numbers, quirks included (PROTOCOLS.md P1.2/P1.3):
  attacks act on the network input, the tensor the model's own transform produces (the normalised image for most
  models, the image for RobustBench's, ``[x, 1 - x]`` for B-cos; :func:`jaxquba.models.network_input`) and clamp it
  to [0, 1], and models whose peer wrapper returns
  probabilities (zero-shot CLIP heads, ``ModelSpec.output == 'probs'``) have those probabilities treated as
  logits downstream (a second softmax in calibration and class balance, cross-entropy on probabilities in attacks);
  SigLIP's wrapper returned per-class sigmoids (``ModelSpec.output == 'sigmoid_probs'``), treated the same way.
* ``pixel``: the corrected protocol: epsilon in pixel space, and every model's raw logits used once.

Both evaluate every dimension in eval mode. The peer's harness does so only where the attacks do not run before the
other dimensions in one process: its model wrapper overrides ``eval()`` without clearing its own ``training`` flag,
torchattacks restores the mode that flag reports after each attack, and so the network runs in training mode (batch
statistics over shuffled batches, active dropout) from the first attacked batch on, through C-Rob, OOD, calibration
and class balance, until object focus calls ``eval()`` again. That cannot be reproduced deterministically and is not;
``bench/peer_end_to_end.py`` runs the peer both ways (bench/RESULTS.md: in eval mode its values equal jaxquba's).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax

from jaxquba.errors import UserError


@dataclasses.dataclass(frozen=True)
class Protocol:
    name: str
    version: int
    attack_space: str  # 'network_input' (the QUBA quirk) or 'pixel'
    probs_as_logits: bool  # feed probability-output models' probabilities to metrics as if they were logits

    @property
    def spec(self) -> str:
        return f"{self.name}@v{self.version}"


PROTOCOLS = {
    # v2: the attacks perturb each family's network input (v1 took (x - mean) / std for every model, so it attacked
    # RobustBench models in normalised units and B-cos models on the 3-channel image, unlike the peer).
    "quba_paper": Protocol("quba_paper", 2, attack_space="network_input", probs_as_logits=True),
    "pixel": Protocol("pixel", 1, attack_space="pixel", probs_as_logits=False),
}


def get(name: str) -> Protocol:
    if name not in PROTOCOLS:
        raise UserError(f"unknown protocol {name!r}; use one of: {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]


def model_outputs(classifier: Any, protocol: Protocol, on_network_input: bool = False
                  ) -> Callable[[Any, jax.Array], jax.Array]:
    """``f(params, images01)``: what the protocol's metrics and attacks treat as the model's logits; with
    ``on_network_input``, ``f(params, network_input)`` of the same
    (:meth:`jaxquba.models.Classifier.network_input_fns`).

    Under ``quba_paper``, a model whose peer wrapper returned probabilities returns them here: softmax(logits)
    (``output='probs'``, CLIP), so that the metrics' own softmax makes it the published double softmax, or
    sigmoid(logits) (``output='sigmoid_probs'``, SigLIP's independent per-class probabilities), which the metrics
    then softmax as the peer did. Otherwise the logits themselves.
    """
    apply = classifier.network_input_fns()[1] if on_network_input else classifier.apply
    if protocol.probs_as_logits and classifier.spec.output == "probs":
        return lambda params, x: jax.nn.softmax(apply(params, x), axis=-1)
    if protocol.probs_as_logits and classifier.spec.output == "sigmoid_probs":
        return lambda params, x: jax.nn.sigmoid(apply(params, x))
    return apply
