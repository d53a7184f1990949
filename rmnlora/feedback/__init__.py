"""Human feedback on model outputs: the one store, the API's group-commit writer, the DPO export.

A package of its own so the REST API (``rmnlora.serving``), the Streamlit app (``rmnlora.ui``),
the CLI and training share one implementation without importing a web framework.
"""
