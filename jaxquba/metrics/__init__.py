"""Pure metric functions of per-example model outputs (the QUBA study, PROTOCOLS.md P1.3).

Each function takes arrays (model outputs, labels, or accuracies already reduced) and returns a number or an
array; none reads files or global state, so the dimension layer can feed them from any engine pass.

Probability-based metrics take ``probs_input``: ``False`` means the outputs are logits (softmax is applied once);
``True`` means the outputs are already probabilities and are used as they are. The ``quba_paper`` protocol passes
``False`` even for probability-output models, which reproduces the published double-softmax quirk (P1.2).
"""
