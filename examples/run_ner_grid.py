"""Runs examples/ner_global_pointer.py over heads x R-Drop x seeds and tables the results.

Every run is a separate process with the same training budget: the same
number of optimizer updates on the same data (flags in `--extra`, time budget
off), so R-Drop runs take about twice as long as plain ones; the wall time of
each row is reported next to its F1. Per-run JSON summaries go to
results/ner_runs/ and one markdown table per corpus (mean +- sd over seeds, the
command of each row, backend, machine) to results/ner_<dataset>.md.

    python examples/run_ner_grid.py --datasets cluener --seeds 1 2 3 \
        --extra "--max-train 0 --epochs 2"
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


def mean_sd(values):
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return statistics.mean(values), sd


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", nargs="+", default=["cluener", "germeval", "wnut17"])
    p.add_argument("--heads", nargs="+", default=["global_pointer", "efficient_global_pointer"])
    p.add_argument("--alphas", nargs="+", default=["0", "1.0"])
    p.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    p.add_argument("--backend", default=os.environ.get("KERAS_BACKEND", "jax"))
    p.add_argument("--extra", default="--max-train 0 --epochs 2",
                   help="flags passed to every run (the shared training budget)")
    p.add_argument("--out", default=str(ROOT / "results"))
    p.add_argument("--suffix", default="",
                   help="appended to the table's file name: results/ner_<dataset><suffix>.md")
    args = p.parse_args(argv)

    out = pathlib.Path(args.out)
    runs_dir = out / "ner_runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, KERAS_BACKEND=args.backend)
    for dataset in args.datasets:
        split = EVAL_SPLIT.get(dataset, "test")
        rows = []
        for head in args.heads:
            for alpha in args.alphas:
                scores, dev_scores, speeds, walls = [], [], [], []
                flags = (f"--dataset {dataset} --head {head} --rdrop-alpha {alpha} "
                         f"--time-budget 0 {args.extra}")
                for seed in args.seeds:
                    name = f"{dataset}_{head}_a{alpha}_s{seed}_{args.backend}{args.suffix}"
                    tmp = pathlib.Path("runs") / "grid" / name
                    cmd = [sys.executable, str(SCRIPT), *flags.split(), "--seed", str(seed),
                           "--output-dir", str(tmp), "--verbose", "0"]
                    print("$", " ".join(cmd[1:]), flush=True)
                    start = time.perf_counter()
                    subprocess.run(cmd, check=True, env=env, cwd=ROOT)
                    walls.append(time.perf_counter() - start)
                    summary = json.loads((ROOT / tmp / "metrics.json").read_text())
                    shutil.copy(ROOT / tmp / "metrics.json", runs_dir / f"{name}.json")
                    scores.append(summary[split]["f1"])
                    dev_scores.append(summary["dev"]["f1"])
                    speeds.append(summary["train_sentences_per_s"])
                    print(f"  {split} F1 {scores[-1]:.4f}, {walls[-1]:.0f} s", flush=True)
                rows.append((head, alpha, scores, dev_scores, speeds, walls, flags))
        write_table(args, argv, dataset, split, rows, out / f"ner_{dataset}{args.suffix}.md")


def write_table(args, argv, dataset, split, rows, path):
    lines = [
        f"# NER on {dataset} ({split} split): GlobalPointer vs EfficientGlobalPointer, "
        "with and without R-Drop",
        "",
        "Compact Transformer encoders trained from scratch, every run with the same number of "
        "updates on the same data; numbers are far below published ones (which fine-tune "
        "pretrained BERTs for many epochs): compare rows with each other only.",
        "",
        f"Backend: {args.backend}; machine: {platform.machine()}, {os.cpu_count()} CPU cores, "
        f"Python {platform.python_version()}; "
        f"date {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        f"Made by: `KERAS_BACKEND={args.backend} python examples/run_ner_grid.py "
        + " ".join(_quote(a) for a in argv) + "`",
        "",
        f"| head | R-Drop alpha | {split} entity F1, mean +- sd | "
        + ("dev F1, mean +- sd | " if split != "dev" else "")
        + "seeds | train sent/s | wall s per run | command (plus --seed S) |",
        "|---|---|---|" + ("---|" if split != "dev" else "") + "---|---|---|---|",
    ]
    for head, alpha, scores, dev_scores, speeds, walls, flags in rows:
        m, sd = mean_sd(scores)
        cells = [head, alpha, f"{m:.4f} +- {sd:.4f}"]
        if split != "dev":
            dm, dsd = mean_sd(dev_scores)
            cells.append(f"{dm:.4f} +- {dsd:.4f}")
        cells += [str(len(scores)), f"{statistics.median(speeds):.0f}",
                  f"{statistics.median(walls):.0f}",
                  f"`python examples/ner_global_pointer.py {flags}`"]
        lines.append("| " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    path.write_text(text)
    print(text, flush=True)


def _quote(arg):
    return f'"{arg}"' if " " in arg else arg


if __name__ == "__main__":
    main()
