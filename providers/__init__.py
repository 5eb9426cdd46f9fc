"""Snapshot providers: VM-level restore points on vSphere, Hyper-V, AWS, Azure and GCP.

This package knows nothing of Pexip. ``providers.base`` holds the contract,
``providers.registry`` finds implementations through the ``backup_agent.providers``
entry-point group. Each provider module imports its SDK itself, so importing this package
costs nothing.
"""
