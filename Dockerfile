FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY ingest ingest
COPY detectors detectors
COPY storage storage
COPY notifier notifier
COPY simulators simulators
COPY vitals vitals
COPY vocabulary vocabulary
RUN pip install --no-cache-dir .
USER nobody
CMD ["vitals", "run"]
