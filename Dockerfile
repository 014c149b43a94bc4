# hatbot: the gRPC server with the default model built into the image.
#   docker build -t hatbot . && docker run -p 50051:50051 hatbot

FROM python:3.11.7-slim-bookworm AS build
# annoy ships as source only and needs a C++ compiler.
RUN apt-get update \
    && apt-get install -y --no-install-recommends g++ \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY setup.cfg pyproject.toml README.md constraints.txt ./
COPY client client
COPY server server
COPY models models
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir -c constraints.txt '.[server]'
# The default model comes from English text shipped inside gensim: nothing is downloaded.
RUN /opt/venv/bin/hatbot train --out /opt/hatbot/models/default

FROM python:3.11.7-slim-bookworm
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin hatbot
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/hatbot /opt/hatbot
ENV PATH=/opt/venv/bin:$PATH \
    HATBOT_MODEL_DIR=/opt/hatbot/models/default \
    PYTHONUNBUFFERED=1
USER hatbot
EXPOSE 50051 8080
# Served with --tls-cert, the check needs -e HATBOT_TLS_CA=... (and HATBOT_TLS_CERT and
# HATBOT_TLS_KEY under --tls-client-ca); see the README's TLS section.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["hatbot", "health", "--addr", "127.0.0.1:50051"]
ENTRYPOINT ["hatbot", "serve", "--host", "0.0.0.0", "--port", "50051", "--http-port", "8080"]
