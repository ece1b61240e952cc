"""TrainSettings: recipes and --set overrides, type checks, and validate()'s refusals."""

import json
from dataclasses import fields
from pathlib import Path

import pytest

from recipes import RunFiles, TrainSettings, describe, parse_override

RECIPES = sorted((Path(__file__).parent.parent / "recipes").glob("*.json"))
FILES = RunFiles(train_ann=Path("t.json"), image_root=Path("images"), out=Path("run"))


def test_the_shipped_recipes_exist_load_and_validate():
    assert {r.stem for r in RECIPES} == {"small-pretrain", "small-finetune", "small-itm-position", "small-itm-relations",
                                         "emoji", "base-gpu"}
    for recipe in RECIPES:
        settings = TrainSettings.from_recipe(recipe)
        for key, value in json.loads(recipe.read_text()).items():
            assert getattr(settings, key) == value, (recipe.name, key)
        # As scripts/build-model and build-reranker give them their files.
        settings.validate(RunFiles(train_ann=Path("t.json"), image_root=Path("i"), out=Path("o"), init=Path("c.pt"),
                                   swap_vocab=Path("swap_vocab.json")))


def test_set_overrides_the_recipe_and_the_rest_keeps_the_recipe():
    recipe = RECIPES[0].parent / "small-itm-position.json"
    settings = TrainSettings.from_recipe(recipe, ["epochs=1", "in_batch_negatives=true", "eval_k=[4, 8]", "alpha=0.5"])
    assert settings.epochs == 1 and settings.in_batch_negatives is True and settings.eval_k == (4, 8)
    assert settings.alpha == 0.5 and settings.lr == 1e-3 and settings.reset_fusion is True and settings.mode == "itm"
    assert TrainSettings.from_recipe(None).epochs == 10  # no recipe: the fields' defaults


def test_set_values_are_json_else_strings_and_dashes_name_the_same_key():
    assert parse_override("mode=itm") == ("mode", "itm")
    assert parse_override("lr=1e-3") == ("lr", 1e-3)
    assert parse_override("max_steps=null") == ("max_steps", None)
    settings = TrainSettings.from_recipe(None, ["warmup-steps=5", "hard_negative_ramp_epochs=2"])
    assert settings.warmup_steps == 5
    assert settings.hard_negative_ramp_epochs == 2.0 and isinstance(settings.hard_negative_ramp_epochs, float)


@pytest.mark.parametrize("text", ["epochs", "=3"])
def test_a_set_without_key_and_value_is_refused(text):
    with pytest.raises(ValueError, match=rf"--set \[{text}\] is not KEY=VALUE"):
        parse_override(text)


@pytest.mark.parametrize("options,message", [
    ({"learning_rate": 1e-3}, r"sets unknown key \[learning_rate\]; valid: \[.*'lr'"),
    ({"reset_fusion": "yes"}, r"sets \[reset_fusion\] to \[\"yes\"\], which is not bool"),
    ({"epochs": 2.5}, r"sets \[epochs\] to \[2.5\], which is not int"),
    ({"epochs": True}, r"sets \[epochs\] to \[true\], which is not int"),
    ({"lr": "fast"}, r"sets \[lr\] to \[\"fast\"\], which is not float"),
    ({"eval_k": 16}, r"sets \[eval_k\] to \[16\], which is not a list of int"),
    ({"eval_k": [16, "x"]}, r"sets \[eval_k\] to \[\"x\"\], which is not int"),
    ({"epochs": None}, r"sets \[epochs\] to \[null\], which is not int"),
])
def test_a_recipe_with_a_bad_key_or_value_is_refused_naming_it(tmp_path, options, message):
    recipe = tmp_path / "bad.json"
    recipe.write_text(json.dumps(options))
    with pytest.raises(ValueError, match=rf"recipe \[{recipe}\] {message}"):
        TrainSettings.from_recipe(recipe)


def test_a_bad_set_value_is_refused_naming_it():
    with pytest.raises(ValueError, match=r"--set sets \[batch_size\] to \[\"many\"\], which is not int"):
        TrainSettings.from_recipe(None, ["batch_size=many"])


def test_a_missing_recipe_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"recipe \[.*nope.json\] does not exist"):
        TrainSettings.from_recipe(tmp_path / "nope.json")


def test_the_defaults_validate():
    TrainSettings().validate(FILES)


@pytest.mark.parametrize("values,files,message", [
    ({"mode": "distill"}, {}, r"mode \[distill\] is not one of \['pretrain', 'finetune', 'itm'\]"),
    ({"preset": "huge"}, {}, r"preset \[huge\] is not one of \['base', 'small', 'tiny'\]"),
    ({"epochs": 0}, {}, r"epochs \[0\] must be at least 1"),
    ({"max_steps": 0}, {}, r"max_steps \[0\] must be at least 1"),
    ({"warmup_steps": -1}, {}, r"warmup_steps \[-1\] must not be negative"),
    ({"lr": 0.0}, {}, r"lr \[0.0\] and grad_clip \[1.0\] must be positive"),
    ({"eval_k": ()}, {}, r"eval_k \[\[\]\] must list rerank windows"),
    ({"reset_fusion": True}, {}, r"reset_fusion \[true\] re-initialises the fusion encoder of an --init checkpoint"),
    ({"mode": "itm"}, {}, r"mode \[itm\] trains ITM on frozen encoders and needs --init"),
    ({"in_batch_negatives": False}, {"swap_vocab": "s.json"}, r"in_batch_negatives \[false\] needs mode itm, not \[pretrain\]"),
    ({"in_batch_negatives": False, "mode": "itm"}, {"init": "c.pt"}, r"in_batch_negatives \[false\] needs .* --swap-vocab"),
    ({"mode": "finetune"}, {"lesson_ann": "l.json", "swap_vocab": "s.json"}, r"--lesson-ann \[l.json\] needs mode itm, not \[finetune\]"),
    ({"mode": "itm"}, {"init": "c.pt", "lesson_ann": "l.json"}, r"--lesson-ann \[l.json\] needs mode itm, not \[itm\], and --swap-vocab"),
    ({}, {"lesson_swap_vocab": "r.json"}, r"--lesson-swap-vocab \[r.json\] is the swap vocabulary of --lesson-ann"),
])
def test_validate_refuses_each_illegal_value_and_combination(values, files, message):
    run_files = RunFiles(**{**vars(FILES), **{k: Path(v) for k, v in files.items()}})
    with pytest.raises(ValueError, match=message):
        TrainSettings(**values).validate(run_files)


def test_validate_accepts_the_itm_stages_combinations():
    files = RunFiles(**{**vars(FILES), "init": Path("c.pt"), "swap_vocab": Path("s.json"), "lesson_ann": Path("l.json"),
                        "lesson_swap_vocab": Path("r.json")})
    TrainSettings(mode="itm", reset_fusion=True, in_batch_negatives=False).validate(files)
    TrainSettings(mode="itm").validate(RunFiles(**{**vars(FILES), "resume": Path("last.pt")}))


def test_every_setting_is_documented_with_its_default():
    text = describe()
    for f in fields(TrainSettings):
        assert f.metadata["doc"] and f"  {f.name} = " in text
