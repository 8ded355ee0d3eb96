"""Collectors: sample metrics in the background while a trial runs, summarised into the trial record.

A collector has ``start()``, ``attach(handle)`` (called by the environment once the trial's process exists) and
``stop() -> dict`` (the summary); its ``series`` are stored beside the trials.
"""
