"""Building a `Model` from the `CODEYARD_MODEL*` settings, which the entry point reads into a `ModelConfig`.

Only the configured provider's module (and its SDK) is imported: the two SDKs are large (``anthropic`` alone is some
3,500 modules and 60 MB), and a process that runs sessions forks for every sandboxed command, which costs in
proportion to its memory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from codeyard.agent.model import Model, ModelConfigError
from codeyard.agent.providers.retry import RetryNotice, RetryPolicy

if TYPE_CHECKING:
    from codeyard.agent.providers.anthropic_messages import AnthropicMessagesModel
    from codeyard.agent.providers.openai_chat import OpenAIChatModel

_PROVIDERS = ("openai", "anthropic")
VALID_FORMS = (
    "openai:<model> (OpenAI, or any OpenAI-compatible server: vLLM, Ollama, llama.cpp, OpenRouter) or anthropic:<model>"
)


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to reach one model.

    `spec` is `openai:<model>` (any Chat Completions endpoint) or `anthropic:<model>`; the model name may
    itself contain colons (`openai:llama3.1:8b` for Ollama). `base_url` None means the provider's default.
    """

    spec: str
    base_url: str | None = None
    api_key: str | None = None
    context_window: int = 128000
    max_output_tokens: int = 4096
    stream: bool = False
    max_retries: int = 5
    request_timeout: float = 120.0
    retry_base_delay: float = 0.5
    retry_max_delay: float = 30.0


def check_config(config: ModelConfig) -> tuple[str, str]:
    """The provider and model name of a usable configuration; `ModelConfigError` in one line otherwise."""
    provider, _, model = config.spec.partition(":")
    if provider not in _PROVIDERS or not model.strip():
        raise ModelConfigError(f"CODEYARD_MODEL={config.spec!r} is not valid: use {VALID_FORMS}")
    _check_positive(config)
    return provider, model.strip()


def create_model(config: ModelConfig, *, on_retry: Callable[[RetryNotice], None] | None = None) -> Model:
    """The provider named by `config.spec`; `on_retry` hears of every wait before a retry."""
    provider, model = check_config(config)
    policy = RetryPolicy(
        max_retries=config.max_retries, base_delay=config.retry_base_delay, max_delay=config.retry_max_delay
    )
    provider_class: type[OpenAIChatModel] | type[AnthropicMessagesModel]
    if provider == "openai":
        from codeyard.agent.providers.openai_chat import OpenAIChatModel

        provider_class = OpenAIChatModel
    else:
        from codeyard.agent.providers.anthropic_messages import AnthropicMessagesModel

        provider_class = AnthropicMessagesModel
    return provider_class(
        model=model,
        base_url=config.base_url,
        api_key=config.api_key,
        context_window=config.context_window,
        max_output_tokens=config.max_output_tokens,
        stream=config.stream,
        request_timeout=config.request_timeout,
        policy=policy,
        on_retry=on_retry,
    )


def _check_positive(config: ModelConfig) -> None:
    for name in ("context_window", "max_output_tokens", "request_timeout"):
        if getattr(config, name) <= 0:
            raise ModelConfigError(f"the model's {name} must be positive, not {getattr(config, name)}")
    for name in ("max_retries", "retry_base_delay", "retry_max_delay"):
        if getattr(config, name) < 0:
            raise ModelConfigError(f"the model's {name} must not be negative, not {getattr(config, name)}")
