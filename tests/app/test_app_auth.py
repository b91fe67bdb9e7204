"""Login from the GANINV_AUTH environment variable (a second server, started only for this test)."""
from __future__ import annotations

import httpx
import pytest


def test_auth_from_environment_protects_api(start_app):
    from gradio_client import Client
    with start_app(extra_env={"GANINV_AUTH": "ann:s3cret"}) as url:
        assert httpx.get(url + "config", timeout=30).status_code == 401
        with pytest.raises(Exception):
            Client(url, auth=("ann", "wrong"), verbose=False)
        client = Client(url, auth=("ann", "s3cret"), verbose=False)
        rows = client.predict(api_name="/models")["data"]
        assert "celeba-dcgan-64" in [r[0] for r in rows]
