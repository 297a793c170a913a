"""RFC 6962 Merkle tree: the Certificate Transparency reference roots, and every proof of small trees."""

from __future__ import annotations

import pytest

from swerve.audit.merkle import (consistency_proof, inclusion_path, leaf_hash, root, verify_consistency,
                                 verify_inclusion)

# The test leaves and roots of the Certificate Transparency reference implementation (RFC 6962).
LEAVES = [bytes.fromhex(h) for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]]
ROOTS = ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
         "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
         "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
         "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
         "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
         "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
         "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
         "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"]
HASHES = [leaf_hash(leaf) for leaf in LEAVES]


def test_given_the_reference_leaves_then_every_root_matches_rfc6962_reference() -> None:
    assert root([]).hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert [root(HASHES[:n]).hex() for n in range(1, 9)] == ROOTS


@pytest.mark.parametrize("n", range(1, 20))
def test_given_any_tree_then_every_inclusion_path_verifies_and_a_wrong_leaf_does_not(n: int) -> None:
    hashes = [leaf_hash(bytes([i])) for i in range(n)]
    for m in range(n):
        path = inclusion_path(m, hashes)
        assert verify_inclusion(hashes[m], m, n, path, root(hashes))
        assert not verify_inclusion(leaf_hash(b"other"), m, n, path, root(hashes))
        assert not verify_inclusion(hashes[m], (m + 1) % n, n, path, root(hashes)) or n == 1


@pytest.mark.parametrize("n", range(1, 20))
def test_given_any_prefix_then_the_consistency_proof_verifies_and_a_rewritten_prefix_does_not(n: int) -> None:
    hashes = [leaf_hash(bytes([i])) for i in range(n)]
    for m in range(n + 1):
        proof = consistency_proof(m, hashes)
        assert verify_consistency(m, n, root(hashes[:m]), root(hashes), proof)
        if 0 < m < n:
            rewritten = [leaf_hash(b"x"), *hashes[1:m]]
            assert not verify_consistency(m, n, root(rewritten), root(hashes), proof)
