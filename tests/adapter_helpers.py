"""Helpers shared by the adapter/runtime tests: random (non-zero) PEFT LoRA folders for a model."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
import uvicorn
from peft import LoraConfig, get_peft_model

TARGETS = ["q_proj", "v_proj", "o_proj", "down_proj"]


def make_lora(build: Callable[[], Any], path: Path, *, seed: int, rank: int, scale: float = 0.3) -> Path:
    """Save a LoRA adapter with random non-zero A and B (a trained adapter's shape, not its content)."""
    model = build()
    torch.manual_seed(seed)
    peft_model = get_peft_model(
        model, LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=TARGETS, init_lora_weights=False)
    )
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0.0, scale)
    peft_model.save_pretrained(path)
    return path


def serve(app: Any) -> Iterator[str]:
    """Run ``app`` with uvicorn (lifespan on) in a thread on 127.0.0.1:<free port>; yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
