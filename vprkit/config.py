"""Typed configuration: pydantic models with ``extra="forbid"``, YAML files, ``--set`` overrides.

Every method's config class derives from :class:`VprkitConfig`. A resolved configuration is
built from (lowest to highest priority) the class defaults (the papers'), a YAML file, a
mapping given in Python, and ``key=value`` overrides (dotted keys reach nested models; values are
parsed as YAML scalars, so ``M=20``, ``easy_margin=false``, ``scales=[1,2]`` work).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from vprkit.errors import ConfigError
from vprkit.fileio import atomic_write_text

__all__ = [
    "VprkitConfig",
    "apply_inference_settings",
    "build_config",
    "config_to_dict",
    "inference_settings",
    "load_config",
    "load_yaml",
    "parse_overrides",
    "save_config",
]

C = TypeVar("C", bound=BaseModel)


class VprkitConfig(BaseModel):
    """Base of every vprkit config: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """``["a=1", "b.c=true"]`` → ``{"a": 1, "b": {"c": True}}`` (values parsed as YAML)."""
    result: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not of the form key=value")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        if isinstance(value, str):
            # YAML 1.1 reads "1e-4" as a string; users mean a number.
            with contextlib.suppress(ValueError):
                value = float(value)
        node = result
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {item!r} conflicts with an earlier override of {part!r}")
            node = child
        node[parts[-1]] = value
    return result


def load_yaml(path: str | Path, error: type[Exception] = ConfigError) -> dict[str, Any]:
    """Read a YAML mapping (an empty file is ``{}``); a missing or unreadable file, invalid YAML or
    a non-mapping is an ``error`` (:class:`ConfigError`; a model folder's reader passes ``DataError``)."""
    p = Path(path)
    if not p.is_file():
        raise error(f"config file {str(p)!r} does not exist")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise error(f"config file {str(p)!r} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise error(f"config file {str(p)!r} must contain a mapping, not {type(data).__name__}")
    return data


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value)
        elif isinstance(value, Mapping) and isinstance(out.get(key), str) and "preset" not in value:
            # fields set on a value given by preset name (``augmentation: dnc`` in the file,
            # ``--set training.augmentation.brightness=0.4``) refine that preset
            out[key] = {"preset": out[key], **value}
        else:
            out[key] = value
    return out


def _model_at(cls: type[BaseModel], path: tuple[Any, ...]) -> type[BaseModel] | None:
    """The nested config class that holds the field at ``path`` (``("training", "epoch")`` →
    the ``training`` section's class), or ``None``."""
    model: type[BaseModel] = cls
    for part in path:
        field = getattr(model, "model_fields", {}).get(str(part))
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    return model


def _explain(cls: type[BaseModel], exc: ValidationError, owner: str) -> str:
    import difflib

    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        if err["type"] == "extra_forbidden":
            section = _model_at(cls, tuple(err["loc"][:-1])) or cls
            names = list(section.model_fields)
            prefix = ".".join(str(p) for p in err["loc"][:-1])
            close = difflib.get_close_matches(str(err["loc"][-1]), names, n=1, cutoff=0.6)
            hint = f" (did you mean {prefix + '.' if prefix else ''}{close[0]}?)" if close else ""
            where = f" of {prefix}" if prefix else ""
            lines.append(f"unknown option {loc!r}{hint}; valid options{where}: {', '.join(names)}")
        else:
            lines.append(f"{loc}: {err['msg'].removeprefix('Value error, ')} (got {err.get('input')!r})")
    return f"invalid configuration for {owner or cls.__name__}: " + "; ".join(lines)


def build_config(
    cls: type[C],
    config: BaseModel | Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    owner: str = "",
) -> C:
    """Validate ``config`` (a model or mapping) updated by ``overrides`` into ``cls``."""
    data = config.model_dump() if isinstance(config, BaseModel) else dict(config or {})
    data = _merge(data, overrides or {})
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_explain(cls, exc, owner)) from exc


def load_config(
    cls: type[C],
    path: str | Path | None = None,
    overrides: Iterable[str] = (),
    *,
    owner: str = "",
) -> C:
    """Defaults ← YAML file ``path`` ← ``--set key=value`` overrides, validated into ``cls``."""
    data = load_yaml(path) if path else {}
    return build_config(cls, data, parse_overrides(overrides), owner=owner)


def config_to_dict(config: BaseModel) -> dict[str, Any]:
    """A JSON/YAML-safe dict of a config."""
    return config.model_dump(mode="json")


def save_config(config: BaseModel, path: str | Path) -> Path:
    """Write the resolved config as YAML, atomically (saved next to every artifact)."""
    text = yaml.safe_dump(config_to_dict(config), sort_keys=False)
    return atomic_write_text(path, text)


def inference_settings(config: BaseModel) -> list[str]:
    """Fields of ``config`` that only change how a trained model runs (declared ``exclude=True``:
    not dumped, so not part of the model's fingerprint), e.g. D&C's ``score_precision``."""
    return [name for name, field in type(config).model_fields.items() if field.exclude]


def apply_inference_settings(
    config: BaseModel, overrides: Mapping[str, Any], *, field: str = "inference_settings"
) -> None:
    """Set inference-only fields of a loaded model's ``config`` in place (validated).

    Anything else would make the model differ from the one its bundle was built with, so it is
    refused with the list of the fields that can be set (a :class:`ConfigError` about ``field``).
    """
    allowed = inference_settings(config)
    for key, value in overrides.items():
        if key not in allowed:
            raise ConfigError(
                f"{field} {key}: not an inference setting of {type(config).__name__} "
                f"(those are: {', '.join(allowed) or 'none'}); training settings change the "
                f"model and belong in `vprkit train --set`",
                field=field,
            )
        try:
            setattr(config, key, value)
        except ValidationError as exc:
            raise ConfigError(f"{field} {key}={value!r}: {exc.errors()[0]['msg']}", field=field) from None
