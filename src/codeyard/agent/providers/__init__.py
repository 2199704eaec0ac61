"""Model providers: the official OpenAI and Anthropic SDKs behind `codeyard.agent.model.Model`."""

from codeyard.agent.providers.factory import ModelConfig, create_model
from codeyard.agent.providers.retry import RetryNotice

__all__ = ["ModelConfig", "RetryNotice", "create_model"]
