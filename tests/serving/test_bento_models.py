"""Model folders as BentoML model references, through BentoML's public API only.

Run in a subprocess with its own BENTOML_HOME: BentoML reads it once, at import.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = r"""
import json, sys
from pathlib import Path
import bentoml
from clickintent.serving.bento_models import ModelFolder, folder_digest

models_dir = Path(sys.argv[1])
reference = ModelFolder.of("encoder", models_dir)
info = reference.to_info("encoder_model")
stored = bentoml.models.get(info.tag)
again = reference.to_info("encoder_model")
print(json.dumps({
    "tag": str(info.tag),
    "digest": folder_digest(models_dir / "encoder"),
    "alias": info.alias,
    "module": info.module == stored.info.module,
    "creation_time": info.creation_time == stored.info.creation_time,
    "same_on_second_build": str(again.tag) == str(info.tag) and len(bentoml.models.list("clickintent-encoder")) == 1,
    "copied": sorted(p.name for p in (Path(stored.path) / "encoder").iterdir()),
    "resolved": str(reference.resolve()),
}))
"""


def test_a_model_folder_is_imported_once_and_described_by_bentomls_public_api(tmp_path: Path) -> None:
    models_dir = tmp_path / "models"
    folder = models_dir / "encoder"
    folder.mkdir(parents=True)
    (folder / "model_card.json").write_text(json.dumps({"name": "encoder", "version": "3"}))
    (folder / "weights.bin").write_bytes(b"\x00\x01")
    (folder / ".weights.bin.tmp-0123abcd").write_bytes(b"half-written")  # an interrupted write: never bundled
    environment = {**os.environ, "BENTOML_HOME": str(tmp_path / "bentoml")}
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(models_dir)], env=environment, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["tag"] == f"clickintent-encoder:{answer['digest']}"
    assert answer["alias"] == "encoder_model" and answer["module"] and answer["creation_time"]
    assert answer["same_on_second_build"]
    assert answer["copied"] == ["model_card.json", "weights.bin"]
    assert answer["resolved"] == str(folder)
