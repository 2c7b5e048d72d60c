"""Each study's settings reach its dimensions through the Context, built by the app from the study's flags; without
the app (no parsed flags, no ``Context.studies``) every study runs on its defaults."""

from __future__ import annotations

import subprocess
import sys

from jaxquba import zoo
from jaxquba.error_analysis import dimensions as E
from jaxquba.generalization import dimensions as G
from jaxquba.quba import dimensions as Q
from jaxquba.dimensions.base import Context
from jaxquba.protocols import PROTOCOLS

PARSE = """
from absl import flags
from jaxquba.app import study_flags
flags.FLAGS(['app', '--p2_imagenet_c=/c/root', '--p2_imagenet_cbar=/cbar/root', '--quba_imagenet_c=tfds',
             '--quba_in_to_in9=/in9.json', '--errors_clip', '--errors_multilabel=/m.json'])
s = study_flags.study_settings(flags.FLAGS, 'gs://bucket/out/')
print(s['p2'].imagenet_c_root, s['p2'].imagenet_cbar_root, s['p2'].imagenet_c()[('fog', 3)], s['quba'].imagenet_c,
      s['quba'].in_to_in9, s['quba'].imagenet_r, s['errors'].clip, s['errors'].multilabel, s['errors'].report_dir)
"""


def test_study_settings_come_from_the_flags():
    """In a subprocess, so that this process's flags stay unparsed."""
    out = subprocess.run([sys.executable, "-c", PARSE], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["/c/root", "/cbar/root", "folder:/c/root/fog/3", "tfds", "/in9.json", "imagenet_r", "True",
                   "/m.json", "gs://bucket/out/errors"]


def test_without_the_app_each_study_has_its_defaults():
    ctx = Context("ref", PROTOCOLS["pixel"], 0, zoo.get("tf_efficientnet_lite0"))
    assert G.settings_of(ctx) == G.P2Datasets()  # tfds ImageNet-C, no C-bar
    assert Q.settings_of(ctx) == Q.QubaDatasets()  # on-device release-style C-Rob views
    assert E.settings_of(ctx) == E.ErrorSettings()  # tfds multi-labels, no CLIP
    given = Context("ref", PROTOCOLS["pixel"], 0, zoo.get("tf_efficientnet_lite0"),
                    studies={"p2": G.P2Datasets(imagenet_c_root="/r")})
    assert G.settings_of(given).imagenet_c_root == "/r" and Q.settings_of(given) == Q.QubaDatasets()
