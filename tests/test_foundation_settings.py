"""Settings: environment, .env, defaults, and secrets kept out of every printed form."""

from __future__ import annotations

from pathlib import Path

from clip_pipeline.settings import Settings


def test_settings_read_prefixed_environment_and_split_lists(monkeypatch, tmp_path):
    monkeypatch.setenv("CLIP_PIPELINE_HOME", str(tmp_path / "h"))
    monkeypatch.setenv("CLIP_PIPELINE_CLOUDFLARE_FALLBACK_BASES", "https://a.example, https://b.example")
    monkeypatch.setenv("CLIP_PIPELINE_STORAGE_BACKEND", "s3")
    settings = Settings(_env_file=None)
    assert settings.home == (tmp_path / "h").resolve()
    assert settings.cloudflare_fallback_bases == ["https://a.example", "https://b.example"]
    assert settings.storage_backend == "s3"
    assert settings.temp_dir == settings.home / "tmp"
    assert settings.local_storage_root == settings.home / "storage"


def test_dotenv_file_is_read(monkeypatch, tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("CLIP_PIPELINE_FILE_SERVER_PORT=9911\n")
    monkeypatch.delenv("CLIP_PIPELINE_FILE_SERVER_PORT", raising=False)
    assert Settings(_env_file=env_file).file_server_port == 9911


def test_secrets_never_appear_in_repr_or_dump(monkeypatch):
    monkeypatch.setenv("CLIP_PIPELINE_KLING_SECRET_KEY", "kling-very-secret")
    monkeypatch.setenv("CLIP_PIPELINE_DATABASE_URL", "postgresql://u:db-very-secret@h/d")
    settings = Settings(_env_file=None)
    printed = repr(settings) + str(settings) + settings.model_dump_json()
    assert "kling-very-secret" not in printed
    assert "db-very-secret" not in printed
    assert settings.kling_secret_key.get_secret_value() == "kling-very-secret"


def test_every_setting_is_documented_in_the_readme():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    missing = [
        f"CLIP_PIPELINE_{name.upper()}" for name in Settings.model_fields if f"`CLIP_PIPELINE_{name.upper()}`" not in readme
    ]
    assert not missing, f"document these in the README's Configuration table: {missing}"
