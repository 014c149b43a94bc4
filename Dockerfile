# hatbot: the gRPC server (and the REST protocol) with the default model built in.
#
#   docker build -t hatbot .          # where a registry is reachable (README: Container image)
#   deploy/image/build.sh             # with podman and a local Debian base, no registry
#   docker run -p 50051:50051 -p 8080:8080 hatbot
#   docker run -v /srv/models:/models:ro hatbot --model /models/20news
#
# Build arguments:
#   PYTHON_IMAGE   base of both stages: the official slim image, or build.sh's local one
#   ANNOY_MARCH    CPU baseline of annoy's compiled extension (gcc -march), x86-64-v2
#   VERSION, REVISION, SOURCE, CREATED   OCI labels (build.sh passes them as --label: buildah
#                  reuses a cached LABEL step even when its ARG changed)
# pip trusts an extra CA bundle passed as the build secret "ca-certificates"
# (--secret id=ca-certificates,src=FILE); it is mounted for pip's steps only, never copied.

ARG PYTHON_IMAGE=python:3.11.7-slim-bookworm
ARG ANNOY_MARCH=x86-64-v2
# annoy 1.17.3's setup.py flags on x86_64 Linux, with its -march=native replaced by the
# baseline: a native build dies with SIGILL on an older CPU (spotify/annoy#217, #613).
ARG ANNOY_COMPILER_ARGS=-D_CRT_SECURE_NO_WARNINGS,-fpermissive,-march=${ANNOY_MARCH},-O3,-ffast-math,-fno-associative-math,-DANNOYLIB_MULTITHREADED_BUILD,-std=c++14

FROM ${PYTHON_IMAGE} AS build
# annoy ships as source only and needs a C++ compiler; hatbot's ranking extension, a C one.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends g++ \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# The dependencies alone first (the client's and the server extra's, pinned by
# constraints.txt), so that a change of code reuses this layer. Wheels only, but annoy.
COPY setup.cfg constraints.txt ./
ARG ANNOY_COMPILER_ARGS
RUN --mount=type=secret,id=ca-certificates,target=/run/secrets/ca-certificates.crt \
    if [ -s /run/secrets/ca-certificates.crt ]; then \
        export PIP_CERT=/run/secrets/ca-certificates.crt; fi \
    && python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --quiet pip==26.3 \
    && /opt/venv/bin/python -c "import configparser; c = configparser.ConfigParser(); \
c.read('setup.cfg'); print(c['options']['install_requires'], \
c['options.extras_require']['server'])" > requirements.txt \
    && ANNOY_COMPILER_ARGS="${ANNOY_COMPILER_ARGS}" /opt/venv/bin/pip install --quiet \
        -c constraints.txt --only-binary :all: --no-binary annoy -r requirements.txt \
    && mkdir -p /opt/hatbot \
    && echo "${ANNOY_COMPILER_ARGS}" > /opt/hatbot/annoy-compiler-args
# README.md stays out of the context, so that a change of documentation does not retrain the
# model; setup.cfg's long_description reads an empty one.
COPY pyproject.toml setup.py ./
COPY client client
COPY server server
COPY models models
RUN --mount=type=secret,id=ca-certificates,target=/run/secrets/ca-certificates.crt \
    if [ -s /run/secrets/ca-certificates.crt ]; then \
        export PIP_CERT=/run/secrets/ca-certificates.crt; fi \
    && touch README.md \
    && /opt/venv/bin/pip install --quiet --no-deps . \
    && /opt/venv/bin/python -c "import hatbot.server._ranking" \
    && /opt/venv/bin/pip check \
    && /opt/venv/bin/pip uninstall --quiet --yes setuptools pip
# The default model comes from English text shipped inside gensim: nothing is downloaded.
RUN /opt/venv/bin/hatbot train --out /opt/hatbot/models/default

FROM ${PYTHON_IMAGE} AS runtime
# A numeric USER, so that an orchestrator can verify it is not root (runAsNonRoot).
RUN groupadd --gid 10001 hatbot \
    && useradd --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin hatbot
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/hatbot /opt/hatbot
# Bytecode was compiled at install time; the server writes nothing, so the root file system
# can be read-only.
ENV PATH=/opt/venv/bin:$PATH \
    HATBOT_MODEL_DIR=/opt/hatbot/models/default \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
EXPOSE 50051 8080
STOPSIGNAL SIGTERM
# Served with --tls-cert, the check needs -e HATBOT_TLS_CA=... (and HATBOT_TLS_CERT and
# HATBOT_TLS_KEY under --tls-client-ca); see the README's TLS section.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["hatbot", "health", "--addr", "127.0.0.1:50051"]
# Exec form: the server is PID 1 and gets SIGTERM itself. Arguments after the image name are
# appended (--model DIR, --grace S, ...); without --model it serves HATBOT_MODEL_DIR.
ENTRYPOINT ["hatbot", "serve", "--host", "0.0.0.0", "--port", "50051", "--http-port", "8080"]
# Last, so that a new revision only changes the image's metadata.
ARG PYTHON_IMAGE
ARG ANNOY_MARCH
ARG ANNOY_COMPILER_ARGS
ARG VERSION=unknown
ARG REVISION=unknown
ARG SOURCE=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="hatbot" \
    org.opencontainers.image.description="A bot for the word game the Hat, served over gRPC" \
    org.opencontainers.image.licenses="MIT" \
    org.opencontainers.image.version="${VERSION}" \
    org.opencontainers.image.revision="${REVISION}" \
    org.opencontainers.image.source="${SOURCE}" \
    org.opencontainers.image.created="${CREATED}" \
    org.opencontainers.image.base.name="${PYTHON_IMAGE}" \
    hatbot.annoy.march="${ANNOY_MARCH}" \
    hatbot.annoy.compiler-args="${ANNOY_COMPILER_ARGS}"
