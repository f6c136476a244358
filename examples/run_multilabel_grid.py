"""Runs examples/multilabel_goemotions.py (the ZLPR classifier) over variants x seeds.

Each run is its own process; when it ends its F1 rows are appended to
`<out>/multilabel_runs.jsonl` (with the exact command) and
`<out>/multilabel_<table>.md` is rewritten from every finished run of the
table: mean +- sd over seeds of micro and macro F1 on GoEmotions test, at the
natural threshold (s > 0) and at one dev-tuned threshold. Interrupting the
grid loses only the run in progress.

    python examples/run_multilabel_grid.py --plan adversarial --seeds 1 2 3
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
SCRIPT = ROOT / "examples" / "multilabel_goemotions.py"
BASE = "--losses zlpr --epochs 3"
PLANS = {
    "adversarial": [("(a) no adversarial training", BASE)]
    + [
        (
            f"(b) FGM, epsilon {eps}",
            f"{BASE} --adversarial fgm --adversarial-epsilon {eps}",
        )
        for eps in ("0.1", "0.3")
    ]
    + [
        (
            f"(c) VAT sigmoid, epsilon {eps}",
            f"{BASE} --adversarial vat --adversarial-epsilon {eps}",
        )
        for eps in ("0.1", "0.3")
    ],
}
METRICS = ("micro_f1@natural", "macro_f1@natural", "micro_f1@tuned", "macro_f1@tuned")


def mean_sd(values):
    mean = statistics.fmean(values)
    return mean, statistics.stdev(values) if len(values) > 1 else 0.0


def write_table(out, table):
    rows = [
        json.loads(line)
        for line in (out / "multilabel_runs.jsonl").read_text().splitlines()
        if line.strip()
    ]
    rows = [r for r in rows if r["table"] == table]
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    lines = [
        f"# GoEmotions multi-label: {table}",
        "",
        "ZLPR classifier of `examples/multilabel_goemotions.py` (bag of embeddings, "
        "masked mean + max pooling, MLP), GoEmotions test (5427 examples, 28 labels), "
        "written by `examples/run_multilabel_grid.py` as runs finish. Mean +- sd over "
        "seeds; natural threshold s > 0, tuned: one global threshold chosen on dev.",
        "",
        "| variant | micro F1 (s > 0) | macro F1 (s > 0) | micro F1 (tuned) "
        "| macro F1 (tuned) | seeds | train s |",
        "|---|---|---|---|---|---|---|",
    ]
    for variant in variants:
        runs = [r for r in rows if r["variant"] == variant]
        cells = []
        for metric in METRICS:
            mean, sd = mean_sd([r["zlpr"][metric] for r in runs])
            cells.append(f"{mean:.4f} +- {sd:.4f}")
        seeds = ", ".join(str(r["seed"]) for r in runs)
        seconds = statistics.fmean(r["train_seconds"] for r in runs)
        lines.append(
            f"| {variant} | {' | '.join(cells)} | {len(runs)} ({seeds}) | {seconds:.0f} |"
        )
    lines += ["", "Commands (add `--seed N`):", ""]
    for variant in variants:
        command = next(r["command"] for r in rows if r["variant"] == variant)
        lines.append(f"- {variant}: `{command}`")
    (out / f"multilabel_{table}.md").write_text("\n".join(lines) + "\n")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--plan", choices=sorted(PLANS), default="adversarial")
    p.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    p.add_argument("--backend", default=os.environ.get("KERAS_BACKEND", "jax"))
    p.add_argument("--out", default=str(ROOT / "results"))
    args = p.parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, KERAS_BACKEND=args.backend)
    for seed in args.seeds:
        for name, flags in PLANS[args.plan]:
            with tempfile.TemporaryDirectory() as tmp:
                run = f"{flags} --seed {seed} --verbose 0 --output-dir {tmp}"
                start = time.perf_counter()
                proc = subprocess.run(
                    [sys.executable, str(SCRIPT), *shlex.split(run)],
                    env=env,
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                )
                if proc.returncode:
                    print(f"FAILED {name} / seed {seed}:\n{proc.stderr[-2000:]}")
                    continue
                result = json.loads(
                    (pathlib.Path(tmp) / "multilabel_goemotions.json").read_text()
                )
            record = dict(
                table=args.plan,
                variant=name,
                seed=seed,
                backend=args.backend,
                zlpr=result["f1"][0],
                train_seconds=round(result["train_seconds"]["zlpr"], 1),
                wall_seconds=round(time.perf_counter() - start, 1),
                command=f"KERAS_BACKEND={args.backend} python examples/multilabel_goemotions.py {flags}",
                machine=result.get("machine"),
            )
            with open(out / "multilabel_runs.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
            write_table(out, args.plan)
            print(
                f"{name} / seed {seed}: micro {record['zlpr']['micro_f1@natural']:.4f} "
                f"macro {record['zlpr']['macro_f1@natural']:.4f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
