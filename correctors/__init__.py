"""swerve.correctors: regenerate a flagged output, steered away from the problem.

Nothing is imported here, so ``swerve.correctors.protocol`` stays light for the stream; the
registry imports a method's module only when a policy names its kind. The modules::

    protocol, adaptive_loop, registry, testing   the contract, the escalation loop, kinds, a test double
    generator                                    the one backend that loads and runs the pipeline
    findings                                     the evidence keys correctors read ("concepts", "matched_images")
    memory_pressure, attention_parts             GPU memory retries; what attention processors share
    nudging/                                     embedding nudging (seed paper, Eq. 2)       kind "nudging"
    gie/                                         growth inhibitors (GIE)                     kind "gie"
    prompt_mitigation/                           Wen et al.'s prompt-embedding mitigation    kind "prompt_mitigation"
    baselines/                                   reseed, negative prompt, delayed guidance   kinds "baseline.<name>"

Each method's subpackage holds ``algorithm`` (the paper's method, on tensors and a generator)
and ``corrector`` (the method behind the corrector protocol), and GIE its attention processor,
scale predictor and scale labels beside them.

Correctors never import faust, aiokafka, swerve.detectors or swerve.streams, and never judge
their own output: the adaptive loop re-verifies every candidate with the detectors.
"""
