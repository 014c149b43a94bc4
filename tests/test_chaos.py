"""Chaos under load, on real processes: signals and kills while calls are in flight.

Each test runs a bounded closed loop of Guess calls (each with the host's 1 s deadline) from a
few threads, does something to the servers, and accounts for every call.
"""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import grpc

from hatbot.client import HatClient, HatError
from hatbot.v1 import hatbot_pb2, hatbot_pb2_grpc

if TYPE_CHECKING:
    from conftest import StartServer

WAIT = 60.0
MAX_CALLS = 20_000  # per caller: the loops are bounded even if the stop never comes


@dataclass
class Call:
    started: float
    ended: float
    code: str
    details: str = ""


@dataclass
class Load:
    """Closed-loop callers of ``call(stub)``, each on its own channel, until stopped."""

    address: str
    callers: int = 4
    calls: list[Call] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _run(self) -> None:
        options = [("grpc.use_local_subchannel_pool", 1)]
        with grpc.insecure_channel(self.address, options=options) as channel:
            guess = hatbot_pb2_grpc.HatServiceStub(channel).Guess
            for _ in range(MAX_CALLS):
                if self._stop.is_set():
                    return
                started = time.monotonic()
                try:
                    guess(hatbot_pb2.GuessRequest(words=["lake", "boat"], n_words=5), timeout=1)
                    code, details = "OK", ""
                except grpc.RpcError as error:
                    code, details = error.code().name, error.details() or ""
                self.calls.append(Call(started, time.monotonic(), code, details))

    def __enter__(self) -> Load:
        self._threads = [threading.Thread(target=self._run) for _ in range(self.callers)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(WAIT)


def test_sigterm_under_load_completes_every_call_accepted_before_it(
    tiny_model: Path, server_factory: StartServer
) -> None:
    """Chaos (b), one server: calls started before SIGTERM all end OK (it keeps answering
    for the drain delay). Calls sent as it stops taking calls are refused: UNAVAILABLE, or
    CANCELLED for those gRPC had received but not yet handed over (its shutdown drops them)."""
    server = server_factory(tiny_model, "--workers", "2", "--grace", "5")
    address = server.wait_serving()
    with Load(address) as load:
        time.sleep(1.0)
        signalled = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        code = server.proc.wait(WAIT)
    assert code == 0, server.log
    before = [call for call in load.calls if call.started < signalled]
    after = [call for call in load.calls if call.started >= signalled]
    assert len(before) > 100
    failed = [call for call in before if call.code != "OK"]
    assert failed == [], failed[:5]
    assert {call.code for call in after} <= {"OK", "UNAVAILABLE", "CANCELLED"}, after[:5]
    print(
        f"SIGTERM under load: {len(before)} calls before the signal, 0 failed; "
        f"{len(after)} after it ({sum(c.code == 'OK' for c in after)} OK)"
    )


def test_sigterm_to_one_of_two_replicas_fails_no_call(
    tiny_model: Path, server_factory: StartServer
) -> None:
    """Chaos (b), two replicas behind the health-checking, round-robin HatClient: the one
    told to stop reports NOT_SERVING at once, keeps answering for its drain delay while the
    client moves its calls to the other, then stops; no call fails."""
    replicas = [
        server_factory(tiny_model, "--workers", "1", "--drain-delay", "1", "--grace", "2")
        for _ in range(2)
    ]
    addresses = [replica.wait_serving() for replica in replicas]
    calls: list[str] = []
    stop = threading.Event()

    def caller(hat: HatClient) -> None:
        for _ in range(MAX_CALLS):
            if stop.is_set():
                return
            try:
                hat.guess(["lake", "boat"], 5)
                calls.append("OK")
            except HatError as error:
                calls.append(f"{error.code.name}: {error.details}")

    with HatClient(addresses, timeout=1.0) as hat:
        threads = [threading.Thread(target=caller, args=(hat,)) for _ in range(4)]
        for thread in threads:
            thread.start()
        try:
            time.sleep(1.0)
            made_before = len(calls)
            replicas[0].proc.send_signal(signal.SIGTERM)
            assert replicas[0].proc.wait(WAIT) == 0, replicas[0].log
            time.sleep(0.5)  # the survivor carries on alone
        finally:
            stop.set()
            for thread in threads:
                thread.join(WAIT)
    failed = [call for call in calls if call != "OK"]
    assert failed == [], failed[:5]
    assert len(calls) > made_before > 100
    print(
        f"SIGTERM to one of two replicas: {len(calls)} calls ({made_before} before the "
        "signal), 0 failed"
    )
