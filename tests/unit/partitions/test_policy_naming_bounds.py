from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from pgwarden.errors import PartitionPolicyInvalid
from pgwarden.partitions import bounds, naming
from pgwarden.partitions.policy import Span, TableName, build_policy, parse_table_name

T = TableName("public", "events")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("public.events", ("public", "events")),
        ("Events", ("public", "events")),
        ('"Sales"."Order Events"', ("Sales", "Order Events")),
        ('"a""b".c', ('a"b', "c")),
        ("ventes.Événements", ("ventes", "Événements".replace("É", "É"))),
    ],
)
def test_table_names_as_written_in_sql(text, expected):
    assert parse_table_name(text).key == expected


@pytest.mark.parametrize("text", ["", '"open', "a.b.c", "a.", "x" * 64])
def test_bad_table_names_name_the_field(text):
    with pytest.raises(PartitionPolicyInvalid) as exc:
        parse_table_name(text)
    assert exc.value.field == "table"


def test_intervals_and_spans():
    p = build_policy(T, interval="quarterly", retention="2 years")
    assert (p.interval_unit, p.interval_count, p.interval) == ("months", 3, "quarterly")
    assert p.retention == Span(24, 0)
    assert build_policy(T, interval="10 days").interval == "10 days"
    assert build_policy(T, interval="weekly").interval_count == 7


@pytest.mark.parametrize(
    ("options", "field", "value"),
    [
        ({"premake": -1}, "premake", -1),
        ({"premake": 1001}, "premake", 1001),
        ({"interval": "fortnightly"}, "interval", "fortnightly"),
        ({"interval": "monthly", "retention": "20 days"}, "retention", "20 days"),
        ({"interval": "quarterly", "retention": "2 months"}, "retention", "2 months"),
        ({"action": "shred"}, "action", "shred"),
        ({"timezone": "Mars/Olympus"}, "timezone", "Mars/Olympus"),
        ({"action": "archive"}, "archive_dir", None),
        ({"naming_template": "_YYYY_MM", "interval": "daily"}, "naming", "{parent}_{YYYY}_{MM}"),
        ({"naming_template": "{parent}_{HH}"}, "naming", "{parent}_{HH}"),
        ({"naming_template": "data_{YYYYMMDD}"}, "naming", "data_{YYYYMMDD}"),
        ({"default_mode": "sometimes"}, "default_mode", "sometimes"),
    ],
)
def test_bad_policies_name_field_and_value(options, field, value):
    with pytest.raises(PartitionPolicyInvalid) as exc:
        build_policy(T, **options)
    assert exc.value.field == field
    assert exc.value.value == value


def test_names_over_63_bytes_are_refused():
    long = TableName("public", "é" * 28)  # 56 bytes + "_p20240101" = 66
    with pytest.raises(PartitionPolicyInvalid) as exc:
        build_policy(long)
    assert exc.value.field == "naming" and "63" in str(exc.value)


def test_unwritable_archive_dir_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(PartitionPolicyInvalid) as exc:
        build_policy(T, action="archive", archive_dir=str(blocker / "sub"))
    assert exc.value.field == "archive_dir"


def test_presets_render_the_seed_styles():
    d = date(2024, 11, 1)
    got = {k: naming.render(v, "t", d) for k, v in naming.PRESETS.items()}
    assert got == {
        "_pYYYYMMDD": "t_p20241101",
        "_YYYYMMDD": "t_20241101",
        "_YYYY_MM": "t_2024_11",
        "_yYYYYmMM": "t_y2024m11",
        "_yYYYYqN": "t_y2024q4",
    }


def test_fallback_name_is_short_and_deterministic():
    a = naming.fallback("x" * 63, date(2024, 1, 1), date(2024, 2, 1))
    assert len(a.encode()) <= 63 and a == naming.fallback(
        "x" * 63, date(2024, 1, 1), date(2024, 2, 1)
    )


def test_month_ends_leap_years_and_quarters():
    assert bounds.period_start(
        "months", 1, bounds.period_index("months", 1, date(2024, 2, 29))
    ) == date(2024, 2, 1)
    q = bounds.period_index("months", 3, date(2024, 8, 31))
    assert bounds.period_start("months", 3, q) == date(2024, 7, 1)
    assert bounds.period_start("months", 3, q + 1) == date(2024, 10, 1)
    assert bounds.period_start(
        "months", 12, bounds.period_index("months", 12, date(2024, 12, 31))
    ) == date(2024, 1, 1)
    assert bounds.add_months(date(2024, 2, 29), -12) == date(2023, 2, 28)
    assert bounds.add_months(date(2024, 3, 31), -1) == date(2024, 2, 29)
    # weekly periods are ISO weeks (Monday)
    assert (
        bounds.period_start(
            "days", 7, bounds.period_index("days", 7, date(2024, 3, 3))
        ).isoweekday()
        == 1
    )


def test_dst_boundaries_are_local_midnight():
    berlin = ZoneInfo("Europe/Berlin")
    # the day of the spring change is 23 hours long, the autumn one 25
    mar31 = bounds.local_midnight(date(2024, 3, 31), berlin)
    apr1 = bounds.local_midnight(date(2024, 4, 1), berlin)
    assert (apr1 - mar31).total_seconds() == 23 * 3600
    oct27 = bounds.local_midnight(date(2024, 10, 27), berlin)
    oct28 = bounds.local_midnight(date(2024, 10, 28), berlin)
    assert (oct28 - oct27).total_seconds() == 25 * 3600
    assert mar31 == datetime(2024, 3, 30, 23, tzinfo=UTC)
    assert apr1 == datetime(2024, 3, 31, 22, tzinfo=UTC)


def test_literals_round_trip_for_each_key_type():
    ny = ZoneInfo("America/New_York")
    instant = bounds.local_midnight(date(2024, 11, 3), ny)
    for key_type in bounds.KEY_TYPES:
        text = bounds.bound_literal(instant, key_type, ny)
        assert bounds.parse_value(text, key_type, ny) == instant
    assert bounds.parse_bound("MINVALUE", "date", ny) is None
    assert bounds.parse_bound("'infinity'", "date", ny) is None
    assert bounds.parse_bound(
        "'2024-01-01 00:00:00+00'", "timestamp with time zone", ny
    ) == datetime(2024, 1, 1, tzinfo=UTC)
