"""The OpenAPI document of the API, generated from the routes (committed as ``docs/openapi.json``)."""

import json
import tempfile
from pathlib import Path
from typing import Any

from codeyard.api.app import create_app
from codeyard.config import Settings
from codeyard.services.container import Services
from codeyard.storage.db import Database

COMMITTED = Path(__file__).resolve().parents[3] / "docs" / "openapi.json"


def document() -> dict[str, Any]:
    """Build the app on a throwaway data dir (nothing is connected or written) and return its schema."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), secret_key="openapi", public_url="http://127.0.0.1:8000")
        db = Database(settings.resolved_database_url)
        app = create_app(settings, Services(settings, db))
        return app.openapi()


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=True) + "\n"
