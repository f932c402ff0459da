# gridwatch: `serve` by default; the compose file also runs `edge` and `mqtt-acl` from it.
FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY gridwatch gridwatch
COPY config config
COPY store store
COPY ingest ingest
COPY detectors detectors
COPY dispatch dispatch
COPY api api
COPY edge edge
RUN pip install --no-cache-dir . && useradd --system --uid 10001 --home-dir /var/lib/gridwatch gridwatch \
    && mkdir -p /var/lib/gridwatch && chown gridwatch /var/lib/gridwatch
COPY deploy/entrypoint.sh deploy/.env.example deploy/

USER gridwatch
ENV GRIDWATCH_DATA_DIR=/var/lib/gridwatch
EXPOSE 8000
ENTRYPOINT ["/app/deploy/entrypoint.sh"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
