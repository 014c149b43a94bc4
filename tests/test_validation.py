"""Every bad request is INVALID_ARGUMENT naming the field, on the wire and in validation.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import grpc
import pytest

from hatbot.client import HatClient, HatError
from hatbot.rules import Criteria
from hatbot.server import validation
from hatbot.server.validation import InvalidArgumentError
from hatbot.v1 import hatbot_pb2, hatbot_pb2_grpc

TOO_LONG = "a" * 65


@pytest.fixture(scope="module")
def hat(hat_server: str) -> Iterator[HatClient]:
    with HatClient(hat_server, timeout=10.0) as client:
        yield client


def assert_invalid(call: Callable[[], object], field: str) -> HatError:
    """``call`` fails with INVALID_ARGUMENT whose details start with ``field``."""
    with pytest.raises(HatError) as caught:
        call()
    error = caught.value
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT, error
    assert error.details.startswith(f"{field}: "), f"details do not name {field}: {error}"
    return error


@pytest.mark.parametrize(
    "word", ["", TOO_LONG, "ab1", "a b", "naïve", "river-bank", "ab\n", " ab", "ab'"]
)
def test_explain_rejects_bad_words(hat: HatClient, word: str) -> None:
    assert_invalid(lambda: hat.explain(word, 5), "word")


@pytest.mark.parametrize("n_words", [0, -1, 101, 2**31 - 1])
def test_explain_rejects_n_words_out_of_range(hat: HatClient, n_words: int) -> None:
    error = assert_invalid(lambda: hat.explain("river", n_words), "n_words")
    assert str(n_words) in error.details


def test_explain_checks_the_word_before_n_words(hat: HatClient) -> None:
    assert_invalid(lambda: hat.explain("", 0), "word")


@pytest.mark.parametrize("n_words", [0, -1, 101])
def test_guess_rejects_n_words_out_of_range(hat: HatClient, n_words: int) -> None:
    assert_invalid(lambda: hat.guess(["river"], n_words), "n_words")


def test_guess_rejects_no_hints(hat: HatClient) -> None:
    assert_invalid(lambda: hat.guess([], 5), "words")


def test_guess_rejects_too_many_hints(hat: HatClient) -> None:
    error = assert_invalid(lambda: hat.guess(["river"] * 51, 5), "words")
    assert "51" in error.details
    hat.guess(["river"] * 50, 5)  # the limit itself is fine


@pytest.mark.parametrize("bad", ["123", "", "  ", "-!?", "ïöü"])
def test_guess_rejects_an_entry_empty_after_normalisation(hat: HatClient, bad: str) -> None:
    assert_invalid(lambda: hat.guess(["river", bad, "lake"], 5), "words[1]")


def test_guess_rejects_an_entry_over_64_characters(hat: HatClient) -> None:
    assert_invalid(lambda: hat.guess(["river", "lake", TOO_LONG], 5), "words[2]")
    hat.guess(["river", "a" * 64], 5)  # the limit itself is fine


def test_limits_themselves_are_accepted(hat: HatClient) -> None:
    assert len(hat.explain("river", 100)) <= 100
    assert len(hat.explain("river", 1)) == 1
    assert len(hat.guess(["river"], 100)) <= 100


# Unit tests of server/hatbot/server/validation.py.


def test_secret_word_lowercases_valid_words() -> None:
    assert validation.secret_word("River") == "river"
    assert validation.secret_word("a" * 64) == "a" * 64
    assert validation.secret_word("Z") == "z"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "must not be empty"),
        (TOO_LONG, "at most 64"),
        ("ab1", "only letters"),
        ("a b", "only letters"),
        ("naïve", "only letters"),
        ("ab\n", "only letters"),
        ("\uff21\uff22", "only letters"),  # fullwidth letters are not ASCII
    ],
)
def test_secret_word_rejects(value: str, problem: str) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        validation.secret_word(value)
    assert caught.value.field == "word"
    assert str(caught.value).startswith("word: ")
    assert problem in str(caught.value)


def test_secret_word_error_shows_a_shortened_value() -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        validation.secret_word("1" * 60, field="secret")
    message = str(caught.value)
    assert message.startswith("secret: ")
    assert "1" * 40 + "..." in message
    assert "1" * 41 not in message


@pytest.mark.parametrize("value", [1, 5, 100])
def test_n_words_accepts_1_to_100(value: int) -> None:
    assert validation.n_words(value) == value


@pytest.mark.parametrize("value", [0, -1, 101, -(2**31)])
def test_n_words_rejects(value: int) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        validation.n_words(value)
    assert caught.value.field == "n_words"
    assert str(caught.value) == f"n_words: must be between 1 and 100, got {value}"


def test_hints_are_normalised_like_the_host() -> None:
    assert validation.hints(["River", "lake!", "bi-g 2"]) == ["river", "lake", "big"]
    assert validation.hints(["a" * 64] * 50) == ["a" * 64] * 50


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ([], "words"),
        (["x"] * 51, "words"),
        (["ok", "123"], "words[1]"),
        (["", "ok"], "words[0]"),
        (["ok", "ok", TOO_LONG], "words[2]"),
        (["ok", "1" * 65], "words[1]"),
    ],
)
def test_hints_reject(values: list[str], field: str) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        validation.hints(values)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")


def test_invalid_argument_error_is_a_value_error() -> None:
    assert issubclass(InvalidArgumentError, ValueError)


def test_guess_rejects_an_undefined_criteria_value(hat_server: str) -> None:
    with grpc.insecure_channel(hat_server) as channel:
        stub = hatbot_pb2_grpc.HatServiceStub(channel)
        undefined = hatbot_pb2.Criteria.ValueType(7)  # an open enum carries any number
        request = hatbot_pb2.GuessRequest(words=["lake"], n_words=5, criteria=undefined)
        with pytest.raises(grpc.RpcError) as caught:
            stub.Guess(request, timeout=10.0)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert str(caught.value.details()).startswith("criteria: ")


@pytest.mark.parametrize(
    ("value", "default", "criteria"),
    [
        (hatbot_pb2.CRITERIA_UNSPECIFIED, "soft", "soft"),
        (hatbot_pb2.CRITERIA_UNSPECIFIED, "hard", "hard"),
        (hatbot_pb2.CRITERIA_SOFT, "hard", "soft"),
        (hatbot_pb2.CRITERIA_HARD, "soft", "hard"),
    ],
)
def test_criteria_unspecified_is_the_servers_default(
    value: int, default: Criteria, criteria: str
) -> None:
    assert validation.criteria(value, default) == criteria
