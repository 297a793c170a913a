"""GIE (Chen et al.): growth inhibitors in cross-attention erase a concept without fine-tuning.

- ``attention_processor``: the paper's Eqs. 6-8, the processor that injects the inhibitors;
- ``algorithm``: its Algorithm 1 on a generator (encode concepts, place inhibitors, sample);
- ``self_attention_copy``: the public code's self-attention copy, keeping the layout;
- ``scale_predictor``: the adapter that predicts the suppression scale (Sec. 4.2);
- ``scale_labels``: labels for training it, without GPT-4o;
- ``corrector``: ``GieCorrector``, the method as a swerve corrector.
"""
