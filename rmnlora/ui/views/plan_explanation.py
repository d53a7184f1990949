"""Streamlit page: feedback on the 'plan_explanation' task."""

from rmnlora.ui.page_feedback import render

render("plan_explanation")
