"""The training loop end to end on the tiny preset: logs, evaluation, checkpoints, resume."""

import json
import math
from pathlib import Path

import pytest
import torch

import pretrain
from model import ALBEF


def records(run, event):
    return [r for r in map(json.loads, (run / "log.jsonl").read_text().splitlines()) if r["event"] == event]


def changed_modules(trained: dict, source: dict) -> set[str]:
    """Top-level modules of which some floating-point weight differs between two checkpoints."""
    return {name.split(".")[0] for name, value in trained["model"].items()
            if value.is_floating_point() and not torch.equal(value, source["model"][name])}


def test_logs_every_loss_and_throughput(tiny_run):
    train = records(tiny_run, "train")
    assert train, "no train records"
    for record in train:
        assert {"loss_itc", "loss_itm", "loss_mlm", "images_per_s", "lr", "alpha"} <= record.keys()
        assert all(math.isfinite(record[k]) for k in ("loss_itc", "loss_itm", "loss_mlm"))
    # alpha is ramped from 0 during the first epoch (the run has two).
    assert train[-1]["epoch"] == 1 and train[0]["alpha"] < train[-1]["alpha"]


def test_evaluates_each_epoch_with_the_albef_protocol(tiny_run):
    evals = records(tiny_run, "eval")
    assert [e["epoch"] for e in evals] == [0, 1]
    results = evals[-1]["results"]
    assert set(results) == {"ITC", "ITC+ITM k=4", "ITC+ITM k=8"}
    for r in results.values():
        assert 0 <= r["txt_r1"] <= r["txt_r5"] <= r["txt_r10"] <= 100
        assert r["rsum"] == pytest.approx(sum(r[k] for k in ("txt_r1", "txt_r5", "txt_r10", "img_r1", "img_r5", "img_r10")), abs=0.1)


def test_checkpoint_carries_its_config_and_tokenizer(tiny_run):
    model, checkpoint = pretrain.model_from_checkpoint(tiny_run / "checkpoint_last.pt")
    assert isinstance(model, ALBEF)
    assert checkpoint["config"]["vocab_size"] == model.cfg.vocab_size
    assert json.loads(checkpoint["tokenizer_json"])["model"]["type"] == "WordPiece"
    assert checkpoint["epoch"] == 1 and checkpoint["step"] == 12  # 48 images / batch 8 x 2 epochs


def test_a_checkpoint_naming_removed_switches_loads_only_at_their_built_values(tiny_run, tmp_path):
    checkpoint = torch.load(tiny_run / "checkpoint_last.pt", weights_only=False)
    retired = {"conv_stem": False, "image_positions": "learned", "fusion_attention": "bidirectional"}
    old = tmp_path / "old.pt"
    torch.save({**checkpoint, "config": {**checkpoint["config"], **retired}}, old)
    model, _ = pretrain.model_from_checkpoint(old)
    assert model.cfg.to_dict() == checkpoint["config"]
    torch.save({**checkpoint, "config": {**checkpoint["config"], **retired, "fusion_attention": "causal"}}, old)
    with pytest.raises(ValueError, match=r"config \[fusion_attention\] is \[causal\]"):
        pretrain.model_from_checkpoint(old)


def test_resume_continues_from_the_saved_step(tiny_run, scenes_dir, tmp_path):
    out = tmp_path / "resumed"
    pretrain.main([
        "--train-ann", str(scenes_dir / "train.json"), "--image-root", str(scenes_dir), "--out", str(out),
        "--resume", str(tiny_run / "checkpoint_last.pt"), "--epochs", "3", "--batch-size", "8",
        "--log-every", "1", "--threads", "1",
    ])
    steps = [r["step"] for r in records(out, "train")]
    assert steps[0] == 13 and steps[-1] == 18
    resumed = torch.load(out / "checkpoint_last.pt", weights_only=False)
    assert resumed["epoch"] == 2


def test_a_batch_larger_than_the_data_is_a_clear_error(scenes_dir, tmp_path):
    with pytest.raises(ValueError, match=r"batch size \[64\]"):
        pretrain.main(["--train-ann", str(scenes_dir / "train.json"), "--image-root", str(scenes_dir),
                       "--out", str(tmp_path), "--preset", "tiny", "--batch-size", "64", "--threads", "1"])


def test_pairs_are_grouped_by_the_datasets_image_index():
    pairs = [(0, "a"), (0, "b"), (1, "c"), (2, "d"), (2, "e"), (2, "f")]
    assert pretrain.pairs_by_image(pairs) == [[0, 1], [2], [3, 4, 5]]


def test_sampler_gives_each_image_once_per_epoch_sharded_by_rank():
    groups = [[0, 1], [2], [3, 4, 5], [6], [7]]
    ranks = [list(pretrain.OneCaptionPerImageSampler(groups, seed=1, world=2, rank=r)) for r in (0, 1)]
    images = [next(i for i, g in enumerate(groups) if p in g) for p in ranks[0] + ranks[1]]
    assert len(images) == 4 and len(set(images)) == 4  # 5 images, dropped to a multiple of the world


def test_learning_rate_warms_up_then_decays_to_the_minimum():
    args = pretrain.parse_args(["--train-ann", "x", "--image-root", "x", "--out", "x", "--lr", "1e-3",
                                "--min-lr", "1e-5", "--warmup-steps", "10"])
    assert pretrain.learning_rate(0, 100, args) == pytest.approx(1e-4)
    assert pretrain.learning_rate(9, 100, args) == pytest.approx(1e-3)
    assert pretrain.learning_rate(100, 100, args) == pytest.approx(1e-5)


def test_finetune_from_a_pretrained_checkpoint_keeps_its_config_and_tokenizer(tiny_run, scenes_dir, tmp_path):
    out = tmp_path / "finetuned"
    pretrain.main([
        "--train-ann", str(scenes_dir / "train.json"), "--image-root", str(scenes_dir), "--out", str(out),
        "--init", str(tiny_run / "checkpoint_last.pt"), "--mode", "finetune", "--epochs", "1", "--batch-size", "8",
        "--queue-warmup-steps", "0", "--log-every", "1", "--threads", "1",
    ])
    assert (out / "tokenizer.json").read_text() == (tiny_run / "tokenizer.json").read_text()
    first = records(out, "train")[0]
    assert "loss_mlm" not in first and {"loss_itc", "loss_itm"} <= first.keys()
    finetuned = torch.load(out / "checkpoint_last.pt", weights_only=False)
    assert finetuned["config"] == torch.load(tiny_run / "checkpoint_last.pt", weights_only=False)["config"]


def test_itm_mode_trains_only_the_fusion_encoder_and_itm_head(tiny_run, scenes_dir, tmp_path):
    out = tmp_path / "itm"
    source = torch.load(tiny_run / "checkpoint_last.pt", weights_only=False)
    pretrain.main([
        "--train-ann", str(scenes_dir / "train.json"), "--image-root", str(scenes_dir), "--out", str(out),
        "--init", str(tiny_run / "checkpoint_last.pt"), "--mode", "itm", "--fusion-image-positions", "--reset-fusion",
        "--epochs", "1", "--batch-size", "8", "--warmup-steps", "1", "--log-every", "1", "--threads", "1",
    ])
    assert set(k for k in records(out, "train")[0] if k.startswith("loss_")) == {"loss_itm"}
    trained = torch.load(out / "checkpoint_last.pt", weights_only=False)
    assert trained["config"] == {**source["config"], "fusion_image_positions": True}
    # (--init copies the online weights into the momentum twins, so those are left out here.)
    changed = changed_modules(trained, source)
    assert {m for m in changed if not m.endswith("_m")} == {"fusion", "itm_head"}  # ITC and the encoders stay


@pytest.mark.parametrize("lesson, lesson_vocab", [("train_regions.json", None),
                                                  ("train_relations.json", "relation_swap_vocab.json")])
def test_a_lesson_adds_its_own_loss_and_still_trains_only_the_reranker(tiny_run, scenes_dir, tmp_path, lesson, lesson_vocab):
    out = tmp_path / "lesson"
    source = torch.load(tiny_run / "checkpoint_last.pt", weights_only=False)
    pretrain.main([
        "--train-ann", str(scenes_dir / "train.json"), "--image-root", str(scenes_dir), "--out", str(out),
        "--init", str(tiny_run / "checkpoint_last.pt"), "--mode", "itm", "--swap-vocab", str(scenes_dir / "swap_vocab.json"),
        "--lesson-ann", str(scenes_dir / lesson), "--lesson-batch-size", "4",
        "--epochs", "2", "--batch-size", "8", "--warmup-steps", "1", "--log-every", "1", "--threads", "1",
    ] + (["--lesson-swap-vocab", str(scenes_dir / lesson_vocab)] if lesson_vocab else []))
    train = records(out, "train")
    assert len(train) == 12  # the lesson adds to each step of the main data, it does not add steps
    assert {k for k in train[0] if k.startswith("loss_")} == {"loss_itm", "loss_itm_lesson"}
    assert all(math.isfinite(r["loss_itm_lesson"]) for r in train)
    trained = torch.load(out / "checkpoint_last.pt", weights_only=False)
    changed = changed_modules(trained, source)
    assert {m for m in changed if not m.endswith("_m")} == {"fusion", "itm_head"}


def test_a_lesson_needs_the_itm_mode_and_a_swap_vocabulary(scenes_dir, tmp_path):
    with pytest.raises(ValueError, match="--lesson-ann needs --mode itm and --swap-vocab"):
        pretrain.main(["--train-ann", str(scenes_dir / "train.json"), "--image-root", str(scenes_dir),
                       "--out", str(tmp_path / "x"), "--lesson-ann", str(scenes_dir / "train_regions.json")])


def test_a_lesson_swap_vocabulary_needs_a_lesson(scenes_dir, tmp_path):
    with pytest.raises(ValueError, match="--lesson-swap-vocab is the swap vocabulary of --lesson-ann, which was not given"):
        pretrain.main(["--train-ann", str(scenes_dir / "train.json"), "--image-root", str(scenes_dir), "--out", str(tmp_path / "x"),
                       "--lesson-swap-vocab", str(scenes_dir / "relation_swap_vocab.json")])


def test_a_lesson_batch_larger_than_the_lesson_is_a_clear_error(tiny_run, scenes_dir, tmp_path):
    with pytest.raises(ValueError, match=r"--lesson-batch-size \[4096\] exceeds the \[\d+\] images"):
        pretrain.main([
            "--train-ann", str(scenes_dir / "train.json"), "--image-root", str(scenes_dir), "--out", str(tmp_path / "x"),
            "--init", str(tiny_run / "checkpoint_last.pt"), "--mode", "itm",
            "--swap-vocab", str(scenes_dir / "swap_vocab.json"), "--lesson-ann", str(scenes_dir / "train_regions.json"),
            "--lesson-batch-size", "4096", "--batch-size", "8", "--threads", "1",
        ])


def test_collate_pads_captions_and_their_swaps_to_one_length(tiny_run):
    from negatives import CaptionSwapper
    from tokenizer import TextTokenizer

    tokenizer = TextTokenizer(tiny_run / "tokenizer.json", max_tokens=16)
    # A swap two words longer than its caption: ITM concatenates both sets of token features.
    swapper = CaptionSwapper(exchange=[], inverse={"left": "left of a"})
    batch = [(torch.zeros(3, 4, 4), "a red circle left of a square", 0), (torch.zeros(3, 4, 4), "a blue square", 1)]
    _, ids, mask, _, (swap_ids, swap_mask, swap_valid) = pretrain.collate(tokenizer, swapper)(batch)
    assert ids.shape == swap_ids.shape and mask.shape == swap_mask.shape
    assert swap_valid.tolist() == [True, False]
    assert swap_mask[0].sum() == mask[0].sum() + 2 and torch.equal(swap_ids[1], ids[1])


def test_reset_fusion_without_a_checkpoint_is_a_clear_error(scenes_dir, tmp_path):
    with pytest.raises(ValueError, match="--reset-fusion re-initialises the fusion encoder of an --init checkpoint"):
        pretrain.main(["--train-ann", str(scenes_dir / "train.json"), "--image-root", str(scenes_dir),
                       "--out", str(tmp_path / "x"), "--reset-fusion"])


def test_swaps_only_needs_the_itm_mode_and_a_swap_vocabulary(scenes_dir, tmp_path):
    with pytest.raises(ValueError, match="--no-in-batch-negatives needs --mode itm and --swap-vocab"):
        pretrain.main(["--train-ann", str(scenes_dir / "train.json"), "--image-root", str(scenes_dir),
                       "--out", str(tmp_path / "x"), "--no-in-batch-negatives"])


def test_itm_mode_without_a_checkpoint_is_a_clear_error(scenes_dir, tmp_path):
    with pytest.raises(ValueError, match="--mode itm trains ITM on frozen encoders and needs --init"):
        pretrain.main(["--train-ann", str(scenes_dir / "train.json"), "--image-root", str(scenes_dir),
                       "--out", str(tmp_path / "x"), "--mode", "itm"])


def test_sharding_hands_each_rank_whole_batches():
    pairs = [[i] for i in range(10)]
    shards = [list(pretrain.OneCaptionPerImageSampler(pairs, seed=0, world=2, rank=r, batch_size=3)) for r in (0, 1)]
    assert len(shards[0]) == len(shards[1]) == 3  # 3 full batches of 3: one each, the odd one and the rest dropped
    assert not set(shards[0]) & set(shards[1])


RECIPES = sorted((Path(pretrain.__file__).parent / "recipes").glob("*.json"))
PATHS = ["--train-ann", "t.json", "--image-root", "images", "--out", "run"]


def test_the_shipped_recipes_exist_and_parse():
    assert {r.stem for r in RECIPES} == {"small-pretrain", "small-finetune", "small-itm-position", "small-itm-relations",
                                         "emoji", "base-gpu"}
    for recipe in RECIPES:
        args = pretrain.parse_args(["--recipe", str(recipe), *PATHS])
        for key, value in json.loads(recipe.read_text()).items():
            assert getattr(args, key.replace("-", "_")) == value, (recipe.name, key)


def test_options_on_the_command_line_override_the_recipe():
    recipe = Path(pretrain.__file__).parent / "recipes" / "small-itm-position.json"
    args = pretrain.parse_args(["--recipe", str(recipe), *PATHS, "--epochs", "1", "--in-batch-negatives"])
    assert args.epochs == 1 and args.in_batch_negatives is True
    assert args.lr == 1e-3 and args.reset_fusion is True and args.mode == "itm"
    assert pretrain.parse_args(PATHS).epochs == 10  # no recipe: the parser's own defaults


@pytest.mark.parametrize("options,message", [
    ({"learning-rate": 1e-3}, r"sets unknown option \[learning-rate\]"),
    ({"mode": "distill"}, r"sets \[mode\] to \[distill\]; valid: \['pretrain', 'finetune', 'itm'\]"),
    ({"reset-fusion": "yes"}, r"sets the switch \[reset-fusion\] to \[yes\], not true or false"),
])
def test_a_recipe_with_a_bad_option_is_refused_naming_it(tmp_path, options, message):
    recipe = tmp_path / "bad.json"
    recipe.write_text(json.dumps(options))
    with pytest.raises(ValueError, match=message):
        pretrain.parse_args(["--recipe", str(recipe), *PATHS])
