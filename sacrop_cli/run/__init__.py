"""Runs of ``sacrop crop``: the job, the manifest record, naming, writers, local and Ray."""
