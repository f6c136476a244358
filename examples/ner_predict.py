"""Tag raw text with a span tagger trained by examples/ner_global_pointer.py.

    python examples/ner_predict.py runs/demo "我在北京大学读书" "另一句话"

Works for both kinds of saved taggers: from scratch (`vocab.json` beside the
model) and on a pretrained backbone (`--backbone`; `tokenizer/` beside it).

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

    from keras_rdkl import ner
    from keras_rdkl.ner.optimizers import find_backbone

    texts = args.texts or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    model, vocab = ner.load_tagger(args.model_dir)
    if isinstance(vocab, ner.SubwordTokenizer):
        # A backbone tagger: windows as long as the backbone takes.
        longest = getattr(find_backbone(model), "max_sequence_length", None)
        entities = ner.predict_subword_entities(
            model,
            vocab,
            texts,
            max_length=longest or 512,
            threshold=args.threshold,
            flat=args.flat,
        )
    else:
        entities = ner.predict_entities(
            model, vocab, texts, threshold=args.threshold, flat=args.flat
        )
    for text, ents in zip(texts, entities, strict=True):
        print(json.dumps({"text": text, "entities": ents}, ensure_ascii=False))
    return entities


if __name__ == "__main__":
    main()
