"""swerve.correctors: regenerate a flagged output, steered away from the problem.

Nothing is imported here, so ``swerve.correctors.protocol`` stays light for the stream; the
registry imports a method's module only when a policy names its kind. The modules::

    protocol, adaptive_loop, registry, testing   the contract, the escalation loop, kinds, a test double
    generator                                    the one backend that loads and runs the pipeline
    findings                                     the evidence keys correctors read ("concepts", "matched_images")
    nudging, nudging_corrector                   embedding nudging (seed paper, Eq. 2)       kind "nudging"
    gie, gie_erasure, gie_adapter, gie_labels,   growth inhibitors (GIE)                     kind "gie"
      gie_corrector
    prompt_mitigation                            Wen et al.'s prompt-embedding mitigation    kind "prompt_mitigation"
    negative_prompt, delayed_guidance, reseed    baselines                       kinds "baseline.<name>"

Correctors never import faust, aiokafka, swerve.detectors or swerve.streams, and never judge
their own output: the adaptive loop re-verifies every candidate with the detectors.
"""
