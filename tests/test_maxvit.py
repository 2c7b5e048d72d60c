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


def test_maxvit_torchvision_parity(timm_module, shared_data):
    """torchvision's own MaxViT (the published MaxViT-t weights): random-init torchvision ``MaxVit`` of the same
    shortened, narrowed shape against the converted Flax model (torchvision numerics, its layout and logit scale).
    torchvision draws every conv and Linear weight at std 0.02, which leaves attention logits near zero, where a
    wrong logit scale or bias orientation would hardly show: they are redrawn at std fan_in^-0.5 first."""
    import torch
    import torchvision

    from parity_util import assert_parity, compare

    spec = small_variant("tv_maxvit_t.imagenet1k_v1", **SMALL)
    torch.manual_seed(0)
    model = torchvision.models.maxvit.MaxVit(
        input_size=(224, 224), stem_channels=SMALL["stem_width"], partition_size=7,
        block_channels=list(SMALL["embed_dims"]), block_layers=list(SMALL["depths"]), head_dim=32,
        stochastic_depth_prob=0.0)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, weight in model.named_parameters():
            if name.endswith("weight") and weight.ndim >= 2:
                fan_in = weight[0].numel()
                weight.copy_(torch.randn(weight.shape, generator=generator) * fan_in ** -0.5)
    assert_parity(*compare(timm_module, spec, model, shared_data))
