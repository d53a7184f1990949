"""Streamlit page: dashboard."""

from rmnlora.ui.page_dashboard import render

render()
