"""`gridwatch serve` as a real child process (launchers.backend, shared with the bench)."""

from launchers.backend import BOOTSTRAP, BackendProcess, running_backend

__all__ = ["BOOTSTRAP", "BackendProcess", "running_backend"]
