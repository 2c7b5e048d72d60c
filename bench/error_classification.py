"""Benchmark: classify all errors of 100 models x 20,000 images, vectorised vs a per-image Python loop (same rules,
same run, outputs checked equal). Synthetic predictions with realistic error rates (top-1 accuracy 70-90 %, errors
drawn 40 % from the target's superclass, 60 % uniformly); relations from WordNet + the shared ReaL labels; the
CLIP-OOV rule with a fake chooser on a 20 % gate, so its caches are exercised. Appends nothing: prints a markdown row.

    .venv/bin/python bench/error_classification.py [--models 100] [--images 20000] [--loop_models 5]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from jaxquba.error_analysis import analysis, inputs
from jaxquba.error_analysis.classify import classify, classify_one
from jaxquba.error_analysis.oov import OOVRule, Proposals
from jaxquba.testing.shared_data import shared_data_dir


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--loop_models", type=int, default=5, help="models run through the Python loop (time scaled)")
    args = parser.parse_args()
    shared = shared_data_dir()
    rng = np.random.default_rng(0)
    real = json.loads((shared / "real_labels" / "real.json").read_text())
    image_ids = np.sort(rng.choice(50_000, args.images, replace=False))
    names = inputs.validation_file_names()
    rel = analysis.build_relations(real, [names[i] for i in image_ids])
    targets = inputs.validation_targets()[image_ids]
    # multi-label sets: the target plus, for 10 % of images, one of its ReaL labels
    records = [{"file_name": names[i], "original_label": int(t),
                "correct_multi_labels": [int(t)] + ([int(real[i][-1])] if real[i] and rng.random() < 0.1 else []),
                "unclear_multi_labels": [], "is_problematic": bool(rng.random() < 0.065)}
               for i, t in zip(image_ids, targets)]
    data = inputs.from_records(records)
    accuracy = rng.uniform(0.7, 0.9, (args.models, 1))
    peers = [np.flatnonzero(rel.same_superclass[c]) for c in range(1000)]
    near = np.array([rng.choice(peers[t]) for t in targets])
    wrong = np.where(rng.random((args.models, args.images)) < 0.4, near[None], rng.integers(0, 1000, (args.models, args.images)))
    predictions = np.where(rng.random((args.models, args.images)) < accuracy, targets[None], wrong)
    nonproto = inputs.read_non_prototypical(shared / "error_analysis" / "imagenet_mistakes")
    neighbours = np.where(rng.random((args.images, 10)) < 0.02, near[:, None], rng.integers(0, 1000, (args.images, 10)))

    def rule():
        r = OOVRule(lambda qs: [len(q.image) % 2 for q in qs], rel.same_superclass, neighbours)
        r.proposals = lambda p, t: Proposals(("A photo of a class", "A photo of a gizmo"), (p, 10**7))
        return r

    errors = int((predictions != targets[None]).sum())
    sets = data.sets()
    for label, make_rule in (("rules 1-9, CLIP-OOV with fake chooser", rule), ("rules without CLIP-OOV", lambda: None)):
        start = time.perf_counter()
        vectorised = classify(predictions, data, rel, nonproto, make_rule())
        t_vec = time.perf_counter() - start
        loop_rule = make_rule()
        start = time.perf_counter()
        looped = [[classify_one(int(data.targets[i]), sets[i], int(predictions[k, i]), data.file_names[i], i, rel,
                                nonproto, loop_rule) for i in range(args.images)] for k in range(args.loop_models)]
        t_loop = (time.perf_counter() - start) * args.models / args.loop_models
        assert vectorised[: args.loop_models].tolist() == looped, "vectorised and loop outputs differ"
        print(f"| {label} | {args.models} x {args.images} | {errors:,} | {t_vec:.2f} s | {t_loop:.1f} s (loop run "
              f"on {args.loop_models} models, scaled) | {t_loop / t_vec:.0f}x | equal on {args.loop_models} models |")

if __name__ == "__main__":
    main()
