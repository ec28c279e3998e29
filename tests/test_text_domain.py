"""The text domain: tokenizers, vocabulary, encoding, data errors, sample files, state, scoring."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from seqtk.core.batches import BatchStream
from seqtk.core.errors import DataError
from seqtk.core.interfaces import Batch
from seqtk.plugins.text.domain import TextDomain
from seqtk.plugins.text.tokenize import TOKENIZERS, char_tokens, detokenize, get_tokenizer, word_tokens
from seqtk.plugins.text.vocab import BOS_ID, EOS_ID, PAD_ID, SPECIALS, UNK_ID, Vocabulary


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    train = write(tmp_path / "train.txt", "the cat sat .\n\na dog sat on the mat .\nthe dog ran\n")
    test = write(tmp_path / "test.txt", "the bird sat .\nthe cat ran\n")
    return train, test


# --------------------------------------------------------------------------- tokenizers


@pytest.mark.parametrize(
    "line, expected",
    [
        ("a dog's bone, ok.", ["a", "dog's", "bone", ",", "ok", "."]),
        ("  spaced\tout  words ", ["spaced", "out", "words"]),
        ("well-known e-mail costs 3.5 dollars!", ["well-known", "e-mail", "costs", "3.5", "dollars", "!"]),
        ('"quoted" (parens) ok...', ['"', "quoted", '"', "(", "parens", ")", "ok", ".", ".", "."]),
        ("don't stop-", ["don't", "stop", "-"]),
        ("an <unk> word", ["an", "<unk>", "word"]),
        ("x < y > z", ["x", "<", "y", ">", "z"]),
        ("café naïve über", ["café", "naïve", "über"]),
        ("", []),
    ],
)
def test_word_tokens_split_punctuation_from_words(line: str, expected: list[str]) -> None:
    assert word_tokens(line) == expected


def test_char_tokens_keep_spaces_and_round_trip() -> None:
    line = "a b,  c"
    assert char_tokens(line) == ["a", " ", "b", ",", " ", " ", "c"]
    assert detokenize(char_tokens(line), "char") == line
    assert detokenize(["a", "dog's", "bone", ","], "word") == "a dog's bone ,"
    assert set(TOKENIZERS) == {"word", "char"}


def test_unknown_tokenizer_lists_names_and_suggests() -> None:
    with pytest.raises(ValueError, match=r"'char', 'word'.*did you mean 'word'"):
        get_tokenizer("wrod")
    with pytest.raises(ValueError, match="did you mean 'word'"):
        TextDomain("a.txt", "b.txt", tokenizer="words")
    with pytest.raises(ValueError, match="tokenizer"):
        detokenize(["a"], "bpe")


# --------------------------------------------------------------------------- vocabulary


def test_vocabulary_order_specials_and_ties() -> None:
    vocab = Vocabulary.build([["b", "a", "c", "a"], ["c", "d", "a", "<unk>"]])
    # a:3, c:2, then b and d (1 each) alphabetically; the literal <unk> is not a new entry
    assert vocab.tokens == [*SPECIALS, "a", "c", "b", "d"]
    assert (vocab.id_of("<pad>"), vocab.id_of("<unk>"), vocab.id_of("zzz")) == (UNK_ID, UNK_ID, UNK_ID)
    # built from the same sentences in another order: the same ids
    assert Vocabulary.build([["c", "d", "a"], ["a", "b", "c", "a"]]) == vocab


def test_vocabulary_min_freq_and_max_size_counting_specials() -> None:
    sentences = [["x", "x", "x", "y", "y", "z"]]
    assert Vocabulary.build(sentences, min_freq=2).tokens == [*SPECIALS, "x", "y"]
    assert Vocabulary.build(sentences, max_size=5).tokens == [*SPECIALS, "x"]
    assert len(Vocabulary.build(sentences, max_size=6)) == 6
    with pytest.raises(ValueError, match="max_size"):
        Vocabulary.build(sentences, max_size=4)
    with pytest.raises(ValueError, match="min_freq"):
        Vocabulary.build(sentences, min_freq=0)


def test_vocabulary_encode_decode_round_trip_and_dict() -> None:
    vocab = Vocabulary.build([["hello", "world", "hello"]])
    ids = vocab.encode(["hello", "there", "world", "<eos>"])
    assert ids == [4, UNK_ID, 5, UNK_ID]  # text cannot inject a control token
    assert vocab.decode([BOS_ID, 4, 5, PAD_ID, EOS_ID, 4]) == ["hello", "world"]
    assert vocab.decode(vocab.encode(["world", "hello"])) == ["world", "hello"]
    restored = Vocabulary.from_dict(vocab.to_dict())
    assert restored == vocab and restored.tokens is not vocab.tokens
    assert all(isinstance(t, str) for t in vocab.to_dict()["tokens"])
    with pytest.raises(ValueError, match="outside"):
        vocab.decode([99])
    with pytest.raises(ValueError, match="specials"):
        Vocabulary(["a", "b"])


# --------------------------------------------------------------------------- encoding


def test_encoding_eos_lengths_padding_and_spec(files: tuple[Path, Path]) -> None:
    domain = TextDomain(str(files[0]), str(files[1]))
    vocab = domain.vocabulary
    # counts: the 3, sat 2, . 2, dog 2, then a, cat, mat, on, ran once (alphabetical)
    assert vocab.tokens == [*SPECIALS, "the", ".", "dog", "sat", "a", "cat", "mat", "on", "ran"]
    spec = domain.spec
    assert (spec.kind, spec.max_len, spec.vocab_size) == ("discrete", 8, 13)  # longest: 7 tokens + EOS
    assert (spec.pad_id, spec.bos_id, spec.eos_id, spec.unsampled_ids) == (0, 1, 2, (0, 1))
    train = domain.load("train").batch
    assert train.values.shape == (3, 8) and train.values.dtype == torch.long
    assert train.lengths.tolist() == [5, 8, 4]
    assert train.values[0].tolist() == [vocab.id_of(t) for t in "the cat sat .".split()] + [EOS_ID, PAD_ID, PAD_ID, PAD_ID]
    assert (train.values[~train.mask] == PAD_ID).all()
    assert domain.decode(train) == [line.split() for line in ("the cat sat .", "a dog sat on the mat .", "the dog ran")]
    test = domain.load("test").batch
    assert test.values[0, :5].tolist() == [vocab.id_of("the"), UNK_ID, vocab.id_of("sat"), vocab.id_of("."), EOS_ID]
    assert domain.load("train") is domain.load("train")  # encoded once


def test_lowercase_char_tokens_min_freq_and_max_vocab(tmp_path: Path) -> None:
    train = write(tmp_path / "train.txt", "Ab ab\nBA\n")
    char = TextDomain(str(train), str(train), tokenizer="char", lowercase=True)
    assert char.vocabulary.tokens == [*SPECIALS, "a", "b", " "]
    assert char.load("train").batch.lengths.tolist() == [6, 3]
    assert TextDomain(str(train), str(train)).spec.vocab_size == 4 + 3  # "Ab", "ab", "BA": case kept
    words = write(tmp_path / "words.txt", "b a b c\nb a\n")  # b:3 a:2 c:1
    assert TextDomain(str(words), str(words), min_freq=2).vocabulary.tokens == [*SPECIALS, "b", "a"]
    capped = TextDomain(str(words), str(words), max_vocab=5)
    assert capped.vocabulary.tokens == [*SPECIALS, "b"] and capped.spec.vocab_size == 5
    assert capped.load("train").batch.values[0, :5].tolist() == [4, UNK_ID, 4, UNK_ID, EOS_ID]


# --------------------------------------------------------------------------- data errors


def test_missing_empty_and_blank_files_name_the_file(tmp_path: Path) -> None:
    good = write(tmp_path / "good.txt", "a b\n")
    with pytest.raises(DataError, match=r"train file .*nope\.txt: does not exist"):
        TextDomain(str(tmp_path / "nope.txt"), str(good)).spec
    with pytest.raises(DataError, match=r"empty\.txt: is empty"):
        TextDomain(str(write(tmp_path / "empty.txt", "")), str(good)).spec
    with pytest.raises(DataError, match=r"blank\.txt: holds only blank lines"):
        TextDomain(str(write(tmp_path / "blank.txt", "\n  \n\t\n")), str(good)).spec
    with pytest.raises(DataError, match=r"test file .*gone\.txt"):
        TextDomain(str(good), str(tmp_path / "gone.txt")).load("test")


def test_non_utf8_names_line_and_byte_offset(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.txt", b"fine line\nbad \xff byte\n")
    with pytest.raises(DataError, match=r"bad\.txt: line 2: byte 5 of the line \(offset 14\) is not valid UTF-8"):
        TextDomain(str(bad), str(bad)).spec
    bom = write(tmp_path / "bom.txt", b"\xef\xbb\xbfhi there\r\nyou\r\n")
    domain = TextDomain(str(bom), str(bom))
    assert domain.vocabulary.tokens[4:] == ["hi", "there", "you"]


def test_too_long_drop_truncate_error(tmp_path: Path) -> None:
    train = write(tmp_path / "train.txt", "a b c d e\na b\n\nc d e f g h\na\n")
    with pytest.warns(UserWarning, match=r"train\.txt: dropped 2 sentence\(s\) longer than max_len=4.*first is on line 1"):
        dropped = TextDomain(str(train), str(train), max_len=4, too_long="drop").load("train").batch
    assert dropped.lengths.tolist() == [3, 2]
    truncated = TextDomain(str(train), str(train), max_len=4, too_long="truncate")
    batch = truncated.load("train").batch
    assert batch.lengths.tolist() == [4, 3, 4, 2]
    assert truncated.decode(batch)[2] == ["c", "d", "e"] and batch.values[2, 3] == EOS_ID
    with pytest.raises(DataError, match=r"train\.txt: line 1: the sentence has 5 tokens, more than max_len=4"):
        TextDomain(str(train), str(train), max_len=4, too_long="error").load("train")
    with pytest.raises(DataError, match="no sentence fits"), pytest.warns(UserWarning, match="dropped 1"):
        TextDomain(str(write(tmp_path / "long.txt", "a b c\n")), str(train), max_len=2).load("train")
    with pytest.raises(ValueError, match="too_long"):
        TextDomain(str(train), str(train), too_long="cut")  # type: ignore[arg-type]


def test_test_sentences_longer_than_training_ones_follow_the_policy(tmp_path: Path) -> None:
    train = write(tmp_path / "train.txt", "a b\n")
    test = write(tmp_path / "test.txt", "a\na b c d\n")
    domain = TextDomain(str(train), str(test))  # max_len = 3 from the training file
    with pytest.warns(UserWarning, match=r"test\.txt: dropped 1 .*line 2"):
        assert domain.load("test").batch.lengths.tolist() == [2]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        domain.load("test")  # cached: warns once


def test_parameter_checks() -> None:
    with pytest.raises(ValueError, match="min_freq"):
        TextDomain("a", "b", min_freq=0)
    with pytest.raises(ValueError, match="max_vocab"):
        TextDomain("a", "b", max_vocab=4)
    with pytest.raises(ValueError, match="max_len"):
        TextDomain("a", "b", max_len=1)
    with pytest.raises(ValueError, match="train"):
        TextDomain("", "b")


def test_dataset_smaller_than_a_batch_streams(tmp_path: Path) -> None:
    tiny = write(tmp_path / "tiny.txt", "only one\nand two\n")
    data = TextDomain(str(tiny), str(tiny)).load("train")
    stream = BatchStream(data, batch_size=5, seed=0)
    batch = stream.next()
    assert batch.size == 5 and stream.epoch >= 2
    assert sorted(set(batch.lengths.tolist())) == [3]


# --------------------------------------------------------------------------- samples and state


def test_write_samples_detokenizes_up_to_eos(files: tuple[Path, Path], tmp_path: Path) -> None:
    domain = TextDomain(str(files[0]), str(files[1]))
    v = domain.vocabulary
    the, dog, ran, dot = (v.id_of(t) for t in ("the", "dog", "ran", "."))
    values = torch.tensor([[the, dog, ran, dot, EOS_ID, the], [the, UNK_ID, EOS_ID, dog, dog, dog], [EOS_ID, 0, 0, 0, 0, 0]])
    batch = Batch(values=values, lengths=torch.tensor([6, 3, 1]))
    paths = domain.write_samples(batch, tmp_path / "out", "step-1")
    assert paths == [tmp_path / "out" / "step-1.txt"]
    assert paths[0].read_text(encoding="utf-8") == "the dog ran .\nthe <unk>\n\n"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["step-1.txt"]  # no temporary left


def test_state_dict_round_trip_without_data_files(tmp_path: Path) -> None:
    train = write(tmp_path / "train.txt", "b a b\nc\n")
    domain = TextDomain(str(train), str(train), tokenizer="word")
    state = domain.state_dict()
    assert state["vocabulary"]["tokens"] == [*SPECIALS, "b", "a", "c"] and state["max_len"] == 4
    train.unlink()
    restored = TextDomain(str(train), str(train))
    restored.load_state_dict(state)
    assert restored.spec == domain.spec
    batch = Batch(values=torch.tensor([[4, 5, 6, EOS_ID]]), lengths=torch.tensor([4]))
    assert restored.write_samples(batch, tmp_path, "s")[0].read_text() == "b a c\n"
    # a run resumed after the training file changed: refuse rather than mis-decode
    changed = TextDomain(str(write(tmp_path / "train2.txt", "x y\n")), str(train))
    changed.spec
    with pytest.raises(DataError, match="changed since the checkpoint"):
        changed.load_state_dict(state)
    with pytest.raises(DataError, match="tokenizer"):
        TextDomain(str(train), str(train), tokenizer="char").load_state_dict(state)


def test_scoring_data_vocabulary_covers_both_files(tmp_path: Path) -> None:
    real = write(tmp_path / "real.txt", "The cat sat.\nA dog ran\n")
    gen = write(tmp_path / "gen.txt", "the zebra sat on a very long mat today\n")
    domain, real_batch, fake_batch = TextDomain.scoring_data(real, gen, {"lowercase": "true"})
    assert isinstance(domain, TextDomain)
    assert UNK_ID not in real_batch.values.tolist()[0] and UNK_ID not in fake_batch.values[0].tolist()
    assert domain.decode(fake_batch) == [["the", "zebra", "sat", "on", "a", "very", "long", "mat", "today"]]
    assert domain.decode(real_batch) == [["the", "cat", "sat", "."], ["a", "dog", "ran"]]
    assert fake_batch.lengths.tolist() == [10] and domain.spec.max_len == 10
    assert domain.load("test").batch is real_batch
    with pytest.raises(ValueError, match="unknown scoring parameter"):
        TextDomain.scoring_data(real, gen, {"max_len": 3})
    with pytest.raises(DataError, match="samples file"):
        TextDomain.scoring_data(real, tmp_path / "missing.txt", {})


def test_registered_under_text(host) -> None:
    entry = host.registry.get("domains", "text")
    assert entry.load() is TextDomain
    assert entry.check_params({"train": "a", "test": "b", "too_long": "cut"})
