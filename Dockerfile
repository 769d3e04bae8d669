# sift: multi-stage build on the same scripts/setup.sh a developer runs, with CPU-only PyTorch.
FROM python:3.11-slim AS build
WORKDIR /app
ENV PIP_NO_CACHE_DIR=1 TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
COPY pyproject.toml requirements.lock README.md ./
COPY scripts ./scripts
COPY model ./model
COPY api ./api
COPY training ./training
COPY cli ./cli
RUN bash scripts/setup.sh

FROM python:3.11-slim
WORKDIR /app
RUN useradd --create-home --uid 10001 sift
COPY --from=build /app /app
COPY data ./data
RUN mkdir -p /app/var && chown -R sift:sift /app/var
USER sift
ENV PATH=/app/.venv/bin:$PATH SIFT_DATA_DIR=/app/var HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
VOLUME ["/app/var"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4).status == 200 else 1)"
CMD ["sift", "serve", "--host", "0.0.0.0", "--port", "8000"]
