"""The one thing setup.cfg cannot declare: the guesser's C extension (hatbot.server._ranking).

It is optional, so that the client installs without a compiler; the server needs it (and a
compiler anyway, for annoy) and says so when it is missing.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "hatbot.server._ranking",
            sources=["server/hatbot/server/_ranking.c"],
            # numpy adds a product rounded to float32, then the sum: no fused multiply-add.
            extra_compile_args=["-ffp-contract=off"],
            optional=True,
        )
    ]
)
