"""The Merkle Tree Hash of RFC 6962 section 2.1, with inclusion and consistency proofs.

Notation as in the RFC: ``D[n]`` is the list of n leaves, ``D[k1:k2]`` the leaves k1..k2-1,
``||`` concatenation, ``k`` the largest power of two smaller than n. Functions here take leaf
*hashes* (``leaf_hash(d)`` for each leaf d) so a tree over a large ledger is hashed once.

    MTH({})      = SHA-256()
    MTH({d(0)})  = SHA-256(0x00 || d(0))                          (a leaf)
    MTH(D[n])    = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))    (a node, n > 1)

The prefixes 0x00 and 0x01 keep a leaf from ever being taken for a node (second preimages).
Proof generation follows RFC 6962 sections 2.1.1 (PATH) and 2.1.2 (PROOF, SUBPROOF); proof
verification follows the algorithms that RFC 9162 sections 2.1.3.2 and 2.1.4.2 spell out for
the same proofs. Standard library only: nothing here knows about ledgers or events.
"""

from __future__ import annotations

import hashlib
from typing import Sequence

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"


def leaf_hash(leaf: bytes) -> bytes:
    """SHA-256(0x00 || leaf)."""
    return hashlib.sha256(LEAF_PREFIX + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """k: the largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) from the n leaf hashes."""
    n = len(hashes)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashes[0]
    k = _split(n)
    return node_hash(root(hashes[:k]), root(hashes[k:]))


def inclusion_path(m: int, hashes: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 6962 section 2.1.1: the audit path of leaf m, leaf to root."""
    n = len(hashes)
    if not 0 <= m < n:
        raise ValueError(f"leaf {m} is not in a tree of {n} leaves")
    if n == 1:
        return []
    k = _split(n)
    if m < k:
        return [*inclusion_path(m, hashes[:k]), root(hashes[k:])]
    return [*inclusion_path(m - k, hashes[k:]), root(hashes[:k])]


def consistency_proof(m: int, hashes: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 6962 section 2.1.2: that the first m leaves are a prefix of all n."""
    n = len(hashes)
    if not 0 <= m <= n:
        raise ValueError(f"a tree of {n} leaves has no prefix of {m}")
    if m == 0 or m == n:
        return []
    return _subproof(m, hashes, True)


def _subproof(m: int, hashes: Sequence[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b); b says whether D[0:m] is the tree the proof starts from."""
    n = len(hashes)
    if m == n:
        return [] if b else [root(hashes)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, hashes[:k], b), root(hashes[k:])]
    return [*_subproof(m - k, hashes[k:], False), root(hashes[:k])]


def verify_inclusion(leaf_digest: bytes, index: int, tree_size: int, path: Sequence[bytes], expected_root: bytes) -> bool:
    """Whether ``path`` proves leaf hash ``leaf_digest`` at ``index`` in the tree with ``expected_root``
    (RFC 9162 section 2.1.3.2)."""
    if not 0 <= index < tree_size:
        return False
    fn, sn = index, tree_size - 1
    r = leaf_digest
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == expected_root


def verify_consistency(first_size: int, second_size: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]) -> bool:
    """Whether ``proof`` shows the tree of ``first_size`` leaves is a prefix of the one of
    ``second_size`` (RFC 9162 section 2.1.4.2)."""
    if not 0 <= first_size <= second_size:
        return False
    if first_size == second_size:
        return not proof and first_root == second_root
    if first_size == 0:
        return not proof  # the empty tree is a prefix of every tree
    path = list(proof)
    if first_size & (first_size - 1) == 0:  # an exact power of two: the old root is a node of the new tree
        path.insert(0, first_root)
    if not path:
        return False
    fn, sn = first_size - 1, second_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == first_root and sr == second_root
