# sift: two images from one file, both from the same pinned versions (requirements.lock).
#
#   docker build -t sift .                         the service (the last stage, the default): the ONNX model,
#                                                  the rules, the policy, storage and the review pages; no torch
#   docker build --target train -t sift-train .    the data team's image: the service plus PyTorch (CPU),
#                                                  transformers, datasets, scikit-learn and Dask, for
#                                                  `sift train`, `sift evaluate`, `sift models ...`, `sift batch`
#
# Both keep their state (SQLite database, secret key, promoted models) in the volume /var/lib/sift;
# the shipped defaults (rules, policy, roster, release model) are package data inside the install.

FROM python:3.11-slim AS source
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml setup.py requirements.lock README.md ./
COPY model ./model
COPY api ./api
COPY service ./service
COPY training ./training
COPY cli ./cli
COPY data ./data

FROM source AS serve-build
RUN python -m venv /opt/sift && /opt/sift/bin/pip install -c requirements.lock .

FROM source AS train-build
# torch first, from PyTorch's CPU index, so nothing later pulls a multi-GB CUDA build.
RUN python -m venv /opt/sift \
 && /opt/sift/bin/pip install "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu \
 && /opt/sift/bin/pip install -c requirements.lock ".[train,batch]"

FROM python:3.11-slim AS runtime
RUN useradd --create-home --uid 10001 sift && mkdir -p /var/lib/sift && chown sift:sift /var/lib/sift
ENV PATH=/opt/sift/bin:$PATH SIFT_DATA_DIR=/var/lib/sift HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONUNBUFFERED=1
VOLUME ["/var/lib/sift"]

FROM runtime AS train
COPY --from=train-build /opt/sift /opt/sift
COPY training/configs /opt/sift-configs
USER sift
WORKDIR /home/sift
CMD ["sift", "--help"]

FROM runtime AS serve
COPY --from=serve-build /opt/sift /opt/sift
USER sift
WORKDIR /home/sift
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4).status == 200 else 1)"
CMD ["sift", "serve", "--host", "0.0.0.0", "--port", "8000"]
