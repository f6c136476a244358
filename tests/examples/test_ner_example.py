"""Smoke run of examples/ner_global_pointer.py on real CLUENER data; reload and predict from text."""

import json
import shlex

import keras
import numpy as np
import pytest

from keras_rdkl import ner
from tests.conftest import DATA_DIR
from tests.conftest import load_example
from tests.conftest import requires_data

TINY = [
    "--max-train",
    "48",
    "--max-eval",
    "16",
    "--epochs",
    "1",
    "--steps-per-epoch",
    "2",
    "--batch-size",
    "8",
    "--hidden",
    "16",
    "--embedding-dim",
    "8",
    "--head-size",
    "8",
    "--verbose",
    "0",
]


def test_bad_flags_exit():
    example = load_example("ner_global_pointer")
    with pytest.raises(SystemExit):
        example.parse_args(["--head", "tree"])
    with pytest.raises(SystemExit):
        example.parse_args(["--head", "crf", "--rdrop-alpha", "1"])  # sigmoid KL
    with pytest.raises(SystemExit):
        example.parse_args(["--rdrop-alpha", "-1"])
    with pytest.raises(SystemExit):
        example.parse_args(["--encoder", "gru"])
    with pytest.raises(SystemExit):
        example.parse_args(["--rdrop-alpha", "1", "--dropout", "0"])
    with pytest.raises(SystemExit):
        example.parse_args(["--min-count", "-1"])
    with pytest.raises(SystemExit):
        example.parse_args(["--bigrams", "on", "--bert-dir", "some/bert"])
    with pytest.raises(SystemExit):
        example.parse_args(["--bigrams", "maybe"])


@requires_data("cluener2020")
def test_smoke_run_reload_and_predict(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KERAS_RDKL_DATA", str(DATA_DIR))
    example = load_example("ner_global_pointer")
    out = tmp_path / "run"
    summary = example.main(
        TINY
        + [
            "--dataset",
            "cluener",
            "--encoder",
            "idcnn",
            "--rdrop-alpha",
            "1",
            "--bigrams",
            "on",
            "--output-dir",
            str(out),
        ]
    )
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[-1].startswith("dev F1 = ")
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["backend"] == keras.backend.backend()
    assert saved["epochs_run"] == 1 and saved["train_sentences"] == 48
    assert "test" not in saved  # CLUENER's test split is unlabeled
    dev = saved["dev"]
    assert 0.0 <= dev["f1"] <= 1.0 and dev["gold"] > 0
    assert set(dev["per_type"]) == set(saved["labels"])
    assert "kl" in saved["history"]
    assert float(printed[-1].split("=")[1]) == pytest.approx(dev["f1"], abs=1e-4)

    # The saved model and vocabulary reload and give the same spans.
    model, vocab = ner.load_tagger(out)
    assert vocab.labels == saved["labels"]
    assert vocab.num_bigrams > 2 and "bigram_ids" in {t.name for t in model.inputs}
    dev_examples = summary["splits"]["dev"]
    before = ner.predict_spans(summary["model"], dev_examples, vocab, len(vocab.labels))
    after = ner.predict_spans(model, dev_examples, vocab, len(vocab.labels))
    assert [[s[:3] for s in p] for p in after] == [[s[:3] for s in p] for p in before]

    # Raw text -> entities with character offsets, through the small command.
    predict = load_example("ner_predict")
    ents = predict.main([str(out), "我在北京大学读书。"])
    for e in ents[0]:
        assert "我在北京大学读书。"[e["start"] : e["end"]] == e["text"]


@requires_data("cluener2020")
def test_smoke_run_crf_head_with_rdrop(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KERAS_RDKL_DATA", str(DATA_DIR))
    example = load_example("ner_global_pointer")
    out = tmp_path / "crf"
    summary = example.main(
        TINY
        + ["--dataset", "cluener", "--encoder", "idcnn", "--head", "crf"]
        + ["--rdrop-alpha", "1", "--rdrop-kl", "softmax", "--output-dir", str(out)]
    )
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("dev F1 = ")
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["head"] == "crf" and "kl" in saved["history"]
    assert saved["crf_dropped_train_spans"] == 0  # CLUENER is flat
    assert np.isfinite(saved["history"]["loss"]).all()
    model, vocab = ner.load_tagger(out)
    assert ner.find_crf(model) is not None
    dev = summary["splits"]["dev"]
    before = ner.predict_spans(summary["model"], dev, vocab, len(vocab.labels))
    after = ner.predict_spans(model, dev, vocab, len(vocab.labels))
    assert [[s[:3] for s in p] for p in after] == [[s[:3] for s in p] for p in before]


def test_grid_table_rows_and_two_sd_notes(tmp_path):
    grid = load_example("run_ner_grid")

    def run(variant, seed, f1):
        return dict(
            table="t",
            variant=variant,
            seed=seed,
            dev={"f1": f1},
            test=None,
            total_seconds=10.0,
            epochs_run=2,
            train_sentences_per_s=5.0,
            grid_command=f"python examples/ner_global_pointer.py --v {variant}",
            backend="jax",
        )

    rows = [
        run("a", 1, 0.60),
        run("a", 2, 0.62),
        run("b", 1, 0.50),
        run("b", 2, 0.51),
        run("c", 1, 0.61),
        run("c", 2, 0.605),
        run("lucky", 1, 0.70),  # one seed: shown, but never the best
    ]
    (tmp_path / "ner_runs.jsonl").write_text(
        "\n".join(json.dumps(r) for r in rows) + "\n"
    )
    grid.write_table(tmp_path, "t")
    table = (tmp_path / "ner_t.md").read_text()
    assert "| a | dev | 0.6100 +- 0.0141 |" in table and "| best |" in table
    assert [line for line in table.splitlines() if line.startswith("| b |")][
        0
    ].endswith("below by > 2 sd |")
    assert [line for line in table.splitlines() if line.startswith("| c |")][
        0
    ].endswith("within 2 sd |")
    assert [line for line in table.splitlines() if line.startswith("| lucky |")][
        0
    ].endswith("n < 2: no spread |")
    assert "`KERAS_BACKEND=jax python examples/ner_global_pointer.py --v a`" in table
    assert "Notes" not in table
    (tmp_path / "ner_t.notes.md").write_text("Notes: kept.\n")
    grid.write_table(tmp_path, "t")
    assert (tmp_path / "ner_t.md").read_text().rstrip().endswith("Notes: kept.")

    # A baseline of another table is shown with --include, without running it.
    other = dict(run("base", 1, 0.7), table="u")
    with open(tmp_path / "ner_runs.jsonl", "a") as f:
        f.write(json.dumps(other) + "\n")
    grid.main(
        ["--rewrite", "--table", "t", "--include", "u/base", "--out", str(tmp_path)]
    )
    table = (tmp_path / "ner_t.md").read_text()
    assert "| base | dev | 0.7000 +- 0.0000 |" in table and "| best |" in table


def test_grid_plans_parse_and_name_their_prerequisites():
    grid = load_example("run_ner_grid")
    example = load_example("ner_global_pointer")
    makers = {
        "examples/word_vectors.py": load_example("word_vectors"),
        "examples/gazetteers.py": load_example("gazetteers"),
    }
    for plan, variants in grid.PLANS.items():
        made = [path for path, _ in grid.PREPARE.get(plan, [])]
        for name, flags in variants:
            args = example.parse_args(shlex.split(flags))
            # Files a run reads are made by the plan's PREPARE step when missing.
            for needed in (args.word_vectors, args.gazetteer):
                assert needed is None or needed in made, (plan, name, needed)
    for steps in grid.PREPARE.values():
        for path, command in steps:
            script, *flags = shlex.split(command)
            assert makers[script].parse_args(flags).output == path


def test_grid_softmax_kl_matches_numpy():
    # (c) of the R-Drop experiment: symmetric KL of softmax over each head's L x L grid.
    example = load_example("ner_global_pointer")
    rng = np.random.default_rng(0)
    s = rng.normal(size=(2, 3, 4, 4)).astype("float32")
    t = rng.normal(size=(2, 3, 4, 4)).astype("float32")
    s[..., 3, 0] = t[..., 3, 0] = -1e30  # a masked span drops out of both softmaxes

    def log_softmax(x):
        x = x.reshape(2, 3, 16)
        keep = x > -1e20
        z = np.where(keep, x, -np.inf)
        z = z - z.max(-1, keepdims=True)
        return np.where(
            keep, z - np.log(np.exp(z).sum(-1, keepdims=True)), -np.inf
        ), keep

    lp, keep = log_softmax(s)
    lq, _ = log_softmax(t)
    per = np.where(
        keep,
        (np.exp(lp) - np.exp(lq)) * (np.where(keep, lp, 0) - np.where(keep, lq, 0)),
        0,
    )
    expected = per.sum(-1).mean()
    got = float(example.grid_softmax_kl()(t, s))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_adversarial_flags_exit():
    example = load_example("ner_global_pointer")
    for flags in (
        ["--adversarial", "fgm", "--rdrop-alpha", "1"],  # wrappers do not nest
        ["--adversarial", "fgm", "--adversarial-epsilon", "-1"],
        ["--adversarial", "vat", "--head", "crf"],  # sigmoid over tags
        ["--unlabeled", "test"],  # needs --adversarial vat
        ["--adversarial", "adv"],
    ):
        with pytest.raises(SystemExit):
            example.parse_args(flags)


@requires_data("cluener2020")
def test_smoke_run_semi_supervised_vat(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KERAS_RDKL_DATA", str(DATA_DIR))
    example = load_example("ner_global_pointer")
    out = tmp_path / "vat"
    summary = example.main(
        TINY
        + [
            "--dataset",
            "cluener",
            "--adversarial",
            "vat",
            "--adversarial-epsilon",
            "0.3",
        ]
        + ["--unlabeled", "test", "--output-dir", str(out)]
    )
    printed = capsys.readouterr().out
    assert (
        "adversarial vat (epsilon 0.3, alpha 1.0, sigmoid, unlabeled test)" in printed
    )
    assert (
        "1345 test windows at weight 0" in printed
        or "test windows at weight 0" in printed
    )
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["adversarial"] == "vat" and saved["unlabeled"] == "test"
    assert np.isfinite(saved["history"]["adversarial_loss"]).all()
    assert summary["model"].name == ner.load_tagger(out)[0].name
