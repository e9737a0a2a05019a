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


@pytest.fixture
def one_thread():
    """Small batches of many small tensor operations gain nothing from threads, and on busy cores each
    parallel one waits for a thread: with a training run on both of 2 cores, a 64 x 64 batch took 2.4 s
    with 2 threads and 0.09 s with 1. The batched synthesizers' tests use it (`pytestmark`)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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
