"""One router per resource; :func:`rmnlora.serving.app.create_app` mounts them."""
