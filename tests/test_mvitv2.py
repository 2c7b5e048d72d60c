"""MViTv2 parity with timm (random init, real images): pooling attention with decomposed relative positions and
residual pooling; widening in the attention (Tiny ... Base) and in the MLP (Large, on a 1-1-2-1 block variant)."""

from parity_util import assert_parity, compare, parity_logits, small_variant

SMALL_DEPTHS = (1, 1, 2, 1)


def test_mvitv2_tiny_parity(timm_module, shared_data):
    assert_parity(*parity_logits(timm_module, "mvitv2_tiny.fb_in1k", shared_data, n_images=2))


def test_mvitv2_large_layout_parity(timm_module, shared_data):
    """Large's ``expand_attn=False`` path with few blocks (the full model is 218M parameters)."""
    import torch
    from timm.models.mvitv2 import MultiScaleVit, MultiScaleVitCfg

    torch.manual_seed(0)
    model = MultiScaleVit(MultiScaleVitCfg(depths=SMALL_DEPTHS, embed_dim=144, num_heads=2, expand_attn=False),
                          img_size=(224, 224))
    spec = small_variant("mvitv2_large.fb_in1k", depths=SMALL_DEPTHS)
    assert_parity(*compare(timm_module, spec, model, shared_data, n_images=1))
