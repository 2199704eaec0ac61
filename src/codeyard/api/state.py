"""What the application holds for its lifetime, built once by ``create_app``."""

from dataclasses import dataclass

from codeyard.api.ratelimit import RateLimiter
from codeyard.config import Settings
from codeyard.services.container import Services


@dataclass
class AppState:
    settings: Settings
    services: Services
    limiter: RateLimiter
