"""Another team's BentoML service composing ClickIntent with `bentoml.depends` (docs/bentoml.md).

The host service is the one docs/bentoml.md shows, taken from the page, served with `bentoml serve` (which
starts ClickIntent as its dependency, talking BentoML's pickle content type over a private
socket) and asked over HTTP for a customer's homepage tiles.
"""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest

from clickintent.features.partitioned_marts import mart_location, parquet_pattern
from clickintent.serving.process import ServedProcess, free_port, serve_command, service_environment, spawn_server
from support.doc_blocks import fenced_block
from support.service_auth import READ_KEY, service_auth_environment

pytestmark = pytest.mark.slow

# The service exactly as docs/bentoml.md writes it.
HOST_SERVICE = fenced_block("bentoml.md", "import bentoml\n")


@pytest.fixture(scope="module")
def storefront(serving_world, tmp_path_factory):
    host_dir = tmp_path_factory.mktemp("host_service")
    (host_dir / "host_service.py").write_text(HOST_SERVICE)
    environment = service_environment(
        serving_world,
        extra={
            **service_auth_environment(),
            # The composing service's key: BentoML's client sends it as a bearer token.
            "BENTO_CLOUD_API_KEY": READ_KEY,
            "PYTHONPATH": str(serving_world.project_dir),
        },
    )
    port = free_port()
    log_path = host_dir / "serve.log"
    log = log_path.open("wb")
    process = spawn_server(
        serve_command("host_service:Storefront", port, project_dir=host_dir), cwd=host_dir, env=environment, stdout=log, stderr=log
    )
    served = ServedProcess(target="host_service:Storefront", port=port, process=process, log_path=log_path, _log=log)
    yield served
    served.stop()


def test_a_composing_service_gets_recommendations_once_ready(storefront, serving_world):
    import duckdb

    customer_id = duckdb.sql(
        f"select customer_id from '{parquet_pattern(mart_location(serving_world.marts_dir, 'dim_customer_profiles'))}' order by customer_id limit 1"
    ).fetchall()[0][0]
    # Ready means ready to answer: the first 200 from /readyz is followed by an answer, not an error.
    deadline = time.monotonic() + 240
    while True:
        assert storefront.process.poll() is None, storefront.log_tail()
        assert time.monotonic() < deadline, storefront.log_tail()
        try:
            if httpx.get(f"{storefront.url}/readyz", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.25)

    answer = httpx.post(f"{storefront.url}/homepage", json={"customer_id": customer_id, "k": 3}, timeout=60)

    assert answer.status_code == 200, answer.text + storefront.log_tail()
    body = answer.json()
    assert body["mode"] == "customer"
    assert len(body["product_ids"]) == 3 and len(set(body["product_ids"])) == 3
    # The pickle type stays refused on the entry side: only the composing service may send it.
    refused = httpx.post(
        f"{storefront.url}/homepage", content=b"\x80\x05.", headers={"content-type": "application/vnd.bentoml+pickle"}, timeout=30
    )
    assert refused.status_code == 415


def test_bentoml_build_from_serving_reads_the_models_of_the_build_context(serving_world, tmp_path):
    """`cd serving && bentoml build -f bentofile.yaml ..` (serving/README.md): ../models is the
    build context's, not serving/models, when CLICKINTENT_MODELS_DIR is not set."""
    import shutil

    context = tmp_path / "checkout"
    shutil.copytree(serving_world.project_dir / "serving", context / "serving", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(serving_world.project_dir / "src", context / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copytree(serving_world.models_dir, context / "models")
    environment = service_environment(serving_world, extra={"BENTOML_HOME": str(tmp_path / "bentoml_home"), **service_auth_environment()})
    environment.pop("CLICKINTENT_MODELS_DIR")

    build = subprocess.run(
        [sys.executable, "-m", "bentoml", "build", "-f", "bentofile.yaml", "..", "--output", "tag"],
        cwd=context / "serving",
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    bento_yaml = next((tmp_path / "bentoml_home" / "bentos" / "clickintent").glob("*/bento.yaml")).read_text()
    assert all(
        f"clickintent-{name}" in bento_yaml for name in ("encoder", "intent_classifier", "tile_ranker", "conversion", "anonymous_ranker")
    )
