"""Tiny random-weight models with Stable Diffusion 1.x's shapes, for tests that load a user's SD directory."""
