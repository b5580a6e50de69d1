import pydantic
import pytest

from pgwarden.models import BaseDetectionModel, ModelResult
from pgwarden.models.base import check_model_id, freeze, load_entrypoint
from pgwarden.models.errors import EntrypointInvalid, ModelFieldInvalid, ParamsInvalid
from pgwarden.models.registry import TtlCache
from pgwarden.models.store import clean_metrics
from tests.unit.models import toy


def test_model_id_of_64_is_accepted_and_65_raises_value_error_at_once():
    assert check_model_id("m" * 64) == "m" * 64
    with pytest.raises(ValueError, match="65 characters, at most 64"):
        check_model_id("m" * 65)
    with pytest.raises(ValueError):

        class TooLong(BaseDetectionModel):
            model_id = "x" * 65

    class Fine(BaseDetectionModel):
        model_id = "fine"

        def run(self, ctx):
            return ModelResult()

    with pytest.raises(ModelFieldInvalid) as err:
        Fine(model_id="y" * 65)
    assert err.value.field == "model_id"
    with pytest.raises(ValueError, match="model_id ''"):
        check_model_id("")


def test_params_model_errors_name_the_field_and_value():
    class P(pydantic.BaseModel):
        threshold: float

    class M(BaseDetectionModel):
        Params = P

    with pytest.raises(ParamsInvalid) as err:
        M.validate_params({"threshold": "high"}, model_id="m", version="v1")
    assert err.value.field == "threshold" and err.value.value == "high"
    assert "model 'm' version 'v1'" in str(err.value)
    with pytest.raises(ParamsInvalid, match="time_budget_ms"):
        M.validate_params({"threshold": 1, "time_budget_ms": -5}, model_id="m")
    assert M.validate_params({"threshold": 2, "time_budget_ms": 10}).threshold == 2


def test_entrypoints_are_checked():
    assert load_entrypoint(f"{toy.HERE}:Const", model_id="m") is toy.Const
    for bad, match in [
        ("no_colon", "package.module:Class"),
        ("no_such_pkg_xyz.mod:Cls", "cannot be imported"),
        (f"{toy.HERE}:Missing", "no attribute"),
        (f"{toy.HERE}:NotAModel", "not a BaseDetectionModel"),
    ]:
        with pytest.raises(EntrypointInvalid, match=match) as err:
            load_entrypoint(bad, model_id="m", version="v9")
        assert err.value.field == "entrypoint" and "version 'v9'" in str(err.value)


def test_freeze_makes_nested_data_read_only():
    frozen = freeze([{"a": [1, {"b": 2}]}])
    with pytest.raises(TypeError):
        frozen[0]["a"] = 3
    with pytest.raises(TypeError):
        frozen[0]["a"][1]["b"] = 3
    assert not hasattr(frozen, "append")


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_ttl_cache_expires_with_the_injected_clock_and_invalidates_at_once():
    clock = Clock()
    loads = []
    cache = TtlCache(lambda arg: loads.append(arg) or len(loads), ttl=300, clock=clock)
    assert cache.get("c1") == 1
    clock.now += 299.9
    assert cache.get() == 1 and cache.is_fresh
    clock.now += 0.1  # exactly the TTL: stale
    assert not cache.is_fresh
    assert cache.get("c2") == 2 and loads == ["c1", "c2"]
    cache.invalidate()
    assert cache.get() == 3  # invalidated: reloaded though within the TTL
    assert cache.get(fresh=True) == 4


def test_ttl_may_follow_a_hot_reloaded_value():
    clock = Clock()
    ttl = {"v": 300.0}
    cache = TtlCache(lambda _: clock.now, ttl=lambda: ttl["v"], clock=clock)
    first = cache.get()
    clock.now += 10
    assert cache.get() == first
    ttl["v"] = 5.0
    assert cache.get() == clock.now


def test_metric_keys_over_64_and_non_finite_values_are_dropped():
    import decimal

    kept, dropped = clean_metrics(
        {"ok": 1, "k" * 64: 2.5, "k" * 65: 3.0, "nan": float("nan"), "inf": float("inf"),
         "text": "x", "flag": True, "dec": decimal.Decimal("1.5"), "": 1.0}
    )  # fmt: skip
    assert kept == {"ok": 1.0, "k" * 64: 2.5}
    assert sorted(dropped) == sorted(["k" * 65, "nan", "inf", "text", "flag", "dec", ""])
