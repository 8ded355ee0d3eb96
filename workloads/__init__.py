"""vbench workloads: stdlib-only modules that run unchanged natively, in a container and in a VM.

The contract of a workload module ``workloads/<kind>/<name>.py`` (addressed as ``"<kind>.<name>"``):

``PARAMS``
    dict of parameter name -> default value. The default's type is the parameter's type (``int``, ``float``,
    ``str``, ``bool``); sizes are strings such as ``"64M"`` parsed with :func:`workloads.units.parse_size`.
``RULES``
    dict of parameter name -> the rule its values keep (:mod:`workloads.rules`: ``Choice``, ``Number``, ``Size``,
    ``Flag``, ``Text``), one for every key of ``PARAMS``. The suite parser and the runner both check them.
``check_params(params)`` (optional)
    raises ValueError for what no single rule can say (fio's ``bs <= size``); called by both sides as well,
    with the defaults filled in.
``METRICS``
    dict of metric name -> ``(unit, higher_is_better)``. Every metric ``run`` returns must be declared here.
``PRIMARY``
    the metric the plan uses to decide when it has measured enough (may be overridden by ``run``'s result).
``run(params, workdir) -> dict``
    does the work in ``workdir`` (the storage under test) and returns
    ``{"metrics": {name: number}, "info": {...}}`` and optionally ``"primary"`` and ``"flags"`` (a list of
    strings marking the trial, e.g. ``"python-fallback"``). ``params`` arrive with defaults filled in and
    checked. Anything the workload prints goes to stderr; stdout belongs to the runner.
``available() -> str | None`` (optional)
    ``None`` when the workload can run here, else the reason it cannot.

The runner (``workloads/run.py``) wraps ``run`` with the guest-side accounting and prints one JSON line.
Nothing in this package may import anything outside the standard library at module level.
"""
