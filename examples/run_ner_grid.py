"""Runs examples/ner_global_pointer.py over variants x seeds; appends each finished row as it goes.

Every run is its own process. When a run ends, its summary is appended to
`<out>/ner_runs.jsonl` (with its exact command) and the markdown table
`<out>/ner_<table>.md` is rewritten from all finished runs of that table:
one row per variant, mean +- sd of the evaluation F1 over seeds, the number
of seeds finished, wall time, and the command. A row whose mean is within
two standard deviations of the best row's says so. Interrupting the grid
loses only the run in progress.

    python examples/run_ner_grid.py --table cluener_best --seeds 1 2 3 \
        --variant "bilstm+rdrop=--dataset cluener --rdrop-alpha 1"

Plans that bundle the issue's results runs: `--plan cluener` (best config,
3 seeds), `--plan heads` (GlobalPointer, EfficientGlobalPointer, CRF), `--plan
rdrop` (no R-Drop / sigmoid / softmax divergence, alpha grid, 8 epochs),
`--plan long` (no R-Drop / R-Drop / bigrams, 16 epochs), `--plan adversarial`
(none / FGM / VAT sigmoid / VAT softmax / R-Drop / semi-supervised VAT, 2 epochs), `--plan germeval`,
`--plan wnut17`, `--plan wnut17_vectors` (part of dev in training, word vectors
trained on Reddit text first with examples/word_vectors.py), `--plan
wnut17_gazetteer` (the same with place and person-name lists, written first
with examples/gazetteers.py).
"""

import argparse
import json
import os
import pathlib
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "ner_global_pointer.py"
BEST = "--dataset cluener --encoder bilstm --epochs 8 --learning-rate 5e-3"
# Issue 32's rows: every regularizer at one budget the 2-core machine affords.
SHORT = "--dataset cluener --encoder bilstm --epochs 2 --learning-rate 5e-3"
LONG = "--dataset cluener --encoder bilstm --epochs 16 --learning-rate 5e-3"
WNUT = "--dataset wnut17 --head crf --epochs 15 --patience 4 --learning-rate 5e-3"
# Word vectors trained on unlabeled Reddit text (GoEmotions) and WNUT-17's
# train + dev tokens; a plan that needs them makes them first (PREPARE).
VECTORS = "runs/vectors/reddit.txt"
VECTORS_COMMAND = (
    f"examples/word_vectors.py --corpus goemotions --corpus wnut17 --output {VECTORS}"
)
# Place and person-name lists (GeoNames, US Census) for --gazetteer.
GAZETTEER = "runs/gazetteers/places_names.json"
GAZETTEER_COMMAND = f"examples/gazetteers.py --output {GAZETTEER}"
WNUT_BEST = (
    f"{WNUT} --train-on-dev 0.7 --word-vectors {VECTORS} --freeze-embeddings "
    f"--gazetteer {GAZETTEER}"
)
PLANS = {
    "cluener": [
        (
            "BiLSTM + GlobalPointer + R-Drop 0.5 (sigmoid), 16 epochs",
            f"{LONG} --rdrop-alpha 0.5 --rdrop-kl sigmoid",
        )
    ],
    "heads": [
        ("GlobalPointer", f"{BEST} --head global_pointer"),
        ("EfficientGlobalPointer", f"{BEST} --head efficient_global_pointer"),
        ("CRF", f"{BEST} --head crf"),
    ],
    "rdrop": [("(a) no R-Drop", f"{BEST} --rdrop-alpha 0")]
    + [
        (
            f"(b) R-Drop sigmoid, alpha {a}",
            f"{BEST} --rdrop-alpha {a} --rdrop-kl sigmoid",
        )
        for a in ("0.5", "1", "2", "4")
    ]
    + [
        (
            f"(c) R-Drop softmax, alpha {a}",
            f"{BEST} --rdrop-alpha {a} --rdrop-kl softmax",
        )
        for a in ("0.5", "1", "2", "4")
    ],
    "long": [
        ("(a) no R-Drop, 16 epochs", f"{LONG} --rdrop-alpha 0"),
        (
            "(b) R-Drop sigmoid, alpha 0.5, 16 epochs",
            f"{LONG} --rdrop-alpha 0.5 --rdrop-kl sigmoid",
        ),
        (
            "(c) R-Drop softmax, alpha 0.5, 16 epochs",
            f"{LONG} --rdrop-alpha 0.5 --rdrop-kl softmax",
        ),
        ("(a) no R-Drop, bigrams, 16 epochs", f"{LONG} --rdrop-alpha 0 --bigrams on"),
    ],
    "adversarial": [
        ("(a) no regularizer", f"{SHORT}"),
        (
            "(b) FGM, epsilon 0.1",
            f"{SHORT} --adversarial fgm --adversarial-epsilon 0.1",
        ),
        (
            "(c) VAT sigmoid, epsilon 0.1",
            f"{SHORT} --adversarial vat --adversarial-kl sigmoid --adversarial-epsilon 0.1",
        ),
        (
            "(d) VAT softmax over each L x L grid, epsilon 0.1",
            f"{SHORT} --adversarial vat --adversarial-kl softmax --adversarial-epsilon 0.1",
        ),
        (
            "(e) R-Drop sigmoid, alpha 0.5",
            f"{SHORT} --rdrop-alpha 0.5 --rdrop-kl sigmoid",
        ),
        (
            "(f) semi-supervised VAT sigmoid, epsilon 0.1, + unlabeled test split",
            f"{SHORT} --adversarial vat --adversarial-kl sigmoid --adversarial-epsilon 0.1 "
            "--unlabeled test",
        ),
    ],
    "germeval": [
        (
            "BiLSTM + GlobalPointer, word + char CNN, min-count 2",
            "--dataset germeval --epochs 40 --patience 8 --batch-size 16 "
            "--learning-rate 5e-3",
        )
    ],
    "wnut17": [
        (
            "BiLSTM + CRF, word + char CNN, min-count 2",
            WNUT,
        )
    ],
    "wnut17_vectors": [
        ("CRF, train + 70% of dev", f"{WNUT} --train-on-dev 0.7"),
        (
            "CRF, Reddit vectors frozen, dropout 0.5",
            f"{WNUT} --word-vectors {VECTORS} --freeze-embeddings --dropout 0.5",
        ),
        (
            "CRF, train + 70% of dev, Reddit vectors frozen",
            f"{WNUT} --train-on-dev 0.7 --word-vectors {VECTORS} --freeze-embeddings",
        ),
        (
            "CRF, train + 70% of dev, Reddit vectors frozen, @# split",
            f"{WNUT} --split-marks @# --train-on-dev 0.7 --word-vectors {VECTORS} "
            "--freeze-embeddings",
        ),
        (
            "CRF, train + 70% of dev, Reddit vectors frozen, dropout 0.5",
            f"{WNUT} --train-on-dev 0.7 --word-vectors {VECTORS} "
            "--freeze-embeddings --dropout 0.5",
        ),
        (
            "CRF, train + 70% of dev, Reddit vectors frozen, dropout 0.5, @# split",
            f"{WNUT} --split-marks @# --train-on-dev 0.7 --word-vectors {VECTORS} "
            "--freeze-embeddings --dropout 0.5",
        ),
    ],
    "wnut17_gazetteer": [
        ("CRF, train + 70% of dev, Reddit vectors frozen, gazetteer", WNUT_BEST),
    ],
}
# Files a plan's runs read, and the command (run with this Python from the
# repository root) that makes each one when it is missing.
PREPARE = {
    "wnut17_vectors": [(VECTORS, VECTORS_COMMAND)],
    "wnut17_gazetteer": [
        (VECTORS, VECTORS_COMMAND),
        (GAZETTEER, GAZETTEER_COMMAND),
    ],
}


def finished(out):
    """`(table, variant, seed)` of every run in `<out>/ner_runs.jsonl`."""
    path = out / "ner_runs.jsonl"
    if not path.exists():
        return set()
    runs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {(r.get("table"), r.get("variant"), r.get("seed")) for r in runs}


def mean_sd(values):
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return statistics.mean(values), sd


def eval_split(summary):
    return "test" if summary.get("test") else "dev"


def write_table(out, table, include=()):
    """Rewrites `<out>/ner_<table>.md` from the finished runs of `table`.

    The text of `<out>/ner_<table>.notes.md`, if there is one, is appended.

    `include` lists `(other_table, variant)` pairs whose runs are shown in
    this table too (a shared baseline, run once).
    """
    runs = [
        json.loads(line)
        for line in (out / "ner_runs.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    runs = [
        r
        for r in runs
        if r["table"] == table or (r["table"], r["variant"]) in set(include)
    ]
    variants = {}
    for r in runs:
        variants.setdefault(r["variant"], []).append(r)
    rows = []
    for name, rs in variants.items():
        split = eval_split(rs[0])
        f1 = [r[split]["f1"] for r in rs]
        dev = [r["dev"]["f1"] for r in rs]
        m, sd = mean_sd(f1)
        rows.append(
            dict(
                name=name,
                split=split,
                mean=m,
                sd=sd,
                dev=mean_sd(dev),
                n=len(rs),
                seeds=[r["seed"] for r in rs],
                wall=statistics.mean(r["total_seconds"] for r in rs),
                epochs=statistics.mean(r["epochs_run"] for r in rs),
                speed=statistics.mean(r["train_sentences_per_s"] for r in rs),
                command=rs[0]["grid_command"],
                backend=rs[0]["backend"],
            )
        )
    # The best row among those with a spread (two seeds or more), when any:
    # a single lucky seed is not a best configuration.
    ranked = [r for r in rows if r["n"] >= 2] or rows
    best = max(ranked, key=lambda r: r["mean"]) if rows else None
    lines = [
        f"# NER results: {table}",
        "",
        "From scratch, CPU, written by `examples/run_ner_grid.py` as runs finish (rows with "
        "fewer seeds than asked are still running or did not finish). F1: corpus-level "
        "exact-match entity F1 of the best epoch (early stopping on dev F1), mean +- sd over "
        "seeds.",
        "",
        "| variant | split | F1 mean +- sd | dev F1 | seeds | epochs | train sent/s | "
        "wall s | vs best |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r is best:
            note = "best"
        elif r["n"] < 2 or best["n"] < 2:
            note = "n < 2: no spread"
        else:
            gap = best["mean"] - r["mean"]
            note = (
                "within 2 sd"
                if gap <= 2 * max(r["sd"], best["sd"])
                else "below by > 2 sd"
            )
        lines.append(
            f"| {r['name']} | {r['split']} | {r['mean']:.4f} +- {r['sd']:.4f} | "
            f"{r['dev'][0]:.4f} | {r['n']} ({', '.join(map(str, r['seeds']))}) | "
            f"{r['epochs']:.1f} | {r['speed']:.0f} | {r['wall']:.0f} | {note} |"
        )
    lines += ["", "Commands (add `--seed N`):", ""]
    for r in rows:
        lines.append(f"- {r['name']}: `KERAS_BACKEND={r['backend']} {r['command']}`")
    notes = out / f"ner_{table}.notes.md"  # hand-written, kept across rewrites
    if notes.exists():
        lines += ["", notes.read_text(encoding="utf-8").strip()]
    (out / f"ner_{table}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--plan",
        choices=sorted(PLANS),
        action="append",
        default=[],
        help="a bundled set of variants (repeat for several, run in order)",
    )
    p.add_argument(
        "--variant",
        action="append",
        default=[],
        help="NAME=FLAGS, flags of ner_global_pointer.py (repeatable)",
    )
    p.add_argument("--table", default=None, help="table name for --variant runs")
    p.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    p.add_argument("--extra", default="", help="flags added to every run")
    p.add_argument("--backend", default=os.environ.get("KERAS_BACKEND", "jax"))
    p.add_argument("--out", default=str(ROOT / "results"))
    p.add_argument(
        "--include",
        action="append",
        default=[],
        help="TABLE/VARIANT: also show that table's finished runs of VARIANT (repeatable)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="skip the (table, variant, seed) runs already in ner_runs.jsonl",
    )
    p.add_argument(
        "--rewrite",
        action="store_true",
        help="only rewrite the markdown table of --table from the finished runs",
    )
    args = p.parse_args(argv)
    include = []
    for item in args.include:
        if "/" not in item:
            p.error(f"--include takes TABLE/VARIANT. Received: {item!r}")
        include.append(tuple(item.split("/", 1)))
    if args.rewrite:
        if not args.table:
            p.error("--rewrite needs --table")
        write_table(pathlib.Path(args.out), args.table, include)
        return []
    jobs = [(plan, name, flags) for plan in args.plan for name, flags in PLANS[plan]]
    for v in args.variant:
        if "=" not in v:
            p.error(f"--variant takes NAME=FLAGS. Received: {v!r}")
        name, flags = v.split("=", 1)
        jobs.append((args.table or "custom", name, flags))
    if not jobs:
        p.error("give --plan or --variant")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, KERAS_BACKEND=args.backend)
    for plan in dict.fromkeys(args.plan):
        for path, command in PREPARE.get(plan, []):
            if not (ROOT / path).exists():
                print(f"{plan} needs {path}: python {command}", flush=True)
                subprocess.run(
                    [sys.executable, *shlex.split(command)],
                    env=env,
                    cwd=ROOT,
                    check=True,
                )
    summaries = []
    # Seeds outermost within a table: the first seed of every variant finishes first.
    for table in dict.fromkeys(j[0] for j in jobs):
        for seed in args.seeds:
            for t, name, flags in jobs:
                if t != table or (args.resume and (t, name, seed) in finished(out)):
                    continue
                with tempfile.TemporaryDirectory() as tmp:
                    run_flags = f"{flags} {args.extra} --seed {seed} --verbose 0 --output-dir {tmp}"
                    cmd = [sys.executable, str(SCRIPT), *shlex.split(run_flags)]
                    start = time.perf_counter()
                    proc = subprocess.run(
                        cmd, env=env, cwd=ROOT, capture_output=True, text=True
                    )
                    if proc.returncode:
                        print(
                            f"FAILED {table} / {name} / seed {seed}:\n{proc.stderr[-2000:]}"
                        )
                        continue
                    summary = json.loads(
                        (pathlib.Path(tmp) / "metrics.json").read_text()
                    )
                summary.update(
                    table=table,
                    variant=name,
                    grid_wall_seconds=round(time.perf_counter() - start, 1),
                    grid_command=f"python examples/ner_global_pointer.py {flags} {args.extra}".strip(),
                )
                summary.pop("history", None)
                with open(out / "ner_runs.jsonl", "a", encoding="utf-8") as f:
                    f.write(json.dumps(summary, ensure_ascii=False) + "\n")
                write_table(out, table, include)
                split = eval_split(summary)
                print(
                    f"{table} / {name} / seed {seed}: {split} F1 = {summary[split]['f1']:.4f} "
                    f"({summary['total_seconds']:.0f} s)",
                    flush=True,
                )
                summaries.append(summary)
    return summaries


if __name__ == "__main__":
    main()
