"""Streamlit page: export."""

from rmnlora.ui.page_export import render

render()
