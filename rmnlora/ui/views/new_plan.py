"""Streamlit page: new plan."""

from rmnlora.ui.page_new_plan import render

render()
