"""Pure functions from run results to Plotly figures, one module per view. Never imports Streamlit."""
