"""Tag raw text with a span tagger trained by examples/ner_global_pointer.py.

    python examples/ner_predict.py runs/demo "我在北京大学读书" "另一句话"

Prints one JSON line per text: the entities with character offsets
(`text[start:end]`, end exclusive), their type and score. Reads texts from
standard input, one per line, when none are given.
"""

import argparse
import json
import sys


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model_dir", help="the --output-dir of the training run")
    p.add_argument("texts", nargs="*", help="texts to tag (default: lines of stdin)")
    p.add_argument(
        "--threshold", type=float, default=0.0, help="decision threshold on scores"
    )
    p.add_argument(
        "--flat", action="store_true", help="keep only non-overlapping entities"
    )
    args = p.parse_args(argv)

    from keras_rdkl.ner import load_tagger
    from keras_rdkl.ner import predict_entities

    texts = args.texts or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    model, vocab = load_tagger(args.model_dir)
    entities = predict_entities(
        model, vocab, texts, threshold=args.threshold, flat=args.flat
    )
    for text, ents in zip(texts, entities, strict=True):
        print(json.dumps({"text": text, "entities": ents}, ensure_ascii=False))
    return entities


if __name__ == "__main__":
    main()
