# The worker image used by docker-compose.yml.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY agents ./agents
COPY topics ./topics
COPY providers ./providers
RUN pip install --no-cache-dir .
ENV COLDSTREAM_STATE_DIR=/var/lib/coldstream
CMD ["coldstream", "worker"]
