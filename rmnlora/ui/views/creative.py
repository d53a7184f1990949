"""Streamlit page: feedback on the 'creative' task."""

from rmnlora.ui.page_feedback import render

render("creative")
