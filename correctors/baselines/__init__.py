"""The baselines correction methods are measured against: reseed, a negative prompt, delayed guidance.

Each module is one baseline corrector; none steers by the findings.
"""
