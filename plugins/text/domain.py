"""Sentences from text files: one sentence per line, word or character tokens, with EOS.

With ``conditions: label`` or ``conditions: context`` every line is two fields separated by
a tab: ``label<TAB>sentence`` (class-conditional text) or ``context<TAB>response``
(single-turn dialogue), read by the same reader. Class names come from the training file
(sorted); a context is tokenised like a sentence, with the same vocabulary (built from
both columns of the training file), and encoded as a ``Batch`` of its own. Samples are
written back in the same two-column form.

The training file alone decides the vocabulary (test words it lacks become ``<unk>``),
so nothing about the held-out data leaks into the model. Every sentence is encoded as its
tokens followed by ``<eos>`` and padded with ``<pad>``; ``Batch.lengths`` count the EOS,
so a generator learns where sentences end and every length it produces is honest.

Files are read lazily (on the first ``spec``, ``load`` or ``write_samples``) and the
vocabulary is part of ``state_dict``: a domain restored with ``load_state_dict`` before
anything else decodes samples without the data files.
"""

from __future__ import annotations

import warnings
from difflib import get_close_matches
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Mapping, Sequence

import torch

from seqtk.core.atomic import atomic_write_text
from seqtk.core.errors import DataError
from seqtk.core.interfaces import Batch, Condition, ConditionSpec, Domain, DomainSpec, SequenceData
from seqtk.core.params import PositiveInt, Range, checked
from seqtk.core.splits import LazySplits
from seqtk.core.textfiles import read_utf8
from seqtk.plugins.text.tokenize import detokenize, get_tokenizer
from seqtk.plugins.text.vocab import BOS_ID, EOS_ID, PAD_ID, Vocabulary

__all__ = ["TextDomain", "read_sentences", "read_fields"]

TooLong = Literal["drop", "truncate", "error"]
#: What each line is conditioned on: nothing, a class label, or a context sentence (the first of two tab-separated fields).
Conditions = Literal["none", "label", "context"]
#: The seed of the permutation that ``shuffle_train_conditions`` applies (fixed: the baseline is the same data every time).
_SHUFFLE_SEED = 17
#: Version of the ``state_dict`` layout.
_STATE_FORMAT = 1


@dataclass(frozen=True)
class Sentence:
    """A non-blank line of a data file: its 1-based line number and its tokens."""

    line: int
    tokens: list[str]
    #: ``conditions: label``: the class name of the line's first field.
    label: str | None = None
    #: ``conditions: context``: the tokens of the line's first field.
    context: list[str] | None = None


def read_sentences(path: Path, role: str) -> list[tuple[int, str]]:
    """``(line number, text)`` of every non-blank line of a UTF-8 file, surrounding whitespace stripped.

    Raises ``DataError`` (naming ``role``, the file, and the line and byte where relevant)
    for a missing or unreadable file, bytes that are not UTF-8, or a file with no sentence.
    A UTF-8 byte-order mark at the start is accepted. Lines end at ``\\n`` only (``\\r\\n``
    works too), so line numbers agree with every editor.
    """
    path = Path(path)
    text = read_utf8(path, f"{role} file {path}", "a UTF-8 text file with one sentence per line")
    if not text.strip():
        what = "is empty" if not text else "holds only blank lines"
        raise DataError(f"{role} file {path}: {what}; expected one sentence per line")
    return [(number, line.strip()) for number, line in enumerate(text.split("\n"), start=1) if line.strip()]


def read_fields(path: Path, role: str, form: str) -> list[tuple[int, str, str]]:
    """``(line number, first field, second field)`` of every non-blank line of a two-column, tab-separated file.

    ``form`` names the columns for messages (``"label<TAB>sentence"``). A line without a
    tab, or with more than one, is a ``DataError`` naming the file and the line; the fields
    are returned as written (the caller strips and checks them). Reading and encoding
    errors are those of :func:`read_sentences`.
    """
    path = Path(path)
    read_sentences(path, role)  # missing, unreadable, not UTF-8, or no line at all: its messages
    text = read_utf8(path, f"{role} file {path}", f"a UTF-8 text file with one {form} per line")
    out = []
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.rstrip("\r").lstrip("\ufeff") if number == 1 else raw.rstrip("\r")
        if not line.strip():
            continue
        tabs = line.count("\t")
        if tabs != 1:
            found = "no tab" if not tabs else f"{tabs} tabs"
            raise DataError(f"{role} file {path}: line {number}: expected {form} (one tab), found {found}: {line.strip()[:60]!r}")
        left, _, right = line.partition("\t")
        out.append((number, left, right))
    return out


def _as_bool(name: str, value: Any) -> bool:
    """``value`` as a boolean; strings from a command line ("true", "no", "1") are accepted."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "1", "false", "no", "0"):
        return value.strip().lower() in ("true", "yes", "1")
    raise ValueError(f"{name} must be true or false, got {value!r}")


@checked("text")
class TextDomain(LazySplits, Domain):
    """Sentences, one per line, from a training file and a held-out test file.

    Parameters: ``train`` / ``test`` paths of UTF-8 files, one sentence per line (blank
    lines skipped); ``tokenizer`` ``"word"`` or ``"char"`` (seqtk.plugins.text.tokenize);
    ``lowercase`` fold case before tokenising; ``min_freq`` training tokens seen fewer
    times become ``<unk>``; ``max_vocab`` the most ids in total, the four specials
    included (null: no cap); ``max_len`` the most steps per sentence, EOS included
    (null: the longest training sentence + 1); ``too_long`` what to do with a sentence
    longer than that: ``"drop"`` it (one warning per file), ``"truncate"`` it to
    ``max_len - 1`` tokens + EOS, or stop with an ``"error"``.

    ``conditions`` ``"none"`` (default), ``"label"`` (lines are ``label<TAB>sentence``) or
    ``"context"`` (lines are ``context<TAB>response``); a context obeys ``max_len`` and
    ``too_long`` as the sentence does (a dropped context drops its line).
    ``shuffle_train_conditions`` permutes the training split's labels or contexts across
    its sentences (a fixed permutation), so that they say nothing about them: the
    shuffled-condition baseline. The test split keeps its own.
    """

    default_metrics: ClassVar[tuple[str, ...]] = ("bleu-2", "bleu-3", "bleu-4", "distinct-2", "nll-test")
    split_label: ClassVar[str] = "text"

    def __init__(
        self,
        train: str,
        test: str,
        tokenizer: str = "word",
        lowercase: bool = False,
        min_freq: PositiveInt = 1,
        max_vocab: Annotated[int, Range(5, note="or null; it counts the 4 special tokens")] | None = None,
        max_len: Annotated[int, Range(2, note="or null; it counts the EOS")] | None = None,
        too_long: TooLong = "drop",
        conditions: Conditions = "none",
        shuffle_train_conditions: bool = False,
    ) -> None:
        for name, value in (("train", train), ("test", test)):
            if not isinstance(value, (str, Path)) or not str(value).strip():
                raise ValueError(f"text: {name} must be the path of a text file, got {value!r}")
        self.tokenize = get_tokenizer(tokenizer)
        self.train_path = Path(train).expanduser()
        self.test_path = Path(test).expanduser()
        self.tokenizer = tokenizer
        self.lowercase = _as_bool("text: lowercase", lowercase)
        self.min_freq = min_freq
        self.max_vocab = max_vocab
        self.max_len_param = max_len
        self.too_long = too_long
        self.conditions = conditions
        self.shuffle_train_conditions = _as_bool("text: shuffle_train_conditions", shuffle_train_conditions)
        if self.shuffle_train_conditions and conditions == "none":
            raise ValueError("text: shuffle_train_conditions needs conditions: label or context")
        self._class_names: tuple[str, ...] = ()
        self._vocab: Vocabulary | None = None
        self._max_len: int | None = None
        self._train_sentences: list[Sentence] | None = None

    # ----------------------------------------------------------- reading

    def _tokens(self, text: str) -> list[str]:
        return self.tokenize(text.lower() if self.lowercase else text)

    def _sentences(self, path: Path, role: str) -> list[Sentence]:
        if self.conditions != "none":
            return self._conditional_sentences(path, role)
        out = []
        for number, line in read_sentences(path, role):
            tokens = self._tokens(line)
            if tokens:
                out.append(Sentence(number, tokens))
        return out

    def _conditional_sentences(self, path: Path, role: str) -> list[Sentence]:
        """Lines of two tab-separated fields; a line that is not is a ``DataError`` naming the file and line."""
        first, second = ("label", "sentence") if self.conditions == "label" else ("context", "response")
        out = []
        for number, left, right in read_fields(path, role, f"{first}<TAB>{second}"):
            where = f"{role} file {path}: line {number}"
            if not left.strip():
                raise DataError(f"{where}: the {first} (before the tab) is empty; expected {first}<TAB>{second}")
            tokens = self._tokens(right)
            if not tokens:
                raise DataError(f"{where}: the {second} (after the tab) is empty; expected {first}<TAB>{second}")
            if self.conditions == "label":
                out.append(Sentence(number, tokens, label=left.strip()))
            else:
                context = self._tokens(left)
                if not context:  # only characters the tokenizer drops
                    raise DataError(f"{where}: the context (before the tab) holds no token; expected context<TAB>response")
                out.append(Sentence(number, tokens, context=context))
        return out

    def _ensure_vocabulary(self) -> Vocabulary:
        """Build the vocabulary (and max_len) from the training file, unless restored from a state."""
        if self._vocab is None:
            self._train_sentences = sentences = self._sentences(self.train_path, "train")
            contexts = [s.context for s in sentences if s.context is not None]
            self._vocab = Vocabulary.build([*(s.tokens for s in sentences), *contexts], self.min_freq, self.max_vocab)
            longest = max(len(tokens) for tokens in [*(s.tokens for s in sentences), *contexts])
            self._max_len = self.max_len_param if self.max_len_param is not None else longest + 1
            if self.conditions == "label":
                self._class_names = tuple(sorted({s.label for s in sentences if s.label is not None}))
                if len(self._class_names) < 2:
                    raise DataError(
                        f"train file {self.train_path}: conditions: label needs at least 2 classes, found "
                        f"{len(self._class_names)} ({', '.join(self._class_names)})"
                    )
        return self._vocab

    @property
    def vocabulary(self) -> Vocabulary:
        return self._ensure_vocabulary()

    @property
    def max_len(self) -> int:
        self._ensure_vocabulary()
        assert self._max_len is not None
        return self._max_len

    @property
    def class_names(self) -> tuple[str, ...]:
        """``conditions: label``: the class names, sorted (label ``k`` is ``class_names[k]``); empty otherwise."""
        self._ensure_vocabulary()
        return self._class_names

    @property
    def spec(self) -> DomainSpec:
        sentences = DomainSpec(
            kind="discrete",
            max_len=self.max_len,
            vocab_size=len(self.vocabulary),
            pad_id=PAD_ID,
            bos_id=BOS_ID,
            eos_id=EOS_ID,
            unsampled_ids=(PAD_ID, BOS_ID),
        )
        if self.conditions == "label":
            return replace(sentences, conditions=ConditionSpec(num_classes=len(self.class_names), class_names=self.class_names))
        if self.conditions == "context":  # contexts share the sentences' vocabulary and max_len
            return replace(sentences, conditions=ConditionSpec(context=sentences))
        return sentences

    # ----------------------------------------------------------- encoding

    def _fit(self, sentences: Sequence[Sentence], path: Path) -> list[Sentence]:
        """Apply the ``too_long`` policy to each sentence and its context: the sentences that fit ``max_len`` (EOS included)."""
        room = self.max_len - 1
        kept, dropped = [], []
        for sentence in sentences:
            longest = max(len(sentence.tokens), len(sentence.context or ()))
            if longest <= room:
                kept.append(sentence)
            elif self.too_long == "truncate":
                context = None if sentence.context is None else sentence.context[:room]
                kept.append(replace(sentence, tokens=sentence.tokens[:room], context=context))
            elif self.too_long == "error":
                what = "sentence" if len(sentence.tokens) == longest else "context"
                raise DataError(
                    f"{path}: line {sentence.line}: the {what} has {longest} tokens, more than "
                    f"max_len={self.max_len} allows ({room} tokens + <eos>); raise max_len or set too_long to "
                    "'drop' or 'truncate'"
                )
            else:
                dropped.append(sentence.line)
        if dropped:
            warnings.warn(
                f"{path}: dropped {len(dropped)} sentence(s) longer than max_len={self.max_len} "
                f"({room} tokens + <eos>); the first is on line {dropped[0]}",
                UserWarning,
                stacklevel=3,
            )
        if not kept:
            raise DataError(
                f"{path}: no sentence fits max_len={self.max_len} ({room} tokens + <eos>); "
                "raise max_len or set too_long to 'truncate'"
            )
        return kept

    def encode(self, token_lists: Sequence[Sequence[str]]) -> Batch:
        """Token lists (each at most ``max_len - 1`` long) as a padded ``[N, max_len]`` batch ending in EOS."""
        vocab, width = self.vocabulary, self.max_len
        rows, lengths = [], []
        for row, tokens in enumerate(token_lists):
            if len(tokens) >= width:
                raise ValueError(f"sentence {row} has {len(tokens)} tokens; at most {width - 1} fit max_len={width}")
            ids = vocab.encode(tokens) + [EOS_ID]
            rows.append(ids + [PAD_ID] * (width - len(ids)))
            lengths.append(len(ids))
        values = torch.tensor(rows, dtype=torch.long).reshape(len(rows), width)
        return Batch(values=values, lengths=torch.tensor(lengths, dtype=torch.long))

    def decode(self, batch: Batch) -> list[list[str]]:
        """The tokens of each row, up to its length and its first EOS (pad and bos dropped)."""
        vocab = self.vocabulary
        values = batch.values.detach().cpu().tolist()
        lengths = batch.lengths.detach().cpu().tolist()
        return [vocab.decode(row[: int(n)]) for row, n in zip(values, lengths)]

    def read_splits(self, split: Literal["train", "test"]) -> dict[str, SequenceData]:
        """One split per file: the vocabulary comes from the training file, then ``split`` is encoded with it."""
        self._ensure_vocabulary()
        if split == "train":
            sentences = self._train_sentences or self._sentences(self.train_path, "train")
            path = self.train_path
        else:
            sentences, path = self._sentences(self.test_path, "test"), self.test_path
        kept = self._fit(sentences, path)
        batch = self.encode([s.tokens for s in kept])
        if self.conditions != "none":
            condition = self._condition(kept, path, f"{split} file")
            if split == "train" and self.shuffle_train_conditions:
                condition = condition.index(torch.randperm(batch.size, generator=torch.Generator().manual_seed(_SHUFFLE_SEED)))
            batch = replace(batch, condition=condition)
        if split == "train":
            self._train_sentences = None  # encoded now: the token lists are no longer needed
        return {split: SequenceData(batch)}

    def _condition(self, sentences: Sequence[Sentence], path: Path, role: str) -> Condition:
        """The labels (ids into ``class_names``) or the encoded contexts of ``sentences``."""
        if self.conditions == "context":
            return Condition(context=self.encode([s.context or [] for s in sentences]))
        names = {name: k for k, name in enumerate(self.class_names)}
        for sentence in sentences:
            if sentence.label not in names:
                close = get_close_matches(str(sentence.label), list(names), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise DataError(
                    f"{role} {path}: line {sentence.line}: unknown label {sentence.label!r}{hint}; the training file's "
                    f"classes are {', '.join(self.class_names)}"
                )
        return Condition(labels=torch.tensor([names[s.label] for s in sentences], dtype=torch.long))

    def read_conditions(self, path: Path) -> Condition:
        """``seqtk sample --conditions FILE``: one label, or one context sentence, per non-blank line.

        Labels must be classes of the training file; contexts are tokenised with the run's
        vocabulary (unknown words become ``<unk>``) and must fit ``max_len``.
        """
        if self.conditions == "none":
            raise DataError(f"conditions file {path}: this run's text domain is unconditional (conditions: none)")
        self._ensure_vocabulary()
        lines = read_sentences(Path(path), "conditions")
        if self.conditions == "label":
            sentences = [Sentence(number, [], label=line) for number, line in lines]
        else:
            sentences = []
            for number, line in lines:
                context = self._tokens(line)
                if len(context) >= self.max_len:
                    raise DataError(f"conditions file {path}: line {number}: the context has {len(context)} tokens; at most {self.max_len - 1} fit max_len={self.max_len}")
                sentences.append(Sentence(number, [], context=context))
        return self._condition(sentences, Path(path), "conditions file")

    # ----------------------------------------------------------- output

    def write_samples(self, batch: Batch, directory: Path, stem: str) -> list[Path]:
        """``<stem>.txt``: one detokenised sentence per line (tokens up to EOS), written atomically.

        A sample that is only EOS gives an empty line. A conditional domain's samples are
        written as its files are read, ``label<TAB>sentence`` or ``context<TAB>response``
        (the condition each sample was drawn for), when the batch carries its condition.
        """
        lines = [detokenize(tokens, self.tokenizer) for tokens in self.decode(batch)]
        condition = batch.condition
        if self.conditions == "label" and condition is not None and condition.labels is not None:
            names = self.class_names
            lines = [f"{names[int(k)]}\t{line}" for k, line in zip(condition.labels.tolist(), lines)]
        elif self.conditions == "context" and condition is not None and condition.context is not None:
            contexts = [detokenize(tokens, self.tokenizer) for tokens in self.decode(condition.context)]
            lines = [f"{context}\t{line}" for context, line in zip(contexts, lines)]
        path = Path(directory) / f"{stem}.txt"
        atomic_write_text(path, "".join(line + "\n" for line in lines))
        return [path]

    def report_samples(self, run_dir: Path, *, generator: Any = None, count: int = 8) -> list[Any]:
        """``seqtk report``: generated sentences beside held-out ones, with their NLL (``seqtk.plugins.text.report``)."""
        from seqtk.plugins.text.report import sentence_report

        test = self.load("test").batch
        shown = test.index(torch.arange(min(count, test.size)))
        held_out = [detokenize(tokens, self.tokenizer) for tokens in self.decode(shown)]

        def encode_line(line: str) -> Batch | None:
            tokens = self.tokenize(line.lower() if self.lowercase else line)
            return self.encode([tokens]) if len(tokens) < self.max_len else None

        return sentence_report(
            run_dir, generator=generator, count=count, held_out=held_out,
            held_out_batch=lambda i: shown.index(torch.tensor([i])), encode_line=encode_line,
        )

    # ----------------------------------------------------------- state

    def state_dict(self) -> dict[str, Any]:
        """The vocabulary and max_len: all a finished run needs to decode samples without the files."""
        return {
            "format": _STATE_FORMAT,
            "vocabulary": self.vocabulary.to_dict(),
            "max_len": self.max_len,
            "tokenizer": self.tokenizer,
            "lowercase": self.lowercase,
            "conditions": self.conditions,
            "class_names": list(self.class_names),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore the vocabulary; if one was already built from the files, they must agree.

        Restored first (before ``spec``), no data file is read. Restored after the files were
        read (resuming a run), a different vocabulary means the training file changed since
        the checkpoint, which a ``DataError`` reports rather than mis-decoding every token.
        """
        if not isinstance(state, Mapping) or state.get("format") != _STATE_FORMAT:
            raise DataError(f"text: the saved domain state is not a text domain's state (format {_STATE_FORMAT})")
        for key, mine in (("tokenizer", self.tokenizer), ("lowercase", self.lowercase), ("conditions", self.conditions)):
            if state.get(key, "none" if key == "conditions" else None) != mine:  # states saved before conditions had none
                raise DataError(f"text: the run was saved with {key}={state.get(key)!r}, this domain has {key}={mine!r}")
        try:
            vocab = Vocabulary.from_dict(state["vocabulary"])
        except (KeyError, ValueError) as exc:
            raise DataError(f"text: the saved vocabulary cannot be read: {exc}") from None
        max_len = int(state["max_len"])
        class_names = tuple(str(name) for name in state.get("class_names", ()))
        if self._vocab is None:
            self._vocab, self._max_len, self._class_names = vocab, max_len, class_names
            return
        if vocab != self._vocab or max_len != self._max_len or class_names != self._class_names:
            raise DataError(
                f"text: the training file {self.train_path} gives a different vocabulary or max_len "
                f"({len(self._vocab)} ids, max_len {self._max_len}) from the one saved with the run "
                f"({len(vocab)} ids, max_len {max_len}{', classes ' + ', '.join(class_names) if class_names else ''}); "
                "the file changed since the checkpoint"
            )

    # ----------------------------------------------------------- scoring

    @classmethod
    def scoring_data(cls, real: Path, samples: Path, params: Mapping[str, Any]) -> tuple["TextDomain", Batch, Batch]:
        """A domain whose vocabulary covers both files, the real sentences and the samples.

        ``params``: ``tokenizer`` (default "word"), ``lowercase`` (default false) and
        ``conditions`` (default "none"; with ``label`` or ``context`` both files are
        two-column, the classes are the real file's and each sample is scored for the
        condition written beside it). No length cap: ``max_len`` is the longest line of
        either file + 1.
        """
        allowed = ("tokenizer", "lowercase", "conditions")
        unknown = sorted(set(params) - set(allowed))
        if unknown:
            raise ValueError(f"text: unknown scoring parameter(s) {', '.join(unknown)}; valid: {', '.join(allowed)}")
        domain = cls(
            train=str(real),
            test=str(real),
            tokenizer=params.get("tokenizer", "word"),
            lowercase=_as_bool("text: lowercase", params.get("lowercase", False)),
            conditions=params.get("conditions", "none"),
        )
        if domain.conditions not in ("none", "label", "context"):
            raise ValueError(f"text: conditions must be 'none', 'label' or 'context', got {domain.conditions!r}")
        real_sentences = domain._sentences(Path(real), "real-data")
        fake_sentences = domain._sentences(Path(samples), "samples")
        both = [s.tokens for s in real_sentences + fake_sentences] + [s.context for s in real_sentences + fake_sentences if s.context]
        domain._vocab = Vocabulary.build(both)
        domain._max_len = max(len(tokens) for tokens in both) + 1
        domain._class_names = tuple(sorted({s.label for s in real_sentences if s.label is not None}))

        def batch(sentences: list[Sentence], path: Path, role: str) -> Batch:
            encoded = domain.encode([s.tokens for s in sentences])
            return encoded if domain.conditions == "none" else replace(encoded, condition=domain._condition(sentences, path, role))

        real_batch = batch(real_sentences, Path(real), "real-data file")
        domain.keep_splits({"train": SequenceData(real_batch), "test": SequenceData(real_batch)})
        return domain, real_batch, batch(fake_sentences, Path(samples), "samples file")

    def __repr__(self) -> str:
        return (
            f"TextDomain(train={str(self.train_path)!r}, test={str(self.test_path)!r}, tokenizer={self.tokenizer!r}, "
            f"lowercase={self.lowercase}, min_freq={self.min_freq}, max_vocab={self.max_vocab}, "
            f"max_len={self.max_len_param}, too_long={self.too_long!r}, conditions={self.conditions!r}, "
            f"shuffle_train_conditions={self.shuffle_train_conditions})"
        )
