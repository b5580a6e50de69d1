import pytest

from pgwarden.db.conninfo import describe_target, mask_conninfo, session_options
from pgwarden.errors import SettingsInvalid
from pgwarden.settings import load_settings


def test_environment_names_are_kept(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PGWARDEN_SCHEMA", "warden")
    monkeypatch.setenv("PGWARDEN_HTTP_PORT", "9000")
    monkeypatch.setenv("PGWARDEN_TIMEZONE", "Europe/Berlin")
    s = load_settings()
    assert (s.schema_name, s.http_port, s.timezone) == ("warden", 9000, "Europe/Berlin")


def test_toml_file_is_read_and_environment_wins(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pgwarden.toml").write_text('schema = "from_toml"\nhttp_port = 7000\n')
    monkeypatch.setenv("PGWARDEN_HTTP_PORT", "7100")
    s = load_settings()
    assert s.schema_name == "from_toml" and s.http_port == 7100


def test_bad_setting_names_field_and_value(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PGWARDEN_TIMEZONE", "Mars/Olympus")
    with pytest.raises(SettingsInvalid) as exc:
        load_settings()
    assert "PGWARDEN_TIMEZONE" in str(exc.value) and "Mars/Olympus" in str(exc.value)


def test_dsn_password_is_masked(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PGWARDEN_DSN", "postgresql://bob:s3cret@db.example:6543/app")
    shown = load_settings().masked()
    assert "s3cret" not in str(shown)
    assert "db.example" in shown["PGWARDEN_DSN"] and shown["mode"] == "external"


def test_conninfo_helpers():
    assert "hunter2" not in mask_conninfo("host=h password=hunter2")
    assert describe_target("postgresql://u:p@h:7/db") == "h:7/db"
    assert session_options("my schema").startswith('-c search_path="my\\ schema",public')


def test_environment_is_read_as_pydantic_settings_reads_it(monkeypatch, tmp_path):
    # pgwarden's own environment source (names worked out once per class) gives what
    # pydantic-settings' general one gives: names in any case, the PGWARDEN_SCHEMA
    # alias, empty values kept, unknown PGWARDEN_* names ignored
    from pydantic_settings import EnvSettingsSource

    from pgwarden.settings import Settings, _EnvSource

    monkeypatch.chdir(tmp_path)
    for name, value in {
        "pgwarden_http_port": "9100",
        "Pgwarden_Schema": "mixed",
        "PGWARDEN_API_OPEN_READS": "yes",
        "PGWARDEN_LOG_LEVEL": "",
        "PGWARDEN_NOT_A_SETTING": "x",
        "PGWARDEN_SCHEMA_NAME": "not the alias",
    }.items():
        monkeypatch.setenv(name, value)
    ours = _EnvSource(Settings)()
    assert ours == EnvSettingsSource(Settings)()
    assert ours["PGWARDEN_SCHEMA"] == "mixed" and ours["log_level"] == ""
    monkeypatch.delenv("PGWARDEN_LOG_LEVEL")
    s = load_settings()
    assert (s.http_port, s.schema_name, s.api_open_reads) == (9100, "mixed", True)


def test_init_values_win_over_the_environment(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PGWARDEN_SCHEMA", "from_env")
    monkeypatch.setenv("PGWARDEN_POOL_MAX_SIZE", "3")
    s = load_settings(PGWARDEN_SCHEMA="given")
    assert (s.schema_name, s.pool_max_size) == ("given", 3)
