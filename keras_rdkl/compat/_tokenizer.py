"""bert4keras' BERT `Tokenizer`, on the Hugging Face `tokenizers` library.

The vocabulary file is read as bert4keras reads it; text is normalized,
split and cut into word pieces by a `tokenizers` pipeline configured to
bert4keras' rules (which differ from Hugging Face's `BertNormalizer` in a few
characters), and `[CLS]` / `[SEP]`, truncation and segment ids follow
bert4keras 0.11.5.
"""

_HUB_HINT = (
    "install it with `pip install tokenizers` (or `pip install 'keras-rdkl[hub]'`)"
)

# bert4keras' CJK ranges (its `_is_cjk_character`): each such character is
# a word of its own.
_CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)
# bert4keras' punctuation: the ASCII symbol ranges and Unicode category P*.
_PUNCTUATION = r"[\x21-\x2f\x3a-\x40\x5b-\x60\x7b-\x7e\p{P}]"
# Dropped characters: NUL, U+FFFD and categories Cc / Cf, except the three
# control characters that count as spaces.
_CONTROL = r"(?![\t\n\r])[\p{Cc}\p{Cf}\x{FFFD}]"


def _import_tokenizers():
    try:
        import tokenizers
    except ImportError as error:
        raise ImportError(
            "keras_rdkl.compat.bert4keras.Tokenizer needs the Hugging Face "
            f"`tokenizers` package: {_HUB_HINT}."
        ) from error
    return tokenizers


def load_vocab(dict_path, encoding="utf-8"):
    """Reads a BERT `vocab.txt` into `{token: id}` as bert4keras does.

    A line's first whitespace-separated field is the token (the stripped line
    when it has none); ids count lines.

    Args:
        dict_path: path of the vocabulary file, one token per line.
        encoding: the file's text encoding.

    Returns:
        A dict from token to id.
    """
    token_dict = {}
    with open(dict_path, encoding=encoding) as reader:
        for line in reader:
            fields = line.split()
            token = fields[0] if fields else line.strip()
            token_dict[token] = len(token_dict)
    return token_dict


def _truncate(maxlen, index, *sequences):
    """bert4keras' truncation: pop `index` from the longest until it fits."""
    sequences = [s for s in sequences if s]
    total = sum(len(s) for s in sequences)
    while total > maxlen:
        longest = max(range(len(sequences)), key=lambda i: (len(sequences[i]), -i))
        sequences[longest].pop(index)
        total -= 1


class Tokenizer:
    """bert4keras' BERT WordPiece `Tokenizer` (`bert4keras.tokenizers.Tokenizer`).

    Gives the tokens, ids, segment ids and character mappings bert4keras
    0.11.5 gives, so that data pipelines of bert4keras scripts run unchanged.
    Normalization, splitting and WordPiece run in the Hugging Face
    `tokenizers` library (`pip install tokenizers`).

    Rules, as bert4keras': with `do_lower_case`, text is lowercased, NFD
    decomposed and stripped of non-spacing marks; NUL, U+FFFD and control
    or format characters (Unicode Cc, Cf; tab, newline and carriage return
    are spaces) are dropped; each punctuation character (ASCII symbols and
    Unicode P*) and each CJK ideograph is a word of its own; words split at
    white space; a word longer than `word_maxlen` characters, or one that no
    sequence of word pieces covers, stays one token whose id is `[UNK]`'s.

    Args:
        token_dict: path of a BERT `vocab.txt`, or a `{token: id}` dict.
        do_lower_case: lowercase and strip accents first (True for uncased
            and Chinese BERT models).
        word_maxlen: longest word (in characters) cut into word pieces.
        token_start: token put first (`None` for none).
        token_end: token put last (`None` for none).

    Example:

    >>> import pathlib, tempfile
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "我", "爱", "play", "##ing"]
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "vocab.txt"
    >>> _ = path.write_text("\\n".join(vocab), encoding="utf-8")
    >>> tokenizer = Tokenizer(str(path), do_lower_case=True)
    >>> tokenizer.tokenize("我爱 Playing")
    ['[CLS]', '我', '爱', 'play', '##ing', '[SEP]']
    >>> tokenizer.encode("我爱", "playing")
    ([2, 4, 5, 3, 6, 7, 3], [0, 0, 0, 0, 1, 1, 1])
    >>> tokenizer.rematch("我爱 Playing", tokenizer.tokenize("我爱 Playing"))
    [[], [0], [1], [3, 4, 5, 6], [7, 8, 9], []]
    """

    def __init__(
        self,
        token_dict,
        do_lower_case=False,
        word_maxlen=200,
        token_start="[CLS]",
        token_end="[SEP]",
    ):
        tokenizers = _import_tokenizers()
        if isinstance(token_dict, (str, bytes)) or hasattr(token_dict, "__fspath__"):
            token_dict = load_vocab(token_dict)
        elif not isinstance(token_dict, dict):
            raise ValueError(
                "`token_dict` must be a path to a vocab.txt or a {token: id} "
                f"dict. Received: token_dict={token_dict!r}"
            )
        if not isinstance(word_maxlen, int) or word_maxlen < 1:
            raise ValueError(
                f"`word_maxlen` must be a positive int. Received: word_maxlen={word_maxlen!r}"
            )
        self._token_pad = "[PAD]"
        self._token_unk = "[UNK]"
        self._token_mask = "[MASK]"
        self._token_start = token_start
        self._token_end = token_end
        if self._token_unk not in token_dict:
            raise ValueError(
                "The vocabulary has no '[UNK]' token, which unknown words map "
                f"to. Received a vocabulary of {len(token_dict)} tokens."
            )
        for special in (token_start, token_end):
            if special is not None and special not in token_dict:
                raise ValueError(
                    f"The vocabulary has no {special!r} token (`token_start` / "
                    "`token_end`); pass None to leave it out."
                )
        self._do_lower_case = bool(do_lower_case)
        self._word_maxlen = word_maxlen
        self._token_dict = dict(token_dict)
        self._token_dict_inv = {i: t for t, i in token_dict.items()}
        self._vocab_size = len(token_dict)
        for name in ("pad", "unk", "mask", "start", "end"):
            token = getattr(self, f"_token_{name}")
            if token in token_dict:
                setattr(self, f"_token_{name}_id", token_dict[token])

        normalizers = tokenizers.normalizers
        pre_tokenizers = tokenizers.pre_tokenizers
        regex = tokenizers.Regex
        steps = []
        if self._do_lower_case:
            steps += [
                # Python's str.lower writes a final sigma; Rust's per-char
                # lowercase does not.
                normalizers.Replace(regex(r"(?<=\p{L})Σ(?!\p{L})"), "ς"),
                normalizers.Lowercase(),
                normalizers.NFD(),
                normalizers.Replace(regex(r"\p{Mn}"), ""),
            ]
        steps.append(normalizers.Replace(regex(_CONTROL), ""))
        cjk = "[" + "".join(f"{chr(a)}-{chr(b)}" for a, b in _CJK_RANGES) + "]"
        self._normalizer = normalizers.Sequence(steps)
        self._pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.WhitespaceSplit(),
                pre_tokenizers.Split(regex(_PUNCTUATION), "isolated"),
                pre_tokenizers.Split(regex(cjk), "isolated"),
            ]
        )
        self._hf = tokenizers.Tokenizer(
            tokenizers.models.WordPiece(
                self._token_dict,
                unk_token=self._token_unk,
                max_input_chars_per_word=word_maxlen,
            )
        )
        self._hf.normalizer = self._normalizer
        self._hf.pre_tokenizer = self._pre_tokenizer

    @property
    def vocab_size(self):
        """Number of tokens in the vocabulary."""
        return self._vocab_size

    def _pieces(self, text):
        """`[(token, (start, end))]` of `text`, offsets into the original text."""
        if not isinstance(text, str):
            raise ValueError(f"`text` must be a str. Received: text={text!r}")
        encoding = self._hf.encode(text, add_special_tokens=False)
        words = None
        pieces = []
        for token, word, offsets in zip(
            encoding.tokens, encoding.word_ids, encoding.offsets, strict=True
        ):
            if token == self._token_unk:
                # bert4keras keeps a word it cannot cut as the token itself.
                if words is None:
                    normalized = self._normalizer.normalize_str(text)
                    words = self._pre_tokenizer.pre_tokenize_str(normalized)
                token = words[word][0]
            pieces.append((token, offsets))
        return pieces

    def _tokenize(self, text):
        return [token for token, _ in self._pieces(text)]

    def tokenize(self, text, maxlen=None):
        """Word-piece tokens of `text` with `[CLS]` first and `[SEP]` last.

        Args:
            text: a str.
            maxlen: if given, tokens are dropped from the end (before
                `[SEP]`) until at most `maxlen` remain.

        Returns:
            A list of str.
        """
        tokens = self._tokenize(text)
        if self._token_start is not None:
            tokens.insert(0, self._token_start)
        if self._token_end is not None:
            tokens.append(self._token_end)
        if maxlen is not None:
            _check_maxlen(maxlen)
            _truncate(maxlen, -(int(self._token_end is not None) + 1), tokens)
        return tokens

    def token_to_id(self, token):
        """Id of `token` (`[UNK]`'s id for a token not in the vocabulary)."""
        return self._token_dict.get(token, self._token_unk_id)

    def tokens_to_ids(self, tokens):
        """Ids of a list of tokens."""
        return [self.token_to_id(token) for token in tokens]

    def id_to_token(self, i):
        """Token of id `i`."""
        if i not in self._token_dict_inv:
            raise ValueError(
                f"Token id {i!r} is not in the vocabulary (ids 0 to "
                f"{self._vocab_size - 1})."
            )
        return self._token_dict_inv[i]

    def ids_to_tokens(self, ids):
        """Tokens of a list of ids."""
        return [self.id_to_token(int(i)) for i in ids]

    def encode(
        self,
        first_text,
        second_text=None,
        maxlen=None,
        pattern="S*E*E",
        truncate_from="right",
    ):
        """`(token_ids, segment_ids)` of a text or a text pair, as bert4keras.

        A pair is `[CLS] first [SEP] second [SEP]` with segment 0 then 1.
        With `maxlen`, tokens are dropped one at a time from the longer part
        (the first on a tie), before its `[SEP]`, until the total fits.

        Args:
            first_text: a str, or a list of tokens.
            second_text: optional second str (or list of tokens).
            maxlen: longest total length, or None.
            pattern: "S*E*E" (the second part has no `[CLS]`) or "S*ES*E"
                (it keeps its own).
            truncate_from: "right", "left" or an int index to drop at.

        Returns:
            Two lists of int of the same length.
        """
        if pattern not in ("S*E*E", "S*ES*E"):
            raise ValueError(
                f"`pattern` must be 'S*E*E' or 'S*ES*E'. Received: pattern={pattern!r}"
            )
        first = (
            self.tokenize(first_text)
            if isinstance(first_text, str)
            else list(first_text)
        )
        second = None
        if second_text is not None:
            second = (
                self.tokenize(second_text)
                if isinstance(second_text, str)
                else list(second_text)
            )
        if maxlen is not None:
            _check_maxlen(maxlen)
            if truncate_from == "right":
                index = -int(self._token_end is not None) - 1
            elif truncate_from == "left":
                index = int(self._token_start is not None)
            elif isinstance(truncate_from, int):
                index = truncate_from
            else:
                raise ValueError(
                    "`truncate_from` must be 'right', 'left' or an int. "
                    f"Received: truncate_from={truncate_from!r}"
                )
            if second is not None and pattern == "S*E*E":
                maxlen += 1
            _truncate(maxlen, index, first, second)
        token_ids = self.tokens_to_ids(first)
        segment_ids = [0] * len(token_ids)
        if second is not None:
            if pattern == "S*E*E":
                second = second[int(bool(self._token_start)) :]
            second_ids = self.tokens_to_ids(second)
            token_ids.extend(second_ids)
            segment_ids.extend([1] * len(second_ids))
        return token_ids, segment_ids

    @staticmethod
    def stem(token):
        """`token` without a leading `##`."""
        return token[2:] if token[:2] == "##" else token

    @staticmethod
    def _is_special(token):
        return bool(token) and token[0] == "[" and token[-1] == "]"

    def rematch(self, text, tokens):
        """Indices of the characters of `text` behind each token.

        `tokens` are those of `tokenize(text)` (possibly truncated); special
        tokens (`[CLS]`, `[SEP]`, any `[...]`) map to `[]`. As in bert4keras,
        characters dropped by normalization (controls, accents under
        `do_lower_case`) are left out, and a character that normalizes to
        several (a Hangul syllable under NFD) is repeated.

        Args:
            text: the str that was tokenized.
            tokens: list of its tokens.

        Returns:
            A list (one per token) of lists of int.
        """
        pieces = self._pieces(text)
        widths = {}
        mapping, cursor = [], 0
        for token in tokens:
            if self._is_special(token):
                mapping.append([])
                continue
            for j in range(cursor, len(pieces)):
                if pieces[j][0] == token:
                    break
            else:
                raise ValueError(
                    f"Token {token!r} is not a token of `text` after the "
                    f"previous ones; `tokens` must come from tokenize(text). "
                    f"Received: text={text!r}"
                )
            start, end = pieces[j][1]
            chars = []
            for i in range(start, end):
                if text[i] not in widths:
                    widths[text[i]] = len(self._normalizer.normalize_str(text[i]))
                chars.extend([i] * widths[text[i]])
            mapping.append(chars)
            cursor = j + 1
        return mapping


def _check_maxlen(maxlen):
    if isinstance(maxlen, bool) or not isinstance(maxlen, int) or maxlen < 2:
        raise ValueError(f"`maxlen` must be an int >= 2. Received: maxlen={maxlen!r}")
