import pytest

from pgwarden.db import queries


def test_named_queries_compose_with_schema():
    q = queries.Queries("pgwarden.config", "my schema")
    text = q["all_values"].as_string(None)
    assert '"my schema".system_config' in text
    with pytest.raises(KeyError, match="no query 'missing'"):
        q["missing"]


def test_every_query_file_parses():
    for package in ("pgwarden.config", "pgwarden.service", "pgwarden.db"):
        found = queries.load(package)
        assert found and all(body.strip() for body in found.values())
