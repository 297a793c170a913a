"""choose_index: the index kind by vector count and memory budget, without building anything."""

from __future__ import annotations

import pytest
from swerve.errors import ConfigurationError
from swerve.index import ChoiceRules, IndexKind, choose_index, ivf_list_count


def test_given_fewer_than_10k_vectors_when_choosing_then_exact_flat() -> None:
    choice = choose_index(5_000, 512)
    assert choice.kind is IndexKind.FLAT and choice.factory == "Flat" and not choice.needs_training
    assert choice.resident_bytes == 5_000 * 512 * 4


def test_given_100k_vectors_that_fit_when_choosing_then_ivf_flat_with_4_sqrt_n_lists() -> None:
    choice = choose_index(100_000, 512, memory_budget_mb=4096)
    assert choice.kind is IndexKind.IVF_FLAT
    assert choice.nlist == 1024  # 4 * sqrt(1e5) = 1265 -> nearest power of two
    assert choice.factory == "IVF1024,Flat"
    assert choice.search.nprobe is not None and 1 <= choice.search.nprobe <= choice.nlist


def test_given_1m_vectors_when_choosing_then_ivf_pq_with_hnsw_quantizer_and_exact_rerank() -> None:
    # Given: the scale, 1M x 512
    choice = choose_index(1_000_000, 512, memory_budget_mb=4096)
    # Then: PQ codes of d/8 bytes in 4096 lists found by an HNSW quantizer, re-ranked on full vectors
    assert choice.kind is IndexKind.IVF_PQ_REFINE
    assert (choice.nlist, choice.hnsw_quantizer_m, choice.pq_m, choice.pq_nbits) == (4096, 32, 64, 8)
    assert choice.factory == "IVF4096_HNSW32,PQ64x8,RFlat"
    assert choice.search.rerank_candidates == 200 and choice.search.nprobe == 32
    # Then: only codes and quantizer are resident (~75 MB); the file adds the 2 GB of re-rank vectors
    assert choice.resident_bytes < 100 * 2**20
    assert choice.disk_bytes - choice.resident_bytes == 1_000_000 * 512 * 4


def test_given_a_budget_too_small_for_full_vectors_when_choosing_then_compressed_codes() -> None:
    # Given: 200k x 512 full vectors need ~392 MB; the budget is 256 MB
    choice = choose_index(200_000, 512, memory_budget_mb=256)
    assert choice.kind is IndexKind.IVF_PQ_REFINE
    assert "over the 256 MB budget" in choice.reason


def test_given_a_budget_nothing_fits_when_choosing_then_configuration_error_names_the_need() -> None:
    with pytest.raises(ConfigurationError, match="no index fits"):
        choose_index(1_000_000, 512, memory_budget_mb=10)
    with pytest.raises(ConfigurationError, match="no index fits"):
        choose_index(5_000, 512, memory_budget_mb=1)


def test_given_a_gpu_when_choosing_at_scale_then_the_coarse_quantizer_is_flat() -> None:
    choice = choose_index(1_000_000, 512, gpu=True)
    assert choice.hnsw_quantizer_m is None and choice.factory == "IVF4096,PQ64x8,RFlat"


def test_given_opq_in_the_rules_when_choosing_at_scale_then_the_factory_rotates_first() -> None:
    choice = choose_index(2_000_000, 768, rules=ChoiceRules(opq=True))
    assert choice.factory.startswith("OPQ96,IVF") and choice.opq
    assert choice.pq_m == 96


@pytest.mark.parametrize(("count", "nlist"), [(20_000, 512), (100_000, 1024), (1_000_000, 4096),
                                              (10_000_000, 16384), (100, 2)])
def test_given_counts_when_sizing_lists_then_4_sqrt_n_as_a_power_of_two_within_39_points_each(
        count: int, nlist: int) -> None:
    assert ivf_list_count(count) == nlist
    assert ivf_list_count(count) * 39 <= count


def test_given_bad_arguments_when_choosing_then_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        choose_index(0, 512)
    with pytest.raises(ConfigurationError):
        choose_index(10, 512, memory_budget_mb=0)


def test_given_a_choice_when_recorded_then_build_params_are_plain_json() -> None:
    params = choose_index(1_000_000, 512).build_params()
    assert params["kind"] == "ivf_pq_refine" and params["factory"] == "IVF4096_HNSW32,PQ64x8,RFlat"
    assert all(isinstance(value, (str, int, bool, type(None))) for value in params.values())
