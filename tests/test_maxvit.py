"""MaxViT (TensorFlow-ported) parity with timm (random init with redrawn norms and position-bias tables, real images)
on a shortened, narrowed base (one block per stage, 1-4 heads of 32 channels): SAME-padded convs (stride 2 in the stem
and every depthwise conv, stride 1 in the stem), MBConv with its pooled 1x1 shortcut, window and grid attention with
the TF relative position bias, and the tanh pre-logits head. (A stage's later blocks differ only by an identity
shortcut and a stride-1 depthwise conv.)"""

from parity_util import check_timm, small_variant

SMALL = dict(depths=(1, 1, 1, 1), embed_dims=(32, 64, 96, 128), stem_width=32)


def test_maxvit_parity(timm_module, shared_data):
    spec = small_variant("maxvit_base_tf_224.in1k", **SMALL)
    check_timm(timm_module, spec, shared_data, n_images=2, depths=SMALL["depths"], embed_dim=SMALL["embed_dims"],
               stem_width=SMALL["stem_width"], head_hidden_size=128)
