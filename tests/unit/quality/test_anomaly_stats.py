"""The distribution tails against reference values (computed once with scipy 1.17)."""

import math

import pytest

from pgwarden.quality.anomaly import stats


@pytest.mark.parametrize(
    ("got", "want"),
    [
        (lambda: stats.poisson_sf(20, 10), 0.0034543419758568334),
        (lambda: stats.poisson_cdf(3, 10), 0.010336050675925726),
        (lambda: stats.negbin_tails(150, 100, 3.0)[0], 0.9957561373649972),
        (lambda: stats.negbin_tails(150, 100, 3.0)[1], 0.004853552212580772),
        (lambda: stats.binom_sf(30, 1000, 0.02), 0.02069651867323949),
        (lambda: stats.chi2_sf(25, 9), 0.002971180485917624),
        (lambda: stats.t_sf(2.1, 7), 0.036935598106461326),
        (lambda: stats.t_quantile(0.975, 12), 2.1788128296672284),
        (lambda: stats.norm_sf(3.0), 0.0013498980316301),
    ],
)
def test_tails_match_reference_values(got, want):
    assert got() == pytest.approx(want, rel=1e-8)


def test_negative_binomial_with_no_overdispersion_is_poisson():
    lo, hi = stats.negbin_tails(12, 10, 1.0)
    assert lo == pytest.approx(stats.poisson_cdf(12, 10))
    assert hi == pytest.approx(stats.poisson_sf(12, 10))


def test_tails_are_monotone_and_bounded():
    values = [stats.binom_sf(k, 200, 0.1) for k in range(0, 60)]
    assert all(0.0 <= v <= 1.0 for v in values)
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))


def test_benjamini_hochberg_plain_and_weighted():
    rejected, adjusted = stats.weighted_bh([0.01, 0.04, 0.03, 0.005], [1, 1, 1, 1], 0.05)
    assert rejected == [True, True, True, True]
    assert adjusted == pytest.approx([0.02, 0.04, 0.04, 0.02])
    rejected, _ = stats.weighted_bh([0.001, 0.2, 0.3], [1, 1, 1], 0.002)
    assert rejected == [False, False, False]  # 0.001 * 3 > 0.002
    # Giving the first test most of the weight lets it through at the same level.
    rejected, _ = stats.weighted_bh([0.001, 0.2, 0.3], [2.8, 0.1, 0.1], 0.002)
    assert rejected == [True, False, False]


def test_robust_summaries():
    assert stats.median([3, 1, 2]) == 2
    assert stats.mad_sigma([1, 2, 3, 4, 100]) == pytest.approx(1.4826)
    assert math.isfinite(stats.mad_sigma([5, 5, 5]))
