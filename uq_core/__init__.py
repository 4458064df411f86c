"""UQ Lens core: generate, verify, score and analyse LLM uncertainty. Never imports Streamlit."""

__version__ = "0.1.0"
