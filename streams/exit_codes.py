"""Exit codes of ``swerve worker``, so an orchestrator and its alerts can tell causes apart.

The numbers follow BSD ``sysexits.h`` where one fits, so they do not collide with a signal
(128 + n) or with Python's own 1 (uncaught exception) and 2 (bad command line).

======  ========================  ========================================================
code    name                      meaning
======  ========================  ========================================================
0       OK                        stopped on SIGTERM or Ctrl-C, acknowledged work committed
69      DEPENDENCY_UNAVAILABLE    a dependency (image store, broker) stayed unavailable
                                  past its retry budget; the input in hand is not committed
69      BROKER_UNAVAILABLE        the broker could not be reached at start-up, or stayed
                                  unreachable longer than ``SWERVE_WORKER_BROKER_DOWN_EXIT_S``
70      UNFORESEEN                an unforeseen error in a batch or in the broker watch;
                                  halted without committing
75      STOPPED_MID_BATCH         stopped with inputs in hand; they will be consumed again
75      TOPICS_LOST               the broker came back without swerve's topics (it restarted
                                  empty): a fresh start recreates them and reads them from
                                  their start
78      CONFIGURATION             a setting, policy or model path is wrong: fix and restart
78      TOPICS_MISSING            swerve's topics are missing and the worker may not create
                                  them (``SWERVE_WORKER_CREATE_TOPICS=false``)
======  ========================  ========================================================

Codes that share a number share the operator's remedy. This module is a plain list of
constants: no imports, no logic.
"""

OK = 0
DEPENDENCY_UNAVAILABLE = 69  # sysexits EX_UNAVAILABLE
BROKER_UNAVAILABLE = 69  # sysexits EX_UNAVAILABLE: a service the worker needs is down
UNFORESEEN = 70  # sysexits EX_SOFTWARE
STOPPED_MID_BATCH = 75  # sysexits EX_TEMPFAIL: a restart resumes the work
TOPICS_LOST = 75  # sysexits EX_TEMPFAIL: a restart recreates the topics, with no offsets from before
CONFIGURATION = 78  # sysexits EX_CONFIG
TOPICS_MISSING = 78  # sysexits EX_CONFIG: the deployment must create the topics, or let the worker do it
