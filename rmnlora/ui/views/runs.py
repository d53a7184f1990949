"""Streamlit page: runs."""

from rmnlora.ui.page_runs import render

render()
