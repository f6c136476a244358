"""Corpus-level entity precision / recall / F1 over decoded spans, overall and per type."""

import collections

__all__ = ["entity_scores", "format_scores"]


def _prf(tp, n_pred, n_gold):
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f1 = 2 * tp / (n_pred + n_gold) if n_pred + n_gold else 0.0
    return dict(
        precision=precision, recall=recall, f1=f1, tp=tp, predicted=n_pred, gold=n_gold
    )


def entity_scores(gold, pred, labels=None):
    """Exact-match entity scores over a whole corpus (not averaged over batches).

    A predicted span counts as correct when its `(type, start, end)` equals
    a gold span of the same sentence; nested and overlapping spans count
    each on its own; duplicates count once. Precision is 0 when nothing is
    predicted, recall 0 when there is no gold span, F1 0 when both are empty
    (never NaN).

    Args:
        gold: list (one per sentence) of span lists `(type, start, end, ...)`;
            items after the third (a score) are ignored.
        pred: the predictions, same layout and length as `gold`.
        labels: optional list of type names; integer types `i` are reported
            as `labels[i]`, and every label gets a row even with no spans.

    Returns:
        A dict with `precision`, `recall`, `f1`, `tp`, `predicted`, `gold`
        and `per_type`: `{type: dict(precision, recall, f1, tp, predicted,
        gold)}`.

    Example:

    >>> gold = [[(0, 0, 1), (1, 3, 3)], []]
    >>> pred = [[(0, 0, 1), (1, 2, 3)], [(0, 4, 4)]]
    >>> s = entity_scores(gold, pred, labels=["PER", "LOC"])
    >>> round(s["f1"], 4), s["per_type"]["PER"]["f1"], s["per_type"]["LOC"]["f1"]
    (0.4, 0.6666666666666666, 0.0)
    """
    if len(gold) != len(pred):
        raise ValueError(
            "`gold` and `pred` must have one entry per sentence. "
            f"Received: len(gold)={len(gold)}, len(pred)={len(pred)}"
        )

    def name(t):
        if labels is not None and not isinstance(t, str):
            return labels[int(t)]
        return t

    counts = collections.defaultdict(lambda: [0, 0, 0])  # tp, predicted, gold
    for g, p in zip(gold, pred, strict=True):
        g = {(name(s[0]), int(s[1]), int(s[2])) for s in g}
        p = {(name(s[0]), int(s[1]), int(s[2])) for s in p}
        for s in p & g:
            counts[s[0]][0] += 1
        for s in p:
            counts[s[0]][1] += 1
        for s in g:
            counts[s[0]][2] += 1
    tp, n_pred, n_gold = (sum(c[i] for c in counts.values()) for i in range(3))
    out = _prf(tp, n_pred, n_gold)
    types = list(labels) if labels is not None else []
    types += sorted((t for t in counts if t not in types), key=str)
    out["per_type"] = {
        t: _prf(*counts[t]) if t in counts else _prf(0, 0, 0) for t in types
    }
    return out


def format_scores(scores, title="split"):
    """A markdown table of `entity_scores` output: one row per type, then the total."""
    lines = [
        f"| {title} | precision | recall | F1 | gold |",
        "|---|---|---|---|---|",
    ]
    for t, s in scores.get("per_type", {}).items():
        lines.append(
            f"| {t} | {s['precision']:.4f} | {s['recall']:.4f} | {s['f1']:.4f} | {s['gold']} |"
        )
    lines.append(
        f"| **all** | {scores['precision']:.4f} | {scores['recall']:.4f} | "
        f"**{scores['f1']:.4f}** | {scores['gold']} |"
    )
    return "\n".join(lines)
