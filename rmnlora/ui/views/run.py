"""Streamlit page: run."""

from rmnlora.ui.page_run import render

render()
