"""Fuzzing a real ``hatbot serve`` over gRPC and REST: only the documented answers come back.

gRPC: well-formed requests with any field values (any unicode, long strings, 0-60 hints, any
int32 ``n_words`` and ``criteria``), the bytes of one method's request sent to another, and
raw bytes that are not a valid message (random, mutated, bad UTF-8, nested too deep,
oversized), to every HatService method. A call ends OK when the contract says the request is
valid; INVALID_ARGUMENT otherwise, its message starting with a field the request gets wrong
(``request`` for bytes that are not a valid message) and its rich status naming the same
field; RESOURCE_EXHAUSTED only above ``MAX_MESSAGE_BYTES``.

REST: queries with random parameters (200 when every parameter is valid, else 200 or a JSON 400
naming a parameter that may be wrong) and malformed requests over a raw socket (bad methods,
bad bytes in the target, over-long lines, bad versions or none, bad headers, too many headers,
bad framing, binary garbage), each 400.

After each part the server is still SERVING from the same worker processes, has logged no
error, and their resident memory is flat (see :data:`RSS_MARGIN_KIB`).

Hypothesis draws batches of requests from a fixed seed, a fixed number of examples, without a
database and without shrinking (a failure lists its requests); they are sent as they are drawn,
``IN_FLIGHT`` at a time, and each answer is checked as it arrives.
"""

from __future__ import annotations

import contextlib
import json
import operator
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from string import ascii_letters, ascii_lowercase
from typing import Any, TypeVar
from urllib.parse import quote

import grpc
import pytest
from conftest import TOPICS, running_server
from google.protobuf import message_factory
from google.protobuf.message import DecodeError, Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from hatbot import rules
from hatbot.server.process import SERVICE_NAME, SERVING, ServerProcess, health_status
from hatbot.server.worker import MAX_MESSAGE_BYTES
from hatbot.v1 import hatbot_pb2

T = TypeVar("T")

GRPC_CALLS = 10_000
REST_REQUESTS = 5_000
BATCH = 25  # requests per hypothesis example
WARM_UP_BATCHES = 40
#: Each worker's in-flight bound, set for this server: the fuzz checks answers, not shedding.
MAX_IN_FLIGHT = 32
IN_FLIGHT = 24  # requests sent at once: below MAX_IN_FLIGHT, even when one worker gets them all
#: Growth allowed per worker after the warm-up, twice the most measured (under 2 MiB): the
#: server's bounded caches go on filling with the fuzz's unique hints (Guess prefixes, 4,096
#: entries; Snowball stems, 65,536). Each worker gets about half the requests, so a leak of
#: 1 KiB per gRPC call or 2 KiB per REST request fails.
RSS_MARGIN_KIB = 4 * 1024
WORKERS = 2
VOCABULARY = sorted({word for words in TOPICS.values() for word in words})

OK = grpc.StatusCode.OK
INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT
RESOURCE_EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED
HAT = hatbot_pb2.DESCRIPTOR.services_by_name["HatService"]
REQUESTS = {
    method.name: message_factory.GetMessageClass(method.input_type) for method in HAT.methods
}
RESPONSES = {m.name: message_factory.GetMessageClass(m.output_type) for m in HAT.methods}
METHOD_OF = {request: name for name, request in REQUESTS.items()}
ROUTES = ("/", "/explain", "/guess")
#: aiohttp's limit on a request line, header name or header value.
HTTP_LINE_LIMIT = 8190


@pytest.fixture(scope="module")
def server(tiny_model: Path) -> Iterator[ServerProcess]:
    """A SERVING ``hatbot serve`` with the REST side, two workers, glibc's mmap threshold fixed.

    glibc raises its mmap threshold to the size of each large block freed, so later buffers of
    that size (a 64 KiB request line, a 256 KiB gRPC message) come from the heap, whose high-water
    mark only grows: RSS then climbs for tens of thousands of requests without any leak (12 MiB
    per worker over the 5,000 REST requests, against 1 MiB with the threshold fixed).
    """
    extra = (
        "--http-port",
        "0",
        "--workers",
        str(WORKERS),
        "--grace",
        "1",
        "--max-in-flight",
        str(MAX_IN_FLIGHT),
    )
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MALLOC_MMAP_THRESHOLD_", str(64 * 1024))
        with running_server(tiny_model, *extra) as process:
            assert len(process.worker_pids()) == WORKERS
            yield process


def rss_kib(pids: Sequence[int]) -> dict[int, int]:
    """Each process's resident set (``VmRSS``) in KiB, from /proc."""
    sizes = {}
    for pid in pids:
        status = Path(f"/proc/{pid}/status").read_text()
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        assert match, f"no VmRSS for {pid}"
        sizes[pid] = int(match[1])
    return sizes


def run_batches(
    requests: st.SearchStrategy[T], batches: int, seed_value: int, send: Callable[[list[T]], None]
) -> None:
    """``send`` each of ``batches`` lists of ``BATCH`` requests drawn from ``requests``."""

    @seed(seed_value)
    @settings(
        max_examples=batches,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )
    @given(st.lists(requests, min_size=BATCH, max_size=BATCH))
    def batch(drawn: list[T]) -> None:
        send(drawn)

    batch()


class Window:
    """Up to ``size`` requests in flight, each checked as its answer arrives.

    ``start()`` blocks while ``size`` are in flight; ``finish(kind, problem)`` records one.
    """

    def __init__(self, size: int = IN_FLIGHT) -> None:
        self.size = size
        self._free = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self.sent = 0
        self.outcomes: Counter[str] = Counter()
        self.problems: list[str] = []

    def start(self) -> None:
        self._free.acquire()

    def finish(self, kind: str, problem: str | None) -> None:
        with self._lock:
            self.sent += 1
            self.outcomes[kind] += 1
            if problem is not None:
                self.problems.append(problem)
        self._free.release()

    def wait(self) -> Window:
        """Wait until every request has its answer; the window."""
        for _ in range(self.size):
            assert self._free.acquire(timeout=60), "answers still missing after 60 s"
        for _ in range(self.size):
            self._free.release()
        return self

    def assert_no_problems(self) -> None:
        problems = self.problems
        assert not problems, f"{len(problems)} of {self.sent} wrong:\n" + "\n".join(problems[:8])


def assert_still_healthy(server: ServerProcess, pids: list[int]) -> None:
    """SERVING, from the same workers (none died or was restarted), with no error logged."""
    address = server.wait_listening()
    assert health_status(address) == SERVING
    assert health_status(address, SERVICE_NAME) == SERVING
    assert server.worker_pids() == pids
    errors = [line for line in server.lines if " ERROR " in line or "Traceback" in line]
    assert not errors, "".join(errors[:20])


def assert_flat(before: dict[int, int], after: dict[int, int]) -> None:
    growth = {pid: after[pid] - before[pid] for pid in before}
    assert all(kib <= RSS_MARGIN_KIB for kib in growth.values()), (
        f"worker RSS grew (KiB): {growth}, before {before}, after {after}"
    )


# --- gRPC -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GrpcCall:
    """``payload`` sent as the request bytes of HatService ``method``."""

    method: str
    payload: bytes

    def __repr__(self) -> str:
        shown = self.payload if len(self.payload) <= 80 else self.payload[:80] + b"..."
        return f"GrpcCall({self.method}, {len(self.payload)} bytes: {shown!r})"


def wrong_fields(request: Message) -> set[str]:
    """The fields of a parsed request that the contract puts out of range."""
    wrong = set()
    if isinstance(request, hatbot_pb2.ExplainRequest):
        word = request.word
        if not (1 <= len(word) <= 64 and word.isascii() and word.isalpha()):
            wrong.add("word")
    if isinstance(request, hatbot_pb2.GuessRequest):
        if not 1 <= len(request.words) <= 50:
            wrong.add("words")
        for i, hint in enumerate(request.words):
            if len(hint) > 64 or not rules.normalize(hint):
                wrong.add(f"words[{i}]")
        if request.criteria not in hatbot_pb2.Criteria.values():
            wrong.add("criteria")
    numbered = isinstance(request, hatbot_pb2.ExplainRequest | hatbot_pb2.GuessRequest)
    if numbered and not 1 <= request.n_words <= 100:  # type: ignore[attr-defined]
        wrong.add("n_words")
    return wrong


def expected(call: GrpcCall) -> tuple[grpc.StatusCode, set[str]]:
    """The code the call must end with and, for INVALID_ARGUMENT, the fields it may name."""
    if len(call.payload) > MAX_MESSAGE_BYTES:
        return RESOURCE_EXHAUSTED, set()
    try:
        request = REQUESTS[call.method].FromString(call.payload)
    except DecodeError:
        return INVALID_ARGUMENT, {"request"}
    wrong = wrong_fields(request)
    return (INVALID_ARGUMENT if wrong else OK), wrong


def grpc_problem(call: GrpcCall, outcome: bytes | grpc.RpcError) -> str | None:
    """What is wrong with ``outcome`` as the answer to ``call``; None when it is right."""
    code, wrong = expected(call)
    if isinstance(outcome, bytes):
        if code != OK:
            return f"{call!r}: OK, expected {code.name} naming one of {sorted(wrong)}"
        response: Any = RESPONSES[call.method].FromString(outcome)
        if call.method == "GetModelInfo":
            return None if response.model.version else f"{call!r}: no model version"
        request: Any = REQUESTS[call.method].FromString(call.payload)
        words = list(response.words)
        if not response.model_version or len(words) > request.n_words:
            return f"{call!r}: answered {words} from {response.model_version!r}"
        if not all(re.fullmatch("[a-z]+", word) for word in words):
            return f"{call!r}: answered {words}"
        return None
    got, details = outcome.code(), outcome.details() or ""
    if got != code:
        return f"{call!r}: {got.name} {details!r}, expected {code.name} naming {sorted(wrong)}"
    if code != INVALID_ARGUMENT:
        return None
    named = details.partition(": ")[0]
    if named not in wrong:
        return f"{call!r}: {details!r} names none of {sorted(wrong)}"
    full_name = REQUESTS[call.method].DESCRIPTOR.full_name
    if named == "request" and not details.startswith(f"request: not a valid {full_name} message"):
        return f"{call!r}: {details!r}"
    status = rpc_status.from_call(outcome)  # type: ignore[arg-type]
    violations = []
    for detail in status.details if status is not None else ():
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            violations += [violation.field for violation in bad_request.field_violations]
    return None if violations == [named] else f"{call!r}: field violations {violations}"


def _serialized(request: Message) -> bytes:
    return request.SerializeToString()


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes(out + bytes([value]))


def _not_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _mutated(payload: bytes, edits: list[tuple[int, int, int]]) -> bytes:
    """``payload`` after each edit: (0 delete, 1 insert, 2 flip a bit, 3 cut), position, byte."""
    data = bytearray(payload)
    for kind, where, value in edits:
        at = where % (len(data) + 1)
        if kind == 0:
            del data[at : at + 1]
        elif kind == 1:
            data.insert(at, value)
        elif kind == 2 and data:
            data[at % len(data)] ^= 1 << (value % 8)
        else:
            del data[at:]
    return bytes(data)


def _explain_of_size(size: int) -> bytes:
    """An ExplainRequest (word only, too long) of exactly ``size`` bytes, about 64 KiB."""
    payload = hatbot_pb2.ExplainRequest(word="a" * (size - 4)).SerializeToString()
    assert len(payload) == size
    return payload


def _repeated(chunk: bytes, size: int) -> bytes:
    return (chunk * (size // len(chunk) + 1))[:size]


INT32 = st.one_of(st.integers(-2, 102), st.integers(-(2**31), 2**31 - 1))
TEXT = st.one_of(
    st.sampled_from(VOCABULARY),
    st.text(ascii_letters, min_size=1, max_size=64),
    st.text(max_size=70),
    st.builds(operator.mul, st.sampled_from(["a", "Z", "é", "7", " "]), st.integers(0, 70)),
    st.builds(operator.mul, st.text(min_size=1, max_size=3), st.integers(20, 2500)),
)
MESSAGES: st.SearchStrategy[Message] = st.one_of(
    st.builds(hatbot_pb2.ExplainRequest, word=TEXT, n_words=INT32),
    st.builds(
        hatbot_pb2.GuessRequest,
        words=st.lists(TEXT, max_size=60),
        n_words=INT32,
        criteria=st.one_of(st.integers(0, 3), INT32),
    ),
    st.just(hatbot_pb2.GetModelInfoRequest()),
)
NOT_MESSAGES = st.one_of(
    st.binary(max_size=300),
    st.builds(
        _mutated,
        MESSAGES.map(_serialized),
        st.lists(
            st.tuples(st.integers(0, 3), st.integers(0, 2**16), st.integers(0, 255)),
            min_size=1,
            max_size=4,
        ),
    ),
    # A string field (ExplainRequest.word, GuessRequest.words) that is not UTF-8.
    st.binary(min_size=1, max_size=16)
    .filter(_not_utf8)
    .map(lambda b: b"\x0a" + _varint(len(b)) + b),
    # Groups of an unknown field 6 nested up to 300 deep.
    st.integers(1, 300).map(lambda depth: b"\x33" * depth + b"\x34" * depth),
    # n_words as a varint that never ends.
    st.integers(1, 12).map(lambda length: b"\x10" + b"\xff" * length),
    st.builds(
        _repeated,
        st.binary(min_size=1, max_size=8),
        st.integers(MAX_MESSAGE_BYTES + 1, 4 * MAX_MESSAGE_BYTES),
    ),
    st.sampled_from([MAX_MESSAGE_BYTES - 1, MAX_MESSAGE_BYTES, MAX_MESSAGE_BYTES + 1]).map(
        _explain_of_size
    ),
)
METHOD_NAMES = st.sampled_from(sorted(REQUESTS))
GRPC_REQUESTS = st.one_of(
    MESSAGES.map(lambda request: GrpcCall(METHOD_OF[type(request)], request.SerializeToString())),
    st.builds(GrpcCall, METHOD_NAMES, MESSAGES.map(_serialized)),
    st.builds(GrpcCall, METHOD_NAMES, NOT_MESSAGES),
)


class GrpcSender:
    """Sends raw request bytes over several connections (so both workers get calls)."""

    def __init__(self, address: str, connections: int = 8) -> None:
        options = [("grpc.use_local_subchannel_pool", 1)]
        self.channels = [grpc.insecure_channel(address, options) for _ in range(connections)]
        self.stubs = [
            {
                name: channel.unary_unary(
                    f"/{HAT.full_name}/{name}", request_serializer=None, response_deserializer=None
                )
                for name in REQUESTS
            }
            for channel in self.channels
        ]
        self.window = Window()

    def send(self, batch: list[GrpcCall]) -> None:
        for i, call in enumerate(batch):
            self.window.start()
            stub = self.stubs[i % len(self.stubs)][call.method]
            stub.future(call.payload, timeout=10).add_done_callback(partial(self._answered, call))

    def _answered(self, call: GrpcCall, future: grpc.Future[bytes]) -> None:
        kind, problem = "UNCHECKED", None
        try:
            outcome: bytes | grpc.RpcError = future.result()
        except grpc.RpcError as error:
            outcome = error
        try:
            kind = OK.name if isinstance(outcome, bytes) else outcome.code().name
            problem = grpc_problem(call, outcome)
        except Exception as error:  # a check that fails is a problem, not a lost answer
            problem = f"{call!r}: checking failed: {error!r}"
        finally:
            self.window.finish(kind, problem)

    def close(self) -> None:
        for channel in self.channels:
            channel.close()


@pytest.mark.parametrize(
    ("payload", "reason"),
    [(b"\xff", "Wire format was corrupt"), (b"\x0a\x02\xff\xfe", "String field had bad UTF-8")],
)
def test_bytes_that_are_not_a_message_are_invalid_argument(
    server: ServerProcess, payload: bytes, reason: str
) -> None:
    with grpc.insecure_channel(server.wait_listening()) as channel:
        for name, request_type in REQUESTS.items():
            if name == "GetModelInfo" and payload.startswith(b"\x0a"):
                continue  # an unknown field there: a valid GetModelInfoRequest
            call = channel.unary_unary(f"/{HAT.full_name}/{name}", None, None)
            with pytest.raises(grpc.RpcError) as raised:
                call(payload, timeout=10)
            error: Any = raised.value
            assert error.code() == INVALID_ARGUMENT
            full_name = request_type.DESCRIPTOR.full_name
            assert error.details() == f"request: not a valid {full_name} message ({reason})"
            assert grpc_problem(GrpcCall(name, payload), error) is None  # and its field violation


def test_grpc_fuzz_gets_only_ok_invalid_argument_or_resource_exhausted(
    server: ServerProcess,
) -> None:
    pids = server.worker_pids()
    sender = GrpcSender(server.wait_listening())
    try:
        started = time.perf_counter()
        before_warm_up = rss_kib(pids)
        run_batches(GRPC_REQUESTS, WARM_UP_BATCHES, 1, sender.send)
        sender.window.wait().assert_no_problems()
        warm = rss_kib(pids)
        sender.window = Window()
        run_batches(GRPC_REQUESTS, -(-GRPC_CALLS // BATCH), 2, sender.send)
        checked = sender.window.wait()
        end = rss_kib(pids)
    finally:
        sender.close()
    print(
        f"gRPC fuzz: {checked.sent} calls after {WARM_UP_BATCHES * BATCH} to warm up, "
        f"{dict(checked.outcomes)}, {time.perf_counter() - started:.1f}s; worker RSS KiB "
        f"{before_warm_up} -> {warm} -> {end}"
    )
    checked.assert_no_problems()
    assert checked.sent >= GRPC_CALLS
    assert set(checked.outcomes) == {OK.name, INVALID_ARGUMENT.name, RESOURCE_EXHAUSTED.name}
    assert_still_healthy(server, pids)
    assert_flat(warm, end)


# --- REST -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpRequest:
    """Bytes for a raw socket and what must come back: 400 when ``malformed``; else 200 when
    ``suspects`` is empty, or a JSON 400 naming one of them."""

    data: bytes
    malformed: str = ""
    route: str = "/"
    suspects: frozenset[str] = frozenset()
    n_words: int = 100

    def __repr__(self) -> str:
        shown = self.data if len(self.data) <= 160 else self.data[:160] + b"..."
        kind = self.malformed or f"suspects {sorted(self.suspects)}"
        return f"HttpRequest({kind}, {len(self.data)} bytes: {shown!r})"


@dataclass(frozen=True)
class Query:
    """A route and its query string, with the parameters that may be wrong."""

    route: str
    text: str
    suspects: frozenset[str]
    n_words: int


CLEAN_WORD = st.one_of(st.sampled_from(VOCABULARY), st.text(ascii_letters, min_size=1, max_size=64))
DIRTY = st.one_of(
    st.text(max_size=40).map(lambda text: quote(text, safe="")),
    st.sampled_from(["", "%", "%z", "%zz", "%G1", "%%", "%ff%fe", "%00", "%c3%28", "+", "%2B5"]),
    st.integers(-(10**30), 10**30).map(str),
    st.builds(operator.mul, st.sampled_from(["a", "%41", "+", "%", "9"]), st.integers(60, 3000)),
)


@st.composite
def queries(draw: st.DrawFn) -> Query:
    """A route with parameters, each valid or drawn from anything (then a suspect)."""
    route = draw(st.sampled_from(ROUTES))
    params: list[tuple[str, str]] = []
    suspects: set[str] = set()
    n_words = 100

    def single(name: str, clean: st.SearchStrategy[str], optional: bool = False) -> None:
        count = draw(st.sampled_from([1, 1, 1, 0, 2]))
        if count != 1 and not (optional and count == 0):
            suspects.add(name)
        for _ in range(count):
            if draw(st.booleans()):
                params.append((name, draw(clean)))
            else:
                params.append((name, draw(DIRTY)))
                suspects.add(name)

    if route == "/explain":
        single("word", CLEAN_WORD)
    if route == "/guess":
        # Up to 60 hints, cycling through up to 6 drawn ones (fewer draws, as many hints).
        count = draw(st.integers(0, 60))
        if not 1 <= count <= 50:
            suspects.add("words")
        drawn = [
            (draw(CLEAN_WORD), True) if draw(st.integers(0, 5)) else (draw(DIRTY), False)
            for _ in range(min(count, draw(st.integers(1, 6))))
        ]
        for i in range(count):
            value, clean = drawn[i % len(drawn)]
            params.append(("words", value))
            if not clean:
                suspects.add(f"words[{i}]")
        single("criteria", st.sampled_from(["soft", "hard"]), optional=True)
    if route != "/":
        clean_n = draw(st.integers(1, 100))
        single("n_words", st.just(str(clean_n)))
        n_words = clean_n if "n_words" not in suspects else 100
    for _ in range(draw(st.integers(0, 3))):  # parameters no route reads
        params.append(("x" + draw(st.text(ascii_lowercase, max_size=8)), draw(DIRTY)))
    text = "&".join(f"{name}={value}" for name, value in params)
    return Query(route, text, frozenset(suspects), n_words)


HEADER_VALUE = st.binary(max_size=120).map(
    lambda raw: bytes(b for b in raw if b == 0x09 or 0x20 <= b <= 0x7E or b >= 0x80).strip()
)
BAD_METHODS = st.one_of(
    st.sampled_from([b"get", b"Get", b"GET@", b"G@T", b"FOO", b"GETX", b"(GET)", b"\x00GET"]),
    st.binary(min_size=1, max_size=12).filter(
        lambda m: not m[:1].isupper() and not any(c in m for c in b" \r\n")
    ),
)
BAD_VERSIONS = st.sampled_from(
    [
        *(b"", b"HTTP/0.9", b"HTTP/1.2", b"HTTP/2.0", b"HTTP/3.0", b"http/1.1", b"HTTP/"),
        *(b"HTTP/1", b"HTTP/11", b"HTTPS/1.1", b"HTTP/1.1 x", b"HTTP/1.10", b"ICE/1.0", b"\xff"),
    ]
)
BAD_HEADERS = st.sampled_from(
    [
        *(b"X Fuzz: a", b"X-Fuzz : a", b"X(Fuzz): a", b"X-Fuzz", b": a", b"X-Fuzz: a\x00b"),
        *(b"X-Fuzz: a\x7fb", b"X-Fuzz: a\x01", b"X-F\xffuzz: a", b"X-Fuzz: a\r\n folded"),
        *(b"Host: other", b"Content-Length: -1", b"Content-Length: abc"),
        *(b"Transfer-Encoding: gzip", b"Transfer-Encoding: chunked\r\nContent-Length: 3"),
        b"Content-Length: 1\r\nContent-Length: 2",
    ]
)
TARGET_BYTES = st.sampled_from([bytes([b]) for b in [*range(0x21), 0x7F, 0x80, 0xC3, 0xFF]])


def _not_a_request_line(garbage: bytes) -> bool:
    """True unless ``garbage`` could start a request: empty lines before one are skipped."""
    start = garbage.lstrip(b"\r\n")[:1]
    return bool(start) and not start.isupper()


def _request(method: bytes, target: bytes, version: bytes, headers: Sequence[bytes]) -> bytes:
    line = method + b" " + target + (b" " + version if version else b"")
    return b"\r\n".join([line, *headers, b"", b""])


@st.composite
def http_requests(draw: st.DrawFn) -> HttpRequest:
    """A valid-looking request, or one with one thing malformed."""
    query = draw(queries())
    target = (query.route + ("?" + query.text if query.text else "")).encode("ascii")
    method, version = b"GET", draw(st.sampled_from([b"HTTP/1.1", b"HTTP/1.0"]))
    headers = [b"Host: 127.0.0.1"]
    headers += [b"X-Fuzz-%d: %s" % (i, draw(HEADER_VALUE)) for i in range(draw(st.integers(0, 8)))]
    kind = draw(
        st.sampled_from(
            [
                *("", "", "", "", "method", "target", "long target", "version", "header"),
                *("long header", "headers", "line ends", "garbage"),
            ]
        )
    )
    if kind == "method":
        method = draw(BAD_METHODS)
    elif kind == "target":
        at, byte = draw(st.integers(0, len(target))), draw(TARGET_BYTES)
        if byte == b" " and at in (0, len(target)):
            kind = ""  # whitespace around the target is allowed (RFC 9112, section 3)
        target = target[:at] + byte + target[at:]
    elif kind == "long target":
        length = draw(st.integers(HTTP_LINE_LIMIT + 1, 64 * 1024))
        target = (target + b"&xpad=")[:length].ljust(length, b"a")
    elif kind == "version":
        version = draw(BAD_VERSIONS)
    elif kind == "header":
        headers.insert(draw(st.integers(1, len(headers))), draw(BAD_HEADERS))
    elif kind == "long header":
        length = draw(st.integers(HTTP_LINE_LIMIT + 1, 64 * 1024))
        name = draw(st.booleans())
        headers.append(b"X-" + b"n" * length + b": a" if name else b"X-Long: " + b"v" * length)
    elif kind == "headers":
        count = draw(st.integers(129, 400))
        headers += [b"X-Many-%d: a" % i for i in range(count)]
    data = _request(method, target, version, headers)
    if kind == "line ends":
        data = data.replace(b"\r\n", draw(st.sampled_from([b"\n", b"\r", b"\n\r"])))
    elif kind == "garbage":
        garbage = draw(st.binary(min_size=1, max_size=200).filter(_not_a_request_line))
        data = garbage + b"\r\n\r\n"
    if not kind and len(target.strip(b" ")) > HTTP_LINE_LIMIT:
        kind = "long target"
    if kind:
        return HttpRequest(data, malformed=kind)
    return HttpRequest(data, "", query.route, query.suspects, query.n_words)


def exchange(port: int, data: bytes) -> tuple[int, bytes]:
    """Send ``data`` on a new connection; the status and body of the response."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        # The server may answer and close before reading it all; the answer is still there.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)
        received = b""
        try:
            while b"\r\n\r\n" not in received:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
            head, _, body = received.partition(b"\r\n\r\n")
            length = re.search(rb"\r\nContent-Length: (\d+)", head, re.IGNORECASE)
            while length and len(body) < int(length[1]):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                body += chunk
        except ConnectionResetError:
            return 0, b"connection reset after " + received
    status = re.match(rb"HTTP/\d\.\d (\d{3}) ", head)
    return (int(status[1]) if status else 0), (body if status else head[:200])


def http_problem(request: HttpRequest, status: int, body: bytes) -> str | None:
    """What is wrong with the response to ``request``; None when it is right."""
    if request.malformed:
        return None if status == 400 else f"{request!r}: {status} {body[:200]!r}, expected 400"
    if status not in (200, 400) or (status == 400 and not request.suspects):
        return f"{request!r}: {status} {body[:200]!r}"
    try:
        answer = json.loads(body)
    except ValueError:
        return f"{request!r}: {status} with a body that is not JSON: {body[:200]!r}"
    if status == 400:
        named = str(answer.get("error", "")).partition(": ")[0]
        return None if named in request.suspects else f"{request!r}: 400 {answer}"
    if request.route == "/":
        return None if answer.get("status") == "ok" else f"{request!r}: {answer}"
    right = isinstance(answer, list) and len(answer) <= request.n_words
    return None if right and all(re.fullmatch("[a-z]+", w) for w in answer) else f"{answer}"


class HttpSender:
    """Sends raw requests, each on its own connection, from a pool of threads."""

    def __init__(self, url: str) -> None:
        self.port = int(url.rpartition(":")[2])
        self.pool = ThreadPoolExecutor(IN_FLIGHT)
        self.window = Window()

    def send(self, batch: list[HttpRequest]) -> None:
        for request in batch:
            self.window.start()
            self.pool.submit(self._exchange, request)

    def _exchange(self, request: HttpRequest) -> None:
        kind, problem = f"unanswered {request.malformed or 'query'}", None
        try:
            status, body = exchange(self.port, request.data)
            kind = f"{status} {request.malformed or 'query'}"
            problem = http_problem(request, status, body)
        except Exception as error:
            problem = f"{request!r}: {error!r}"
        finally:
            self.window.finish(kind, problem)


def test_rest_fuzz_gets_only_200_or_400(server: ServerProcess) -> None:
    pids = server.worker_pids()
    sender = HttpSender(server.wait_http())
    try:
        started = time.perf_counter()
        before_warm_up = rss_kib(pids)
        run_batches(http_requests(), WARM_UP_BATCHES, 3, sender.send)
        sender.window.wait().assert_no_problems()
        warm = rss_kib(pids)
        sender.window = Window()
        run_batches(http_requests(), -(-REST_REQUESTS // BATCH), 4, sender.send)
        checked = sender.window.wait()
        end = rss_kib(pids)
    finally:
        sender.pool.shutdown()
    print(
        f"REST fuzz: {checked.sent} requests after {WARM_UP_BATCHES * BATCH} to warm up, "
        f"{dict(sorted(checked.outcomes.items()))}, {time.perf_counter() - started:.1f}s; "
        f"worker RSS KiB {before_warm_up} -> {warm} -> {end}"
    )
    checked.assert_no_problems()
    assert checked.sent >= REST_REQUESTS
    assert_still_healthy(server, pids)
    assert_flat(warm, end)
