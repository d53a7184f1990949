"""Streamlit page: home."""

from rmnlora.ui.page_home import render

render()
