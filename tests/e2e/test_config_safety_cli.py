"""`config set` refuses what would stop a worker or break the levels (issue 10 point 9)."""

import pytest


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("report.cron", "99 * * * *", "99 * * * *"),
        ("report.cron", "* * * * * 99", "* * * * * 99"),
        ("report.cron", "0 0 32 * *", "0 0 32 * *"),
        ("quality.level_poor", "0.95", "level_acceptable"),
    ],
)
def test_config_set_of_a_bad_value_exits_1_naming_key_and_value(cli_external, key, value, named):
    r = cli_external.run("config", "set", key, value)
    assert r.returncode == 1, r.stdout
    assert key in r.stderr and named in r.stderr
    assert "Traceback" not in r.stderr
