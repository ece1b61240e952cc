"""The training loop end to end on the tiny preset: logs, evaluation, checkpoints, resume, modes."""

import json
import math

import pytest
import torch

import pretrain
from conftest import settings


def records(run, event):
    return [r for r in map(json.loads, (run / "log.jsonl").read_text().splitlines()) if r["event"] == event]


def changed_modules(trained: dict, source: dict) -> set[str]:
    """Top-level modules of which some floating-point weight differs between two checkpoints."""
    return {name.split(".")[0] for name, value in trained["model"].items()
            if value.is_floating_point() and not torch.equal(value, source["model"][name])}


def run_args(scenes_dir, out, ann="train.json") -> list[str]:
    return ["--train-ann", str(scenes_dir / ann), "--image-root", str(scenes_dir), "--out", str(out), "--threads", "1"]


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


def test_the_checkpoint_records_the_settings_it_was_trained_with(tiny_run):
    checkpoint = torch.load(tiny_run / "checkpoint_last.pt", weights_only=False)
    assert checkpoint["settings"]["batch_size"] == 8 and checkpoint["settings"]["eval_k"] == [4, 8]
    assert checkpoint["epoch"] == 1 and checkpoint["step"] == 12  # 48 images / batch 8 x 2 epochs


def test_resume_continues_from_the_saved_step(tiny_run, scenes_dir, tmp_path):
    out = tmp_path / "resumed"
    pretrain.main(run_args(scenes_dir, out) + ["--resume", str(tiny_run / "checkpoint_last.pt"),
                                               *settings(epochs=3, batch_size=8, log_every=1)])
    steps = [r["step"] for r in records(out, "train")]
    assert steps[0] == 13 and steps[-1] == 18
    resumed = torch.load(out / "checkpoint_last.pt", weights_only=False)
    assert resumed["epoch"] == 2


def test_a_batch_larger_than_the_data_is_a_clear_error(scenes_dir, tmp_path):
    with pytest.raises(ValueError, match=r"batch_size \[64\]"):
        pretrain.main(run_args(scenes_dir, tmp_path) + settings(preset="tiny", batch_size=64))


def test_finetune_from_a_pretrained_checkpoint_keeps_its_config_and_tokenizer(tiny_run, scenes_dir, tmp_path):
    out = tmp_path / "finetuned"
    pretrain.main(run_args(scenes_dir, out) + ["--init", str(tiny_run / "checkpoint_last.pt"), *settings(
        mode="finetune", epochs=1, batch_size=8, queue_warmup_steps=0, log_every=1)])
    assert (out / "tokenizer.json").read_text() == (tiny_run / "tokenizer.json").read_text()
    first = records(out, "train")[0]
    assert "loss_mlm" not in first and {"loss_itc", "loss_itm"} <= first.keys()
    finetuned = torch.load(out / "checkpoint_last.pt", weights_only=False)
    assert finetuned["config"] == torch.load(tiny_run / "checkpoint_last.pt", weights_only=False)["config"]


def test_itm_mode_trains_only_the_fusion_encoder_and_itm_head(tiny_run, scenes_dir, tmp_path):
    out = tmp_path / "itm"
    source = torch.load(tiny_run / "checkpoint_last.pt", weights_only=False)
    pretrain.main(run_args(scenes_dir, out) + ["--init", str(tiny_run / "checkpoint_last.pt"), *settings(
        mode="itm", fusion_image_positions=True, reset_fusion=True, epochs=1, batch_size=8, warmup_steps=1, log_every=1)])
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
    pretrain.main(run_args(scenes_dir, out) + [
        "--init", str(tiny_run / "checkpoint_last.pt"), "--swap-vocab", str(scenes_dir / "swap_vocab.json"),
        "--lesson-ann", str(scenes_dir / lesson),
        *settings(mode="itm", lesson_batch_size=4, epochs=2, batch_size=8, warmup_steps=1, log_every=1),
    ] + (["--lesson-swap-vocab", str(scenes_dir / lesson_vocab)] if lesson_vocab else []))
    train = records(out, "train")
    assert len(train) == 12  # the lesson adds to each step of the main data, it does not add steps
    assert {k for k in train[0] if k.startswith("loss_")} == {"loss_itm", "loss_itm_lesson"}
    assert all(math.isfinite(r["loss_itm_lesson"]) for r in train)
    trained = torch.load(out / "checkpoint_last.pt", weights_only=False)
    changed = changed_modules(trained, source)
    assert {m for m in changed if not m.endswith("_m")} == {"fusion", "itm_head"}


def test_a_lesson_batch_larger_than_the_lesson_is_a_clear_error(tiny_run, scenes_dir, tmp_path):
    with pytest.raises(ValueError, match=r"lesson_batch_size \[4096\] exceeds the \[\d+\] images"):
        pretrain.main(run_args(scenes_dir, tmp_path / "x") + [
            "--init", str(tiny_run / "checkpoint_last.pt"), "--swap-vocab", str(scenes_dir / "swap_vocab.json"),
            "--lesson-ann", str(scenes_dir / "train_regions.json"), *settings(mode="itm", lesson_batch_size=4096, batch_size=8),
        ])


def test_an_illegal_combination_is_refused_before_training(scenes_dir, tmp_path):
    """TrainSettings.validate runs first (its cases: test_recipes.py); nothing is written."""
    out = tmp_path / "x"
    with pytest.raises(ValueError, match=r"mode \[itm\] trains ITM on frozen encoders and needs --init"):
        pretrain.main(run_args(scenes_dir, out) + settings(mode="itm"))
    assert not out.exists()


def test_a_bad_set_option_names_the_key_and_value(scenes_dir, tmp_path):
    with pytest.raises(ValueError, match=r"--set sets \[epochs\] to \[\"two\"\], which is not int"):
        pretrain.main(run_args(scenes_dir, tmp_path) + ["--set", "epochs=two"])
