"""The training pipeline: corpus readers, tokenizer, manifest and atomic publishing."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import platform
import re
import tarfile
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from annoy import AnnoyIndex
from gensim.models import KeyedVectors

from hatbot.models import corpus, store, tokenize
from hatbot.models.ppmi import ppmi_vectors
from hatbot.models.store import AnnoySettings
from hatbot.models.train import TrainSettings, train

# Every word of a small corpus gets a vector, so leaked header or quote words would show.
SMALL = TrainSettings(
    stream="all", vector_size=8, min_count=1, epochs=1, sample=0.0, seed=3, workers=1
)
SMALL_ANNOY = AnnoySettings(n_trees=2, search_k=50)

POST_BODY = "The river flows past the old mill.\nBoats drift along the river bank.\n"
POSTS = {
    "20news-bydate-train/rec.boats/101": (
        "From: skipper@harbour.example (Headerman Skipper)\n"
        "Subject: Re: Sailing subjectword\n"
        "Organization: Orgword University\n"
        "Lines: 9\n"
        "\n"
        "In article <1993Apr1.0001@harbour.example>, attribword@x.example (Attrib Person) "
        "writes:\n"
        "> quotedword quotedword shipwreck\n"
        ">> doublequoted nestedword\n"
        "JD> initialsquote\n"
        f"{POST_BODY}"
        "-- \n"
        "Signatureword Sailor, Harbour Master\n"
    ),
    "20news-bydate-train/sci.water/202": (
        "Path: news.example!not-for-mail\n"
        "From: fisher@lake.example\n"
        "Subject: lakes\n"
        "\n"
        "Fisher Person wrote:\n"
        "| pipequoted text\n"
        "Fish swim in the lake near the stream.\n"
        "--\n"
        "sigline twoword\n"
    ),
}
LEAKED = {
    "headerman",
    "subjectword",
    "orgword",
    "attribword",
    "attrib",
    "quotedword",
    "shipwreck",
    "doublequoted",
    "nestedword",
    "initialsquote",
    "signatureword",
    "sailor",
    "harbour",
    "path",
    "organization",
    "pipequoted",
    "sigline",
    "twoword",
}


def vocabulary(model_dir: Path) -> set[str]:
    vectors = KeyedVectors.load(str(model_dir / store.VECTORS))
    return set(vectors.index_to_key)


def manifest(model_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((model_dir / store.MANIFEST).read_text("utf-8"))
    return data


def leftovers(parent: Path) -> list[str]:
    """Staging or retired directories left beside published models."""
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def write_newsgroups_tarball(path: Path) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, text in POSTS.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        folder = tarfile.TarInfo("20news-bydate-train/rec.boats")
        folder.type = tarfile.DIRTYPE
        archive.addfile(folder)
    return path


def test_single_text_file_manifest(
    tiny_model: Path, tiny_corpus: Path, tiny_settings: tuple[TrainSettings, AnnoySettings]
) -> None:
    """The session model was trained on one file: its manifest records everything."""
    settings, annoy = tiny_settings
    data = manifest(tiny_model)
    assert data["corpus"]["sha256"] == corpus.corpus_sha256([tiny_corpus])
    assert data["corpus"]["sha256"] == hashlib.sha256(tiny_corpus.read_bytes()).hexdigest()
    assert data["corpus"]["paths"] == [str(tiny_corpus)]
    assert data["corpus"]["sentences"] > 0
    assert data["corpus"]["tokens"] > 0
    assert data["training"] == dataclasses.asdict(settings)
    assert data["training"]["seed"] == 1
    assert data["annoy"] == dataclasses.asdict(annoy)
    words = vocabulary(tiny_model)
    assert data["vocabulary_size"] == len(words) > 0
    assert data["vector_size"] == settings.vector_size
    assert data["name"] == "tiny"
    assert data["version"].startswith("tiny-")
    assert data["format_version"] == store.FORMAT_VERSION
    assert set(data["timings_seconds"]) >= {"read", "train", "index", "total"}
    assert all(seconds >= 0 for seconds in data["timings_seconds"].values())
    assert data["libraries"] == {
        "python": platform.python_version(),
        "gensim": version("gensim"),
        "numpy": version("numpy"),
        "annoy": version("annoy"),
    }
    for name, digest in data["files"].items():
        assert store.file_sha256(tiny_model / name) == digest, name
    on_disk = {str(p.relative_to(tiny_model)) for p in tiny_model.rglob("*") if p.is_file()}
    assert set(data["files"]) | {store.MANIFEST} == on_disk
    assert "strategy/words.txt" in on_disk  # the neighbour tables of the default strategy
    assert store.read_manifest(tiny_model).version == data["version"]


def test_single_text_file_vocabulary(tmp_path: Path) -> None:
    text = tmp_path / "story.txt"
    text.write_text("Rivers meet the sea. The sea is salty.\nA river isn't salty!\n")
    out = tmp_path / "model"
    result = train([text], out, settings=SMALL, annoy=SMALL_ANNOY)
    words = vocabulary(out)
    assert words == {"rivers", "meet", "the", "sea", "is", "salty", "river", "isnt"}
    assert result.vocabulary_size == len(words)
    assert result.corpus["tokens"] == 11  # "A" is too short


def test_directory_of_files(tmp_path: Path) -> None:
    source = tmp_path / "texts"
    (source / "nested").mkdir(parents=True)
    (source / "a.txt").write_text("alpha apple apricot\n")
    (source / "nested" / "b.txt").write_text("beta banana blueberry\n")
    (source / "c.md").write_text("gamma grape guava\n")
    out = tmp_path / "model"
    train([source], out, settings=SMALL, annoy=SMALL_ANNOY)
    words = vocabulary(out)
    assert words == set(str.split("alpha apple apricot beta banana blueberry gamma grape guava"))
    expected = hashlib.sha256()
    for name in ("a.txt", "c.md", "nested/b.txt"):  # sorted by path
        expected.update((source / name).read_bytes())
    assert manifest(out)["corpus"]["sha256"] == expected.hexdigest()
    assert manifest(out)["corpus"]["sha256"] == corpus.corpus_sha256([source])


def test_newsgroups_tarball_keeps_only_the_prose(tmp_path: Path) -> None:
    tarball = write_newsgroups_tarball(tmp_path / "20news-bydate.tar.gz")
    out = tmp_path / "model"
    result = train([tarball], out, settings=SMALL, annoy=SMALL_ANNOY)
    words = vocabulary(out)
    assert not words & LEAKED, f"headers, quotes or signatures became tokens: {words & LEAKED}"
    body = set(tokenize.tokenize(POST_BODY)) | {"fish", "swim", "lake", "near", "stream"}
    assert body <= words, f"prose lost: {body - words}"
    assert result.corpus["sha256"] == hashlib.sha256(tarball.read_bytes()).hexdigest()
    assert result.corpus["sentences"] == 2  # one per post, the directory member skipped


def test_several_corpus_paths(tmp_path: Path) -> None:
    first, second = tmp_path / "one.txt", tmp_path / "two.txt"
    first.write_text("red green\n")
    second.write_text("blue yellow\n")
    out = tmp_path / "model"
    result = train([first, second], out, settings=SMALL, annoy=SMALL_ANNOY)
    assert vocabulary(out) == {"red", "green", "blue", "yellow"}
    both = hashlib.sha256(first.read_bytes() + second.read_bytes()).hexdigest()
    assert result.corpus["sha256"] == both
    assert result.corpus["paths"] == [str(first), str(second)]


def test_training_is_reproducible_with_one_worker(tmp_path: Path, tiny_corpus: Path) -> None:
    one = train([tiny_corpus], tmp_path / "one", settings=SMALL, annoy=SMALL_ANNOY)
    two = train([tiny_corpus], tmp_path / "two", settings=SMALL, annoy=SMALL_ANNOY)
    # vectors.kv is a pickle that also holds gensim's timestamped lifecycle log
    for name in ("vectors.kv.vectors.npy", "index.ann"):
        assert one.files[name] == two.files[name], name
    assert vocabulary(tmp_path / "one") == vocabulary(tmp_path / "two")


def test_publish_is_atomic_and_refuses_to_replace(tmp_path: Path, tiny_corpus: Path) -> None:
    parent = tmp_path / "models"
    out = parent / "default"
    first = train([tiny_corpus], out, settings=SMALL, annoy=SMALL_ANNOY)
    assert leftovers(parent) == []
    assert sorted(p.name for p in parent.iterdir()) == ["default"]

    other = dataclasses.replace(SMALL, vector_size=4)
    with pytest.raises(FileExistsError):
        train([tiny_corpus], out, settings=other, annoy=SMALL_ANNOY)
    assert leftovers(parent) == [], "a refused model must not leave its staging directory"
    assert manifest(out)["version"] == first.version
    assert manifest(out)["vector_size"] == 8

    second = train([tiny_corpus], out, settings=other, annoy=SMALL_ANNOY, replace=True)
    assert leftovers(parent) == [], "replacing must not leave staging or retired directories"
    assert manifest(out)["version"] == second.version
    assert manifest(out)["vector_size"] == 4
    assert vocabulary(out)  # the files belong to the new manifest
    for name, digest in second.files.items():
        assert store.file_sha256(out / name) == digest


def test_published_model_is_readable_by_others(tmp_path: Path, tiny_corpus: Path) -> None:
    out = tmp_path / "model"
    train([tiny_corpus], out, settings=SMALL, annoy=SMALL_ANNOY)
    assert out.stat().st_mode & 0o555 == 0o555
    for file in out.iterdir():
        assert file.stat().st_mode & 0o444 == 0o444, file.name


def test_failed_training_publishes_nothing(tmp_path: Path) -> None:
    text = tmp_path / "rare.txt"
    text.write_text("each word once\n")
    out = tmp_path / "models" / "model"
    with pytest.raises(ValueError, match=r"min_count|times"):
        train([text], out, settings=dataclasses.replace(SMALL, min_count=5), annoy=SMALL_ANNOY)
    assert not out.exists()
    assert not out.parent.exists() or leftovers(out.parent) == []


def test_finish_sees_the_whole_model_and_its_failure_publishes_nothing(
    tmp_path: Path, tiny_corpus: Path
) -> None:
    seen: list[str] = []

    def fail(staged: Path) -> None:
        seen.extend(p.name for p in staged.iterdir())
        raise RuntimeError("finish failed")

    out = tmp_path / "models" / "model"
    with pytest.raises(RuntimeError, match="finish failed"):
        train([tiny_corpus], out, settings=SMALL, annoy=SMALL_ANNOY, finish=fail)
    assert {"manifest.json", "vectors.kv", "index.ann", "strategy"} <= set(seen)
    assert not out.exists()
    assert leftovers(out.parent) == []


def test_what_finish_adds_is_listed_in_the_manifest(tmp_path: Path, tiny_corpus: Path) -> None:
    def add(staged: Path) -> None:
        (staged / "strategy" / "extra.bin").write_bytes(b"derived")

    out = tmp_path / "model"
    result = train([tiny_corpus], out, settings=SMALL, annoy=SMALL_ANNOY, finish=add)
    data = manifest(out)
    assert data["files"]["strategy/extra.bin"] == hashlib.sha256(b"derived").hexdigest()
    assert "finish" in data["timings_seconds"]
    assert data["version"] == result.version
    for name, digest in data["files"].items():
        assert store.file_sha256(out / name) == digest, name


def test_missing_corpus_path(tmp_path: Path) -> None:
    out = tmp_path / "model"
    with pytest.raises(FileNotFoundError, match="nowhere"):
        train([tmp_path / "nowhere"], out, settings=SMALL, annoy=SMALL_ANNOY)
    assert not out.exists()


def test_what_appears_at_out_while_training_is_never_replaced(
    tmp_path: Path, tiny_corpus: Path
) -> None:
    out = tmp_path / "model"

    def squat(staged: Path) -> None:  # someone else's directory, made during the training
        out.mkdir()
        (out / "theirs.txt").write_text("keep")

    with pytest.raises(FileExistsError, match="not a model directory"):
        train([tiny_corpus], out, settings=SMALL, annoy=SMALL_ANNOY, replace=True, finish=squat)
    assert sorted(p.name for p in out.iterdir()) == ["theirs.txt"]
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("replace", [False, True])
def test_publishing_over_anything_but_a_model_is_refused_at_once(
    tmp_path: Path, tiny_corpus: Path, replace: bool
) -> None:
    link = tmp_path / "link"
    link.symlink_to(tmp_path)
    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_text("x")
    for name, problem in [
        ("link", "symbolic link"),
        ("empty", "not a model directory"),
        ("file", "not a model directory"),
    ]:
        with pytest.raises(FileExistsError, match=problem):
            store.check_publishable(tmp_path / name, replace)
        with pytest.raises(FileExistsError, match=problem):
            train([tiny_corpus], tmp_path / name, settings=SMALL, replace=replace)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "file", "link"]


def test_a_truncated_tarball_is_a_corpus_error_naming_it(tmp_path: Path) -> None:
    whole = write_newsgroups_tarball(tmp_path / "whole.tar.gz")
    for size in (10, whole.stat().st_size // 2):  # the header block, the first post
        truncated = tmp_path / f"cut{size}.tar.gz"
        truncated.write_bytes(whole.read_bytes()[:size])
        with pytest.raises(corpus.CorpusError, match="truncated or corrupt") as error:
            list(corpus.iter_documents([truncated]))
        assert str(truncated) in str(error.value)
        assert error.value.path == truncated


def test_a_truncated_wiki_dump_is_a_corpus_error_naming_it(tmp_path: Path) -> None:
    whole = corpus.default_corpus_paths()[0]
    assert corpus.is_wiki_dump(whole)
    truncated = tmp_path / whole.name
    truncated.write_bytes(whole.read_bytes()[:50_000])
    with pytest.raises(corpus.CorpusError, match="truncated or corrupt") as error:
        list(corpus.iter_documents([truncated]))
    assert str(truncated) in str(error.value)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "Expecting value"),
        ('{"name": ', "Expecting value"),
        ("[1, 2]", "expected a JSON object"),
        ('{"format_version": 1}', "annoy"),
        ('{"format_version": 99}', "unsupported model format_version 99"),
    ],
)
def test_a_garbled_manifest_names_the_file(tmp_path: Path, text: str, problem: str) -> None:
    (tmp_path / store.MANIFEST).write_text(text)
    with pytest.raises(ValueError, match="not a valid model manifest") as error:
        store.read_manifest(tmp_path)
    assert str(error.value).startswith(f"{tmp_path / store.MANIFEST}: ")
    assert problem in str(error.value)


def test_default_corpus_files_ship_with_gensim() -> None:
    paths = corpus.default_corpus_paths()
    assert len(paths) == len(corpus.DEFAULT_CORPUS_FILES) >= 1
    for path in paths:
        assert path.is_file(), path
        assert path.stat().st_size > 0, path


# corpus.strip_post


def test_strip_post_drops_the_header_block() -> None:
    post = "From: a@b.example\nSubject: hello\nLines: 2\n\nBody line one.\nBody two.\n"
    assert corpus.strip_post(post) == "Body line one.\nBody two."


HEADER = "From: a@b.example\nSubject: hello\n\n"


@pytest.mark.parametrize(
    "text",
    [
        "Just prose here.\n\nMore prose: with a colon.",
        "Title: a first line like a header\n\nkept",
        "> a quote outside a post\n-- \nkept after dashes",
    ],
)
def test_strip_post_keeps_text_that_is_not_a_post(text: str) -> None:
    assert corpus.strip_post(text) == text


@pytest.mark.parametrize(
    "line",
    [
        "> quoted",
        "  > indented quote",
        ">> nested",
        "| piped",
        "JD> initials",
        ": colon quote",
        "# hash quote",
        "In article <123@x.example>, someone@x.example (Some One) writes:",
        "Jane Doe wrote:",
        "Bob says:",
    ],
)
def test_strip_post_drops_quotes_and_attributions(line: str) -> None:
    post = f"{HEADER}Keep me.\n{line}\nKeep me too."
    assert corpus.strip_post(post) == "Keep me.\nKeep me too."


@pytest.mark.parametrize("marker", ["-- ", "--"])
def test_strip_post_stops_at_the_signature(marker: str) -> None:
    post = f"{HEADER}Body.\n{marker}\nSig Name\nSig address\n"
    assert corpus.strip_post(post) == "Body."


def test_strip_post_keeps_dashes_that_are_not_a_signature() -> None:
    assert corpus.strip_post(f"{HEADER}a -- b\n--- \nc") == "a -- b\n--- \nc"


def test_iter_documents_decodes_latin1(tmp_path: Path) -> None:
    path = tmp_path / "latin.txt"
    path.write_bytes("caf\xe9 ol\xe9".encode("latin-1"))
    assert list(corpus.iter_documents([path])) == ["café olé"]


# tokenize.tokenize and tokenize.sentences


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Hello, World!", ["hello", "world"]),
        ("It's the river's bank", ["its", "the", "rivers", "bank"]),
        ("mail me at joe@example.com today", ["mail", "me", "at", "today"]),
        ("see http://x.example/a or www.example.org", ["see", "or"]),
        ("path /usr/bin and C:\\dos", ["path", "and"]),
        ("win 95 and abc123 x2", ["win", "and"]),
        ("a I ox", ["ox"]),  # one-letter words are dropped
        ("snake_case a=b", []),
        ("well-known re-enter", ["well", "known", "re", "enter"]),
        ("", []),
    ],
)
def test_tokenize(text: str, words: list[str]) -> None:
    assert tokenize.tokenize(text) == words


def test_tokenize_length_bounds() -> None:
    longest, too_long = "a" * tokenize.MAX_WORD_LENGTH, "b" * (tokenize.MAX_WORD_LENGTH + 1)
    assert tokenize.tokenize(f"{longest} {too_long} ok") == [longest, "ok"]


def test_tokens_are_lowercase_letters_only() -> None:
    text = "Ünïcödé MIXED Case, digits 42, e-mail: x@y.z; quotes 'single' \"double\" (paren)"
    for word in tokenize.tokenize(text):
        assert re.fullmatch("[a-z]+", word), word


def test_sentences_split_long_documents() -> None:
    document = " ".join(["word"] * (2 * tokenize.MAX_SENTENCE + 5))
    lengths = [len(s) for s in tokenize.sentences(iter([document, "", "two words"]))]
    assert lengths == [tokenize.MAX_SENTENCE, tokenize.MAX_SENTENCE, 5, 2]


# extra views and streams


def test_extra_views_are_trained_indexed_and_listed(tiny_corpus: Path, tmp_path: Path) -> None:
    narrow = dataclasses.replace(SMALL, window=2)
    ppmi = TrainSettings(algorithm="ppmi-svd", stream="all", vector_size=6, window=2, min_count=3)
    main = dataclasses.replace(SMALL, stream="content")
    out = tmp_path / "views"
    result = train(
        [tiny_corpus],
        out,
        settings=main,
        extra_views={"narrow": narrow, "ppmi": ppmi},
        annoy=SMALL_ANNOY,
    )
    assert not {"the", "of", "and"} & vocabulary(out)  # the content stream drops stop words
    assert {"river", "guitar"} <= vocabulary(out)
    data = manifest(out)
    assert set(data["views"]) == {"narrow", "ppmi"}
    assert data["views"]["ppmi"]["training"] == dataclasses.asdict(ppmi)
    assert result.views == data["views"]
    for view, settings in (("narrow", narrow), ("ppmi", ppmi)):
        vectors_path, index_path = store.view_files(view)
        kv = KeyedVectors.load(str(out / vectors_path), mmap="r")
        assert data["views"][view]["vocabulary_size"] == len(kv)
        assert kv.vector_size == settings.vector_size == data["views"][view]["vector_size"]
        assert "the" in kv.key_to_index  # both views read every token
        assert np.allclose(np.linalg.norm(kv.vectors, axis=1), 1.0, atol=1e-5)
        counts = [kv.get_vecattr(word, "count") for word in kv.index_to_key]
        assert counts == sorted(counts, reverse=True)
        assert min(counts) >= settings.min_count
        index = AnnoyIndex(settings.vector_size, "angular")
        index.load(str(out / index_path))
        assert index.get_n_items() == len(kv)
        assert str(vectors_path) in data["files"]
        assert str(index_path) in data["files"]


def test_ppmi_vectors_put_cooccurring_words_together() -> None:
    text = [["river", "water", "boat", "fish"] * 3, ["code", "disk", "data", "chip"] * 3] * 30
    words, counts, vectors = ppmi_vectors(text, min_count=2, window=2, dimensions=4, seed=1)
    assert sorted(words) == sorted(set(text[0] + text[1]))
    assert list(counts) == [90] * 8
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    row = {word: i for i, word in enumerate(words)}
    same = unit[row["river"]] @ unit[row["water"]]
    other = unit[row["river"]] @ unit[row["disk"]]
    assert same > other


@pytest.mark.parametrize("change", [{"algorithm": "glove"}, {"stream": "x"}])
def test_unknown_algorithm_and_stream_are_rejected(
    tiny_corpus: Path, tmp_path: Path, change: dict[str, str]
) -> None:
    bad = dataclasses.replace(SMALL, **change)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown"):
        train([tiny_corpus], tmp_path / "bad", settings=bad, annoy=SMALL_ANNOY)
    assert leftovers(tmp_path) == []


def test_atomic_writes_keep_or_open_the_mode_and_leave_nothing_behind(tmp_path: Path) -> None:
    target = tmp_path / "file.bin"
    store.write_bytes_atomic(target, b"one")
    assert target.read_bytes() == b"one"
    assert target.stat().st_mode & 0o777 == 0o644  # not mkstemp's private 0600
    target.chmod(0o640)
    store.write_text_atomic(target, "two")
    assert target.read_text() == "two"
    assert target.stat().st_mode & 0o777 == 0o640
    with pytest.raises(TypeError):
        store.write_bytes_atomic(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_text() == "two", "a failed write must leave the old file whole"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.bin"]
