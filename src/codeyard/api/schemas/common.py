"""Shapes shared by every resource: the pagination envelope and bounded string types."""

from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

T = TypeVar("T")

#: Free text such as prompts and note bodies: large, but bounded.
LongText = Annotated[str, StringConstraints(max_length=1_000_000)]
ShortText = Annotated[str, StringConstraints(max_length=1000)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=500)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Url = Annotated[str, StringConstraints(min_length=1, max_length=2083)]
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class Request(BaseModel):
    """Request bodies: unknown fields are ignored, as Devin clients may send fields we do not know."""

    model_config = ConfigDict(extra="ignore")


class Paginated(BaseModel, Generic[T]):
    items: list[T]
    end_cursor: str | None = None
    has_next_page: bool = False
    total: int | None = None


First = Annotated[int, Field(ge=1, le=200)]
