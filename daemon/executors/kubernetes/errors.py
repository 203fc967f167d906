"""Kubernetes API failures as one clear message each: `translate` is the one place they are read.

Every call the executor makes (REST or exec) that fails comes here with the verb and resource it
was, and leaves as an `ExecutorError` a person can act on: expired credentials, a missing
permission (and the Role that grants it), an unreachable cluster, a missing namespace, a refused
pod. `Unreachable` and `ApiError` let the executor tell a passing outage and a status apart.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from kubernetes.client.rest import ApiException
from kubernetes.config.config_exception import ConfigException

from ..base import ExecutorError


class Unreachable(ExecutorError):
    """The cluster could not be reached (maybe for a moment)."""


class ApiError(ExecutorError):
    """The API server answered with an error status."""

    def __init__(self, message: str, status: int | None):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Target:
    """Where the calls go, as the messages name it."""

    context: str      # the knit context
    server: str       # the API server's address
    namespace: str
    kubeconfig: str


def translate(e: Exception, verb: str, resource: str, where: Target) -> ExecutorError:
    """An API failure as one clear message (the run's message)."""
    status, body = status_of(e)
    detail = server_message(body) or (getattr(e, "reason", None) if isinstance(e, ApiException) else None) or str(e)
    if status == 401 or isinstance(e, ConfigException):
        return ExecutorError(
            f"the cluster of context {where.context} ({where.server}) rejected knit's credentials "
            f"(401 Unauthorized: {detail}); they have expired or are not valid — log in again or refresh "
            f"the kubeconfig ({where.kubeconfig}), then retry the run (`knitctl run retry ID`)"
        )
    if status == 403 and "service account" in detail.lower() and "not found" in detail.lower():
        return ExecutorError(
            f"the cluster of context {where.context} has no such service account in namespace {where.namespace} "
            f"({detail}); create it, or change the plan's `service_account`"
        )
    if status == 403:
        return ExecutorError(
            f"the cluster of context {where.context} forbids knit to {verb} {resource} in namespace "
            f"{where.namespace} (403 Forbidden: {detail}); ask a cluster admin to grant `{verb}` on "
            f"`{resource}` — packaging/kubernetes/ has the Role knit needs"
        )
    if status in (0, None):
        return Unreachable(
            f"can't reach the cluster of context {where.context} ({where.server}): {cause(e, detail)}; check the "
            "network or VPN, the kubeconfig's server address and that the cluster is up "
            f"(`knitctl doctor --context {where.context}`)"
        )
    if status == 404 and resource == "pods" and verb in ("create", "list"):
        return ApiError(f"the cluster of context {where.context} has no namespace {where.namespace} ({detail}); "
                        "create it (packaging/kubernetes/) or fix the context's namespace", status)
    if status == 422:
        return ApiError(f"the cluster of context {where.context} refused the pod: {detail}", status)
    return ApiError(f"the cluster of context {where.context} answered {status} to {verb} {resource}: {detail}", status)


def from_handshake(e: Exception) -> Exception:
    """An exec whose websocket handshake was refused carries the HTTP status and the server's body
    only in its reason text: the same failure as an ApiException `translate` reads like any other."""
    reason = str(getattr(e, "reason", None) or "")
    m = re.search(r"Handshake status (\d{3})", reason)
    if not m:
        return e
    out = ApiException(status=int(m.group(1)), reason=reason)
    out.body = _body_from_handshake(reason)
    return out


def status_of(e: Exception) -> tuple[int | None, str | None]:
    if isinstance(e, ApiException):
        return e.status, e.body
    return 0, None


def server_message(body: str | bytes | None) -> str | None:
    if not body:
        return None
    try:
        doc = json.loads(body)
    except (TypeError, ValueError):
        return None
    message = doc.get("message") if isinstance(doc, dict) else None
    return None if message is None else str(message)


def _body_from_handshake(reason: str) -> str | None:
    m = re.search(r"(\{.*\})", reason, re.S)
    if not m:
        return None
    text = m.group(1).replace("\\'", "'")
    for candidate in (text, text.encode().decode("unicode_escape", errors="ignore")):
        try:
            json.loads(candidate)
            return candidate
        except ValueError:
            continue
    return None


def cause(e: Exception, detail: str) -> str:
    """The root of a connection failure ('Connection refused', 'Name or service not known', a TLS error)."""
    text = str(getattr(e, "reason", None) or detail)
    m = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    if m:
        return m.group(1).strip()
    return short(text, 200)


def short(text: str, n: int = 300) -> str:
    """`text` on one line, cut to `n` characters (a server's message inside ours)."""
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"
