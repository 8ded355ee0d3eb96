"""The run: from a suite and its environments to ``trials.jsonl``, one module per job.

A run goes down these modules once, in this order:

- :mod:`vbench.run.lifecycle`: checks the environments (start and resume alike), provisions them, writes run.json,
  tears down; the one entry point (``run_suite``, ``resume_run``).
- :mod:`vbench.run.blocks`: the plan's blocks, each one workload entry over every environment, whole trials or
  paired slices, decided up front and recorded before the first trial.
- :mod:`vbench.run.session`: the rounds in the seed's order, resume skipping, storing, the stopping rule.
- :mod:`vbench.run.whole` and :mod:`vbench.run.sliced`: one executor per way of measuring, the same signature,
  each returning one :class:`~vbench.run.record.Measurement` per environment.
- :mod:`vbench.run.record`: the one pure function that turns a measurement into a :class:`~vbench.model.Trial`.
- :mod:`vbench.run.options`: the run's options and its progress protocol (imports nothing heavy: the CLI reads
  them before it checks its inputs).

This package's ``__init__`` imports nothing, so ``vbench.run.options`` costs no numpy.
"""
