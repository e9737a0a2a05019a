import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from pathlib import Path

import numpy as np
import pytest
import torch

from dehaze import load_image
from dehaze.training.haze import scene_depth
from dehaze.scattering import synthesize_haze, transmission_from_depth

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(autouse=True)
def seeded_torch():
    """Every test starts from the same random weights and tensors."""
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def clear_photo():
    """A real held-out photograph (640 px wide)."""
    return load_image(EXAMPLES / "picosdeeuropa_by_Aitzol_Berasategi_clear.jpg")


@pytest.fixture(scope="session")
def hazy_pair(clear_photo):
    """(hazy, clear, transmission, airlight) exactly as the scattering model has them, with depth that follows the scene."""
    transmission = transmission_from_depth(0.3 + 1.2 * scene_depth(clear_photo, np.random.default_rng(7)), beta=1.2)
    airlight = 0.85
    return synthesize_haze(clear_photo, transmission, airlight), clear_photo, transmission, airlight


@pytest.fixture(scope="session")
def app_url():
    """The Gradio app, launched as `python app.py` would, on a free local port."""
    import socket

    import app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    demo = app.build_demo()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **app.launch_options())
    yield f"http://127.0.0.1:{port}/"
    demo.close()
