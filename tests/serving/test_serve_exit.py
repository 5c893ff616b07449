"""`clickintent serve` with models that do not fit exits with the reason, and leaves nothing running."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from clickintent.serving.process import free_port
from clickintent.settings import Settings

PROJECT = Path(__file__).resolve().parents[2]


def test_serve_with_a_mismatched_ranker_exits_2_without_a_restart_loop(serving_world: Settings, tmp_path: Path) -> None:
    models = tmp_path / "models"
    shutil.copytree(serving_world.models_dir, models)
    card_path = models / "tile_ranker" / "model_card.json"
    card_path.write_text(json.dumps({**json.loads(card_path.read_text()), "encoder_version": "v1-00000000"}))
    port = free_port()
    command = [sys.executable, "-m", "clickintent.cli.main", "serve", "--port", str(port)]
    command += ["--data-dir", str(serving_world.data_dir), "--models-dir", str(models)]
    # a restart loop never ends: the timeout would fail the test
    result = subprocess.run(command, cwd=str(PROJECT), env=dict(os.environ), capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "encoder v1-00000000 but the loaded encoder is" in result.stderr
    assert "Traceback" not in result.stderr
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "something still serves the port"
