FROM python:3.11-slim
WORKDIR /app
# Dependencies first, pinned and hash-checked (requirements.lock, rebuilt by `make lock`):
# the runtime plus the scaleout extra, so this one image runs `vitals run`, `vitals api`,
# `vitals bridge` and `vitals worker` (docker-compose.yml).
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY ingest ingest
COPY detectors detectors
COPY storage storage
COPY notifier notifier
COPY simulators simulators
COPY vitals vitals
COPY vocabulary vocabulary
RUN pip install --no-cache-dir --no-deps . \
    && mkdir faust-data && chown nobody faust-data  # `vitals worker --datadir` default
USER nobody
CMD ["vitals", "run"]
