"""Python client of the hatbot gRPC service.

from hatbot.client import HatClient

with HatClient("localhost:50051") as hat:
    hints = hat.explain("river", 5)
    guesses = hat.guess(hints[:2], 5)
"""

from hatbot.client.client import HatClient, HatError, ModelInfo

__all__ = ["HatClient", "HatError", "ModelInfo"]
