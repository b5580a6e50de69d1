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


def test_a_query_is_composed_once_per_schema_whatever_the_instance():
    a, b = queries.Queries("pgwarden.config", "s1"), queries.Queries("pgwarden.config", "s1")
    assert a["all_values"] is b["all_values"]
    other = queries.Queries("pgwarden.config", "s2")["all_values"]
    assert '"s2".system_config' in other.as_string(None)
    assert '"s1".system_config' in a["all_values"].as_string(None)
