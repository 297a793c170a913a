"""Wen et al. (ICLR 2024): lower the text-conditional noise magnitude of the prompt embedding.

- ``algorithm``: the optimization of Eq. 3's magnitude on the prompt embedding;
- ``corrector``: ``PromptMitigationCorrector``, the method as a swerve corrector.
"""
