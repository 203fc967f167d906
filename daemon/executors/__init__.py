"""Executors: the only code that talks to Docker or Kubernetes."""

from .base import Executor, ExecutorError, Handle, Job, Outcome

__all__ = ["Executor", "ExecutorError", "Handle", "Job", "Outcome"]
