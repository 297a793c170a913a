"""Embedding nudging (Zand & Nasr, the seed paper): steer a generation away from undesired images.

- ``algorithm``: their Eq. 2 on a latent, and the denoising-loop hook that applies it;
- ``corrector``: ``NudgingCorrector``, the adaptive system of their Figure 2.
"""
