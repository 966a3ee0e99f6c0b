"""Encoding of snapshots to journal payloads and back, through pydantic's TypeAdapter."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any, Generic, TypeVar

import pydantic
import pydantic_core
from pydantic import TypeAdapter

from ._errors import SnapshotError

S = TypeVar("S")


def qualified_name(snapshot_type: type[Any]) -> str:
    """Return ``module.QualName``, the name a journal records for its snapshot type."""
    return f"{snapshot_type.__module__}.{snapshot_type.__qualname__}"


def _field_names(snapshot_type: type[Any]) -> list[str]:
    if isinstance(snapshot_type, type) and issubclass(snapshot_type, pydantic.BaseModel):
        return list(snapshot_type.model_fields)
    if dataclasses.is_dataclass(snapshot_type):
        params = getattr(snapshot_type, "__dataclass_params__", None)
        if params is None or not params.frozen:
            raise SnapshotError(
                f"dataclass {qualified_name(snapshot_type)} is not frozen; declare it with "
                "@dataclass(frozen=True) so stored snapshots cannot change under the store"
            )
        return [field.name for field in dataclasses.fields(snapshot_type)]
    raise SnapshotError(
        f"snapshot type {snapshot_type!r} is neither a pydantic model nor a frozen dataclass; "
        "pass one of those as snapshot_type"
    )


class SnapshotCodec(Generic[S]):
    """Encode, decode and re-version snapshots of one type."""

    def __init__(self, snapshot_type: type[S], state_field: str = "state") -> None:
        self.snapshot_type = snapshot_type
        self.type_name = qualified_name(snapshot_type)
        self._adapter: TypeAdapter[S] = TypeAdapter(snapshot_type)
        # dict: a read-only view of any journal, each payload as a plain JSON object.
        self.is_raw = snapshot_type is dict
        if self.is_raw:
            self.fields = ["version"]
            self._is_model = False
            self.state_field = state_field
            return
        self.fields = _field_names(snapshot_type)
        if "version" not in self.fields:
            raise SnapshotError(
                f"snapshot type {self.type_name} has no 'version' field; add an integer "
                "field named version"
            )
        self.state_field = state_field
        self._is_model = issubclass(snapshot_type, pydantic.BaseModel)

    def check_type(self, snapshot: object) -> S:
        """Return ``snapshot`` if it is of the store's type, else raise ``SnapshotError``."""
        if snapshot is None:
            raise SnapshotError(f"cannot store None; pass a {self.type_name} snapshot")
        if not isinstance(snapshot, self.snapshot_type):
            raise SnapshotError(
                f"cannot store a {qualified_name(type(snapshot))}: this store holds "
                f"{self.type_name} snapshots"
            )
        version = getattr(snapshot, "version", None)
        if not isinstance(version, int) or isinstance(version, bool):
            raise SnapshotError(f"{self.type_name}.version must be an int, got {version!r}")
        return snapshot

    def version_of(self, snapshot: S) -> int:
        version: int = getattr(snapshot, "version")  # noqa: B009 - S is an unbound TypeVar
        return version

    def state_of(self, snapshot: S) -> str | None:
        """Return the FSM state name stored in its own column, or None without one."""
        value = getattr(snapshot, self.state_field, None)
        if value is None:
            return None
        if isinstance(value, enum.Enum):
            return str(value.value)
        return str(value)

    def encode_as(self, snapshot: S, version: int) -> tuple[bytes, S]:
        """Encode ``snapshot`` stored as ``version``; return the payload and the stored copy.

        The stored copy is the checked decoding of the caller's snapshot, so the
        caller's object is never changed. When only the version differs, it is set
        on that fresh copy, which no one else holds yet: cheaper than model_copy(),
        which copies every field a second time.
        """
        payload, decoded = self.encode_checked(snapshot)
        if self.version_of(snapshot) == version:
            return payload, decoded
        if self._is_model:
            decoded.__dict__["version"] = version
        else:
            object.__setattr__(decoded, "version", version)
        return self.encode(decoded), decoded

    def encode(self, snapshot: S) -> bytes:
        try:
            return self._adapter.dump_json(snapshot)
        except pydantic_core.PydanticSerializationError as exc:
            raise SnapshotError(
                f"cannot encode {self.type_name} version {self.version_of(snapshot)}: {exc}; "
                "use JSON-compatible field values"
            ) from exc

    def decode(self, payload: bytes | str, version: int | None = None) -> S:
        try:
            return self._adapter.validate_json(payload)
        except pydantic.ValidationError as exc:
            where = f" of event {version}" if version is not None else ""
            errors = exc.errors()
            field = ".".join(str(part) for part in errors[0]["loc"]) if errors else "<root>"
            message = errors[0]["msg"] if errors else str(exc)
            raise SnapshotError(
                f"cannot decode the payload{where} as {self.type_name}: field {field!r}: "
                f"{message}; read it with `statelog show --raw`"
            ) from exc

    def encode_checked(self, snapshot: S) -> tuple[bytes, S]:
        """Encode ``snapshot`` and prove its payload decodes back to an equal value.

        Returns the payload and the decoded copy, which the store keeps so that
        what readers see is exactly what a restart would read.
        """
        payload = self.encode(snapshot)
        try:
            decoded = self._adapter.validate_json(payload)
        except pydantic.ValidationError as exc:
            error = exc.errors()[0]
            field = ".".join(str(part) for part in error["loc"]) or "<root>"
            raise SnapshotError(
                f"{self.type_name} field {field!r} does not survive encoding: "
                f"{error['msg']} when read back (stored {error['input']!r}); use "
                "JSON-compatible values (no NaN, sets or custom objects)"
            ) from exc
        if decoded != snapshot:
            raise SnapshotError(self._describe_mismatch(snapshot, decoded))
        return payload, decoded

    def _describe_mismatch(self, snapshot: S, decoded: S) -> str:
        for name in self.fields:
            stored, read_back = getattr(snapshot, name), getattr(decoded, name)
            if stored != read_back:
                return (
                    f"{self.type_name} field {name!r} does not survive encoding: stored "
                    f"{stored!r}, read back {read_back!r}; use JSON-compatible values "
                    "(no NaN, sets or custom objects)"
                )
        return (
            f"{self.type_name} version {self.version_of(snapshot)} does not decode back equal; "
            "use JSON-compatible field values"
        )
