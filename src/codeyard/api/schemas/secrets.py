"""Secret schemas (devin-api-reference §8.1, §10.4). The value is write-only: no response model has it."""

from typing import Annotated, Literal

from pydantic import AliasChoices, BaseModel, Field, StringConstraints, WithJsonSchema, field_validator

from codeyard.api.schemas.common import Request
from codeyard.services.secrets import KEY_FORMAT, KEY_RULE, MAX_VALUE_BYTES

SecretType = Literal["key-value", "cookie", "totp", "dictionary"]


class SecretCreate(Request):
    key: Annotated[str, StringConstraints(strip_whitespace=True), Field(description=KEY_RULE)]
    type: SecretType = "key-value"
    value: Annotated[
        object,
        WithJsonSchema({"type": "string", "minLength": 1, "maxLength": MAX_VALUE_BYTES, "writeOnly": True}),
    ]
    """Checked by the service (``check_value``), not here: a schema error would echo the value in the 422."""
    is_sensitive: Annotated[bool, Field(validation_alias=AliasChoices("is_sensitive", "sensitive"))] = True
    note: Annotated[str, StringConstraints(max_length=2000)] | None = None

    @field_validator("key")
    @classmethod
    def _environment_name(cls, value: str) -> str:
        if not KEY_FORMAT.fullmatch(value):
            raise ValueError(KEY_RULE)
        return value


class SecretResponse(BaseModel):
    secret_id: str
    key: str
    secret_type: str
    is_sensitive: bool
    note: str | None = None
    access_type: str
    created_at: int
    created_by: str | None = None
