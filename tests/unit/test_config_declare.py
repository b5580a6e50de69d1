import pytest

from pgwarden.config.declare import Key, KeyRegistry, check_cron, descending
from pgwarden.config.runtime import StoredValue, default_entry, resolve, resolve_stored
from pgwarden.errors import ConfigValueInvalid, UnknownConfigKey


def key(**kw):
    base = {"name": "a.b", "type": "float", "default": 2.0, "description": "d", "min": 1, "max": 10}
    base.update(kw)
    return Key(**base)


def test_numbers_are_bounded_and_typed():
    k = key()
    assert k.coerce(3) == 3.0
    with pytest.raises(ConfigValueInvalid) as exc:
        k.coerce(11)
    assert (
        "a.b" in str(exc.value) and "11" in str(exc.value) and "between 1 and 10" in str(exc.value)
    )
    for bad in ("3", True, None, float("nan"), [1]):
        with pytest.raises(ConfigValueInvalid):
            k.coerce(bad)


def test_int_refuses_fractions_and_bools():
    k = key(type="int", default=2)
    assert k.coerce(4.0) == 4
    with pytest.raises(ConfigValueInvalid):
        k.coerce(4.5)
    with pytest.raises(ConfigValueInvalid):
        k.coerce(True)


def test_choices_and_custom_check():
    k = Key("x.mode", "str", "a", "d", choices=("a", "b"))
    assert k.coerce("b") == "b"
    with pytest.raises(ConfigValueInvalid, match="one of 'a', 'b'"):
        k.coerce("c")
    cron = Key("x.cron", "str", "* * * * *", "d", check=check_cron)
    with pytest.raises(ConfigValueInvalid, match="5 fields"):
        cron.coerce("every hour")


def test_parse_text_reads_json_and_plain_strings():
    assert key().parse_text("4.5") == 4.5
    assert Key("x.s", "str", "", "d").parse_text("hello world") == "hello world"
    assert Key("x.s", "str", "", "d").parse_text('"quoted"') == "quoted"
    assert Key("x.f", "bool", False, "d").parse_text("on") is True
    with pytest.raises(ConfigValueInvalid, match="'abc'"):
        key().parse_text("abc")


def test_a_default_outside_its_own_bounds_is_refused_at_declaration():
    with pytest.raises(ConfigValueInvalid):
        key(default=100.0)
    with pytest.raises(ValueError, match="dotted"):
        key(name="Nodots")


def test_registry_refuses_twins_and_names_unknown_keys():
    reg = KeyRegistry([key()])
    with pytest.raises(ValueError, match="declared twice"):
        reg.add(key())
    with pytest.raises(UnknownConfigKey, match="'nope.key'"):
        reg["nope.key"]


def test_resolve_keeps_last_good_value_for_bad_stored_values():
    reg = KeyRegistry([key(), Key("c.d", "int", 5, "d")])
    stored = [StoredValue("a.b", "42"), StoredValue("c.d", "{broken")]
    entries = {e.key: e for e in resolve(reg, stored, {"a.b": 7.0})}
    assert entries["a.b"].source == "invalid" and entries["a.b"].value == 7.0
    assert entries["c.d"].source == "invalid" and entries["c.d"].value == 5
    good = {e.key: e for e in resolve(reg, [StoredValue("a.b", "3")], {})}
    assert good["a.b"].source == "database" and good["a.b"].value == 3.0
    assert good["c.d"].source == "default"


def test_resolve_stored_holds_the_stored_keys_of_resolve():
    # a process builds entries only for stored keys; every other key is its default entry
    reg = KeyRegistry(
        [Key("a.hi", "int", 10, "h"), Key("a.lo", "int", 5, "l"), Key("c.d", "int", 1, "d")],
        [descending("a.hi", "a.lo")],
    )
    for stored, last_good in [
        ([], {}),
        ([StoredValue("a.lo", "20")], {}),  # breaks the relation with the default high
        ([StoredValue("a.lo", "20")], {"a.lo": 3}),
        ([StoredValue("a.hi", "2"), StoredValue("a.lo", "1"), StoredValue("c.d", "x")], {}),
    ]:
        found = resolve_stored(reg, stored, last_good)
        assert set(found) == {s.key for s in stored}
        assert resolve(reg, stored, last_good) == [
            found.get(k.name) or default_entry(k) for k in reg
        ]
    broken = resolve_stored(reg, [StoredValue("a.lo", "20")], {"a.lo": 3})
    assert broken["a.lo"].source == "invalid" and broken["a.lo"].value == 3
