"""Runs examples/ner_global_pointer.py over heads x R-Drop x seeds and tables the results.

Every run is a separate process with the same fixed budget (flags below);
per-run JSON summaries go to results/ner_runs/ and the markdown table (mean
+- spread over seeds, the command of each row, backend, machine) to
results/ner_results.md.

    python examples/run_ner_grid.py --datasets cluener --seeds 1 2 3 --budget 90
"""

import argparse
import json
import os
import pathlib
import platform
import shutil
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "ner_global_pointer.py"
EVAL_SPLIT = {"cluener": "dev", "germeval": "test", "wnut17": "test"}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", nargs="+", default=["cluener", "germeval", "wnut17"])
    p.add_argument("--heads", nargs="+", default=["global_pointer", "efficient_global_pointer"])
    p.add_argument("--alphas", nargs="+", default=["0", "1.0"])
    p.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    p.add_argument("--budget", type=float, default=90.0, help="training seconds per run")
    p.add_argument("--backend", default=os.environ.get("KERAS_BACKEND", "jax"))
    p.add_argument("--extra", default="--max-train 0 --epochs 50",
                   help="more flags passed to every run")
    p.add_argument("--out", default=str(ROOT / "results"))
    args = p.parse_args(argv)

    out = pathlib.Path(args.out)
    runs_dir = out / "ner_runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, KERAS_BACKEND=args.backend)
    rows = []
    for dataset in args.datasets:
        for head in args.heads:
            for alpha in args.alphas:
                scores, speeds = [], []
                flags = (f"--dataset {dataset} --head {head} --rdrop-alpha {alpha} "
                         f"--time-budget {args.budget:g} {args.extra}")
                for seed in args.seeds:
                    name = f"{dataset}_{head}_a{alpha}_s{seed}_{args.backend}"
                    tmp = pathlib.Path("runs") / "grid" / name
                    cmd = [sys.executable, str(SCRIPT), *flags.split(), "--seed", str(seed),
                           "--output-dir", str(tmp), "--verbose", "0"]
                    print("$", " ".join(cmd[1:]), flush=True)
                    subprocess.run(cmd, check=True, env=env, cwd=ROOT)
                    summary = json.loads((ROOT / tmp / "metrics.json").read_text())
                    shutil.copy(ROOT / tmp / "metrics.json", runs_dir / f"{name}.json")
                    scores.append(summary[EVAL_SPLIT[dataset]]["f1"])
                    speeds.append(summary["train_sentences_per_s"])
                rows.append((dataset, EVAL_SPLIT[dataset], head, alpha, scores, speeds, flags))

    lines = [
        "# NER results: GlobalPointer vs EfficientGlobalPointer, with and without R-Drop",
        "",
        f"Small Transformer encoders trained from scratch with a fixed budget of "
        f"{args.budget:g} s of training per run (2 shared CPU cores, other jobs running "
        "concurrently), so the numbers are far below published ones (which fine-tune "
        "pretrained BERTs for many epochs); compare rows with each other only.",
        "",
        f"Backend: {args.backend}; machine: {platform.platform()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}; date {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        f"Made by: `KERAS_BACKEND={args.backend} python examples/run_ner_grid.py "
        + " ".join(argv if argv is not None else sys.argv[1:]) + "`",
        "",
        "| corpus (split) | head | R-Drop alpha | entity F1 mean +- sd | seeds | train sent/s | command (plus --seed S) |",
        "|---|---|---|---|---|---|---|",
    ]
    for dataset, split, head, alpha, scores, speeds, flags in rows:
        sd = statistics.stdev(scores) if len(scores) > 1 else 0.0
        lines.append(
            f"| {dataset} ({split}) | {head} | {alpha} | {statistics.mean(scores):.4f} +- {sd:.4f} "
            f"| {len(scores)} | {statistics.median(speeds):.0f} | "
            f"`python examples/ner_global_pointer.py {flags}` |"
        )
    text = "\n".join(lines) + "\n"
    (out / "ner_results.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
