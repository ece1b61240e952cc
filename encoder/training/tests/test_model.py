"""Shapes, training math and invariants of model.py on the tiny preset."""

import pytest
import torch
import torch.nn.functional as F

from model import (ALBEF, Batch, ModelConfig, StepOptions, fusion_flops_per_pair, mask_tokens, preset, sample_hard_negatives,
                   sincos_2d_positions)


def tiny(**overrides) -> ALBEF:
    torch.manual_seed(0)
    return ALBEF(preset("tiny", vocab_size=50, **overrides))


def batch(cfg: ModelConfig, b=4, length=7):
    torch.manual_seed(1)
    pixels = torch.randn(b, 3, cfg.image_size, cfg.image_size)
    ids = torch.randint(cfg.mask_id + 1, cfg.vocab_size, (b, length))
    ids[:, 0] = cfg.cls_id
    ids[:, -1] = cfg.sep_id
    mask = torch.ones(b, length, dtype=torch.long)
    mask[0, -2:] = 0  # one padded caption
    ids[0, -2:] = cfg.pad_id
    return pixels, ids, mask, torch.arange(b)


@pytest.mark.parametrize("bridge,fusion_positions", [(False, False), (True, False), (False, True), (True, True)])
def test_shapes_of_every_module(bridge, fusion_positions):
    model = tiny(bridge=bridge, fusion_image_positions=fusion_positions)
    cfg = model.cfg
    pixels, ids, mask, _ = batch(cfg)
    n = cfg.fusion_layers if bridge else 1
    states = model.vision(pixels)
    assert len(states) == cfg.vision_layers and states[-1].shape == (4, cfg.image_tokens, cfg.vision_width)
    text_states = model.text(ids, mask)
    assert len(text_states) == cfg.text_layers and text_states[-1].shape == (4, 7, cfg.text_width)
    image_embed, image_feats = model.encode_image(pixels)
    text_embed, text_feats = model.encode_text(ids, mask)
    assert image_embed.shape == (4, cfg.embed_dim) and text_embed.shape == (4, cfg.embed_dim)
    torch.testing.assert_close(image_embed.norm(dim=-1), torch.ones(4))
    torch.testing.assert_close(text_embed.norm(dim=-1), torch.ones(4))
    assert image_feats.shape == (4, n * cfg.image_tokens, cfg.text_width)
    assert text_feats.shape == (4, n * 7, cfg.text_width)
    image_mask = torch.ones(4, cfg.image_tokens, dtype=torch.long)
    fused = model.fuse(text_feats, mask, image_feats, image_mask)
    assert fused.shape == (4, 7, cfg.text_width)
    assert model.itm_logits(text_feats, mask, image_feats, image_mask).shape == (4, 2)
    assert model.mlm_head(fused).shape == (4, 7, cfg.vocab_size)


def test_bridge_layers_change_the_fusion_and_read_each_uni_modal_layer():
    plain, bridged = tiny(bridge=False), tiny(bridge=True, fusion_layers=2)
    assert not hasattr(plain.fusion, "text_bridges")
    assert len(bridged.fusion.text_bridges) == 2 and len(bridged.fusion.image_bridges) == 2
    cfg = bridged.cfg
    pixels, ids, mask, _ = batch(cfg)
    _, image_feats = bridged.encode_image(pixels)
    # The stored features hold the top-2 vision layers, layer-major: the second half is the last layer.
    states = bridged.vision(pixels)
    torch.testing.assert_close(image_feats[:, cfg.image_tokens:], bridged.image_feature_proj(states[-1]))
    torch.testing.assert_close(image_feats[:, : cfg.image_tokens], bridged.image_feature_proj(states[-2]))
    # Changing only the lower uni-modal layer's features changes the fused output.
    _, text_feats = bridged.encode_text(ids, mask)
    image_mask = torch.ones(4, cfg.image_tokens, dtype=torch.long)
    base = bridged.itm_logits(text_feats, mask, image_feats, image_mask)
    perturbed = image_feats.clone()
    perturbed[:, : cfg.image_tokens] += torch.randn_like(perturbed[:, : cfg.image_tokens])  # not a shift: LayerNorm removes those
    assert not torch.allclose(base, bridged.itm_logits(text_feats, mask, perturbed, image_mask))


def test_sincos_positions_are_fixed_distinct_and_monotonic_in_the_coordinates():
    codes = sincos_2d_positions(grid=8, width=32)[0]
    assert codes.shape == (65, 32) and bool((codes[0] == 0).all())  # [CLS] row
    patches = codes[1:].view(8, 8, 32)  # [row, column, channel]
    flat = patches.reshape(64, 32)
    assert torch.cdist(flat, flat).add(torch.eye(64) * 1e3).min() > 0.1  # every patch its own code
    # Some column channel rises strictly, by a usable amount, from the left edge to the right and
    # ignores the row (a near-linear read-out of x); likewise a row channel for y. (A least-squares
    # fit over all channels says the same but is ill-conditioned in float32.)
    def rising_channels(along_columns: bool):
        found = []
        for c in range(32):
            grid = patches[..., c] if along_columns else patches[..., c].T
            line = grid[0]
            if bool((grid == line).all()) and bool((line.diff() > 0).all()) and float(line[-1] - line[0]) > 0.5:
                found.append(c)
        return found
    x_channels, y_channels = rising_channels(True), rising_channels(False)
    assert x_channels and all(c < 16 for c in x_channels)
    assert y_channels and all(c >= 16 for c in y_channels)


def fused_and_logits(model, ids, mask, pixels):
    _, image_feats = model.encode_image(pixels)
    _, text_feats = model.encode_text(ids, mask)
    image_mask = torch.ones(len(ids), model.cfg.image_tokens, dtype=torch.long)
    return (model.fuse(text_feats, mask, image_feats, image_mask),
            model.itm_logits(text_feats, mask, image_feats, image_mask))


def test_itm_reads_the_fused_cls_state():
    model = tiny().eval()
    pixels, ids, mask, _ = batch(model.cfg)
    with torch.no_grad():
        fused, logits = fused_and_logits(model, ids, mask, pixels)
    torch.testing.assert_close(logits, model.itm_head(fused[:, 0]))


def image_token_permutation_effect(model) -> float:
    """How much shuffling the patch tokens (not [CLS]) the fusion encoder reads changes its output."""
    cfg = model.cfg
    pixels, ids, mask, _ = batch(cfg)
    with torch.no_grad():
        _, image_feats = model.encode_image(pixels)
        _, text_feats = model.encode_text(ids, mask)
        image_mask = torch.ones(len(ids), cfg.image_tokens, dtype=torch.long)
        order = torch.cat([torch.zeros(1, dtype=torch.long), 1 + torch.randperm(cfg.num_patches, generator=torch.Generator().manual_seed(0))])
        fused = model.fuse(text_feats, mask, image_feats, image_mask)
        shuffled = model.fuse(text_feats, mask, image_feats[:, order], image_mask)
    return float((shuffled - fused).abs().amax())


def test_fusion_without_image_positions_cannot_tell_where_a_token_is():
    # Cross-attention is a weighted sum over keys: without positions in the tokens, shuffling
    # them changes nothing, which is why relations need positions the ViT kept or these codes.
    # At init attention is near uniform, so even with positions the effect is small (~1e-5);
    # without them it is float rounding (~1e-7).
    assert image_token_permutation_effect(tiny().eval()) < 1e-6
    assert image_token_permutation_effect(tiny(fusion_image_positions=True).eval()) > 1e-6


def test_fusion_image_positions_load_from_a_checkpoint_without_them():
    plain = tiny()
    with_codes = tiny(fusion_image_positions=True)
    assert "fusion.image_position_codes" not in with_codes.state_dict()  # not persistent
    with_codes.load_state_dict(plain.state_dict())  # strict: same keys
    codes = with_codes.fusion.image_position_codes
    assert codes.shape == (1, 1, with_codes.cfg.image_tokens, with_codes.cfg.text_width)
    assert torch.equal(codes[0, 0, 0], torch.zeros(with_codes.cfg.text_width))  # [CLS] has no place


def test_reset_fusion_reinitialises_only_the_fusion_encoder_and_itm_head():
    model = tiny()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for p in model.fusion.parameters():
            p.add_(1.0)  # as if trained
    model.reset_fusion()
    after = model.state_dict()
    changed = {k.split(".")[0] for k in after if not torch.equal(after[k], before[k])}
    assert changed <= {"fusion", "itm_head", "fusion_m"} and "fusion" in changed and "itm_head" in changed
    for (name, p), (_, p_m) in zip(model.fusion.named_parameters(), model.fusion_m.named_parameters()):
        assert torch.equal(p, p_m), name
    norms = [m.weight for m in model.fusion.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert all(torch.equal(w, torch.ones_like(w)) for w in norms)  # the construction-time init


def test_itm_with_swaps_only_scores_each_caption_against_its_own_swap():
    model = tiny().eval()
    pixels, ids, mask, image_idx = batch(model.cfg)
    swap_ids = ids.flip(1).clone()  # any other caption will do
    swap_valid = torch.tensor([True, False, True, True])
    with torch.no_grad():
        loss = model(Batch(pixels, ids, mask, image_idx, swap_ids, mask, swap_valid),
                     StepOptions(alpha=0.0, mlm=False, itc=False, in_batch_negatives=False))["itm"]
        _, image_feats = model.encode_image(pixels)
        _, text_feats = model.encode_text(ids, mask)
        _, swap_feats = model.encode_text(swap_ids[swap_valid], mask[swap_valid])
        image_mask = torch.ones(4, model.cfg.image_tokens, dtype=torch.long)
        logits = torch.cat([model.itm_logits(text_feats, mask, image_feats, image_mask),
                            model.itm_logits(swap_feats, mask[swap_valid], image_feats[swap_valid], image_mask[:3])])
    expected = F.cross_entropy(logits, torch.tensor([1, 1, 1, 1, 0, 0, 0]))
    torch.testing.assert_close(loss, expected)
    with pytest.raises(ValueError, match="in_batch_negatives=False needs itc=False and swapped captions"):
        model(Batch(pixels, ids, mask, image_idx), StepOptions(alpha=0.0, mlm=False, itc=False, in_batch_negatives=False))


def test_fusion_image_positions_need_a_text_width_divisible_by_four():
    with pytest.raises(ValueError, match=r"fusion image positions need a text width divisible by 4, not \[30\]"):
        ModelConfig(text_width=30, text_heads=3, fusion_image_positions=True)


def test_itm_only_step_trains_the_fusion_encoder_and_head_alone():
    model = tiny(fusion_image_positions=True)
    pixels, ids, mask, image_idx = batch(model.cfg)
    # With swapped captions too: they must not train the text encoder either.
    losses = model(Batch(pixels, ids, mask, image_idx, ids.flip(1).clone(), mask, torch.ones(4, dtype=torch.bool)),
                   StepOptions(alpha=0.0, mlm=False, itc=False))
    assert set(losses) == {"itm"}
    losses["itm"].backward()
    with_grad = {n.split(".")[0] for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert with_grad == {"fusion", "itm_head"}
    with pytest.raises(ValueError, match="mlm needs itc"):
        model(Batch(pixels, ids, mask, image_idx), StepOptions(alpha=0.0, mlm=True, itc=False))


def test_a_config_naming_a_removed_switch_at_its_built_value_loads():
    """Checkpoints and manifests written before the experiment switches were removed still load."""
    old = {**preset("tiny").to_dict(), "conv_stem": False, "image_positions": "learned", "fusion_attention": "bidirectional"}
    assert ModelConfig.from_dict(old) == preset("tiny")


@pytest.mark.parametrize("key,value", [("conv_stem", True), ("image_positions", "sincos"), ("fusion_attention", "causal")])
def test_a_config_naming_a_removed_switch_at_another_value_is_refused(key, value):
    with pytest.raises(ValueError, match=rf"config \[{key}\] is \[{value}\]: that switch was removed"):
        ModelConfig.from_dict({**preset("tiny").to_dict(), key: value})


def test_bridge_needs_enough_uni_modal_layers():
    with pytest.raises(ValueError, match="bridge needs fusion_layers"):
        ModelConfig(bridge=True, fusion_layers=3, text_layers=2)


def test_padding_does_not_change_the_text_embedding():
    model = tiny().eval()
    cfg = model.cfg
    ids = torch.tensor([[cfg.cls_id, 10, 11, cfg.sep_id]])
    padded = torch.tensor([[cfg.cls_id, 10, 11, cfg.sep_id, cfg.pad_id, cfg.pad_id]])
    e1, f1 = model.encode_text(ids, torch.ones_like(ids))
    e2, f2 = model.encode_text(padded, torch.tensor([[1, 1, 1, 1, 0, 0]]))
    torch.testing.assert_close(e1, e2, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(f1, f2[:, :4], atol=1e-5, rtol=1e-5)


def test_loss_falls_on_tiny_within_60_steps():
    # As the trainer does: warm-up and gradient clipping; fresh image ids each step, as distinct
    # images would have, so the queue holds negatives rather than stale positives.
    model = tiny()
    pixels, ids, mask, idx = batch(model.cfg, b=8)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-3)
    totals = []
    for step in range(60):
        for group in optimizer.param_groups:
            group["lr"] = 1e-3 * min(1.0, (step + 1) / 10)
        losses = model(Batch(pixels, ids, mask, idx + 8 * step), StepOptions(alpha=0.0))
        loss = sum(losses.values())
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        totals.append({k: v.item() for k, v in losses.items()})
    first, last = totals[1], totals[-1]  # step 0's ITC sees the random initial queue
    assert last["itc"] < 0.5 * first["itc"], totals
    assert last["mlm"] < first["mlm"], totals


def test_momentum_update_is_an_exponential_moving_average():
    model = tiny()
    m = model.cfg.momentum
    online = next(model.vision.parameters())
    twin = next(model.vision_m.parameters())
    torch.testing.assert_close(online, twin)  # copies at init
    with torch.no_grad():
        before = twin.clone()
        online.add_(1.0)
    model.momentum_update()
    torch.testing.assert_close(twin, m * before + (1 - m) * online)
    assert not twin.requires_grad


def test_queue_replaces_the_oldest_entries_and_wraps():
    model = tiny()  # queue_size 64
    d = model.cfg.embed_dim
    first = F.normalize(torch.randn(40, d), dim=1)
    model.enqueue(first, first, torch.arange(40))
    assert int(model.queue_ptr) == 40
    torch.testing.assert_close(model.image_queue[:, :40], first.T)
    second = F.normalize(torch.randn(40, d), dim=1)
    model.enqueue(second, second, torch.arange(100, 140))
    assert int(model.queue_ptr) == 16  # (40 + 40) % 64
    torch.testing.assert_close(model.text_queue[:, 40:64], second[:24].T)
    torch.testing.assert_close(model.text_queue[:, :16], second[24:].T)
    assert model.idx_queue[0, :16].tolist() == list(range(124, 140))
    assert model.idx_queue[0, 16:40].tolist() == list(range(16, 40))


def test_training_step_fills_the_queue_with_momentum_features():
    model = tiny()
    pixels, ids, mask, idx = batch(model.cfg)
    model(Batch(pixels, ids, mask, idx + 7), StepOptions(alpha=0.4))
    assert int(model.queue_ptr) == 4
    assert model.idx_queue[0, :4].tolist() == [7, 8, 9, 10]
    with torch.no_grad():
        expected, _ = model.encode_image(pixels, momentum=True)
    torch.testing.assert_close(model.image_queue[:, :4], expected.T, atol=1e-5, rtol=1e-5)


def test_hard_negatives_never_return_the_positive_or_a_duplicate_caption():
    torch.manual_seed(0)
    image_idx = torch.tensor([0, 0, 1, 2, 2, 2, 3, 4])  # captions of the same image share an id
    for _ in range(200):
        # Make the positives by far the most similar, so a bug would pick them.
        sim = torch.randn(8, 8) + 50 * torch.eq(image_idx.view(-1, 1), image_idx.view(1, -1)).float()
        negatives = sample_hard_negatives(sim, image_idx)
        assert (image_idx[negatives] != image_idx).all()


def test_hard_negatives_prefer_similar_items():
    torch.manual_seed(0)
    image_idx = torch.arange(4)
    sim = torch.tensor([[9.0, 5.0, 0.0, 0.0]] * 4)
    picks = [int(sample_hard_negatives(sim, image_idx)[0]) for _ in range(200)]
    assert picks.count(1) > 150  # softmax(5, 0, 0) puts ~99% on column 1


def test_hard_negatives_refuse_a_batch_of_one_image():
    with pytest.raises(ValueError, match="no negative"):
        sample_hard_negatives(torch.zeros(3, 3), torch.tensor([5, 5, 5]))


def test_mask_tokens_never_masks_special_tokens_and_masks_about_15_percent():
    cfg = preset("tiny", vocab_size=50)
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(cfg.mask_id + 1, 50, (200, 20), generator=generator)
    ids[:, 0], ids[:, -1] = cfg.cls_id, cfg.sep_id
    mask = torch.ones_like(ids)
    masked, labels = mask_tokens(ids, mask, cfg, generator=generator)
    chosen = labels != -100
    assert not chosen[:, 0].any() and not chosen[:, -1].any()
    assert 0.12 < chosen[:, 1:-1].float().mean() < 0.18
    assert (labels[chosen] == ids[chosen]).all()
    assert 0.75 < (masked[chosen] == cfg.mask_id).float().mean() < 0.85


def test_fusion_flops_grow_with_tokens():
    cfg = preset("small")
    assert fusion_flops_per_pair(cfg, 32) > fusion_flops_per_pair(cfg, 16) > 0


def test_unknown_preset_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown preset \[huge\]; valid presets: \['base', 'small', 'tiny'\]"):
        preset("huge")


@pytest.mark.parametrize("bridge", [False, True])
def test_a_training_step_gives_finite_losses_and_gradients(bridge):
    model = tiny(bridge=bridge)
    pixels, ids, mask, idx = batch(model.cfg)
    losses = model(Batch(pixels, ids, mask, idx), StepOptions(alpha=0.4))
    assert set(losses) == {"itc", "itm", "mlm"} and all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert model.fusion.layers[0].cross.k.weight.grad.abs().sum() > 0
    if bridge:
        assert model.fusion.image_bridges[0].weight.grad.abs().sum() > 0


def test_uniform_negatives_when_hard_ratio_is_zero_still_never_the_positive():
    torch.manual_seed(0)
    image_idx = torch.tensor([0, 0, 1, 2])
    sim = torch.tensor([[0.0, 0.0, 30.0, 0.0]] * 4)  # column 2 would win every hard draw
    picks = torch.stack([sample_hard_negatives(sim, image_idx, hard_ratio=0.0) for _ in range(400)])
    assert (image_idx[picks] != image_idx).all()
    row0 = picks[:, 0].tolist()
    assert 120 < row0.count(3) < 280  # row 0 picks columns 2 and 3 about equally
    with pytest.raises(ValueError, match=r"hard_ratio \[1.5\]"):
        sample_hard_negatives(sim, image_idx, hard_ratio=1.5)


def test_swapped_caption_negatives_join_the_itm_loss_only_where_valid():
    model = tiny()
    pixels, ids, mask, idx = batch(model.cfg)
    swap_ids = ids.flip(1).clone()
    none_valid = torch.zeros(4, dtype=torch.bool)
    torch.manual_seed(5)
    plain = model(Batch(pixels, ids, mask, idx), StepOptions(alpha=0.0, mlm=False))["itm"]
    torch.manual_seed(5)
    masked_out = model(Batch(pixels, ids, mask, idx, swap_ids, mask, none_valid), StepOptions(alpha=0.0, mlm=False))["itm"]
    torch.manual_seed(5)
    with_swaps = model(Batch(pixels, ids, mask, idx, swap_ids, mask, torch.tensor([True, False, True, True])),
                       StepOptions(alpha=0.0, mlm=False))["itm"]
    assert torch.allclose(plain, masked_out)
    assert torch.isfinite(with_swaps) and not torch.allclose(plain, with_swaps)


@pytest.mark.parametrize("bridge", [False, True])
def test_evaluation_scores_pairs_of_either_design(bridge):
    """evaluation.itm_match_scores' image mask has one row per token of a layer: with bridge layers
    the features hold several layers (a mask over all of them crashed the bridge model's val pass)."""
    import evaluation

    model = tiny(bridge=bridge).eval()
    pixels, ids, mask, _ = batch(model.cfg)
    with torch.no_grad():
        _, image_feats = model.encode_image(pixels)
        _, text_feats = model.encode_text(ids, mask)
        scores = evaluation.itm_match_scores(model, text_feats[:1], mask[:1], image_feats)
        pairwise = model.itm_logits(text_feats[:1].expand(4, -1, -1), mask[:1].expand(4, -1), image_feats,
                                    torch.ones(4, image_feats.shape[1] // model.cfg.feature_layers, dtype=torch.long))[:, 1]
    assert scores.shape == (4,)
    assert torch.allclose(scores, pairwise)
