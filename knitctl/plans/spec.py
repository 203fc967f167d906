"""Plan files (docs/ARCHITECTURE.md#plan-files): strict YAML → a validated, normalised plan. Pure.

Every error names the file, the field path and what to do. An unknown key
suggests the closest valid one.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import posixpath
import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from .. import tags as tagrules
from ..controlchars import describe, escape, first_control
from ..errors import UsageError
from ..times import MAX_DURATION_MS, MAX_DURATION_YEARS

TOP_KEYS = (
    "image", "entrypoint", "args", "env", "inputs", "outputs", "log", "active",
    "resources", "on_node", "service_account", "annotations", "timeout", "context", "cache",
)
MOUNT_KEYS = ("path", "tags")
LOG_KEYS = ("tags",)
RESOURCE_KEYS = ("cpu", "memory", "gpu", "nvidia.com/gpu")
# Kubernetes' other container resources without a domain; any DOMAIN/NAME is an extended resource
STANDARD_KUBE_RESOURCES = ("ephemeral-storage",)
HUGEPAGES_PREFIX = "hugepages-"
RESOURCE_NAMES_HINT = ("cpu, memory, gpu, ephemeral-storage, hugepages-<size> (e.g. hugepages-2Mi) or an extended "
                       "resource DOMAIN/NAME (e.g. amd.com/gpu)")
ON_NODE_KEYS = ("may", "prefer", "must")
PIN_KEYS = (tagrules.KEY_ID, tagrules.KEY_TIMESTAMP, tagrules.KEY_BAD)  # knit#bad: the input takes marked data

_IMAGE_RE = re.compile(
    r"^(?P<name>[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+(?=/))?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)
_ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LABEL_KEY_RE = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
MAX_PLAN_BYTES = 1 << 20
MAX_CPU = 100_000
MAX_MEMORY = 1 << 60
MAX_GPU = 1024
MAX_EXTENDED = 1 << 60          # a count or bytes; Kubernetes keeps quantities in 64 bits
_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_SUBDOMAIN_RE = re.compile(rf"^{_DNS_LABEL}(\.{_DNS_LABEL})*$")
_QUALIFIED_NAME_RE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
# a Kubernetes quantity: a number, then a binary or decimal SI suffix or a decimal exponent
_KUBE_QTY_RE = re.compile(r"^(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+))"
                          r"(?:(?P<exp>[eE][+-]?\d+)|(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E))?$")
_KUBE_SUFFIX = {"Ki": Fraction(2**10), "Mi": Fraction(2**20), "Gi": Fraction(2**30), "Ti": Fraction(2**40),
                "Pi": Fraction(2**50), "Ei": Fraction(2**60), "m": Fraction(1, 1000), "k": Fraction(10**3),
                "M": Fraction(10**6), "G": Fraction(10**9), "T": Fraction(10**12), "P": Fraction(10**15),
                "E": Fraction(10**18)}
_QTY_RE = re.compile(r"^(\d+(?:\.\d+)?)([a-zA-Z]*)$")
_MEM_UNITS = {"": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
              "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


@dataclass(frozen=True)
class Mount:
    path: str
    tags: tuple[str, ...]           # sorted 'key:value' strings


@dataclass(frozen=True)
class Resources:
    cpu: float | None = None        # cores
    memory: int | None = None       # bytes
    gpu: int | tuple[str, ...] | None = None   # a count or device ids
    # Kubernetes-only resources by name, sorted: extended ones (amd.com/gpu) as counts,
    # ephemeral-storage and hugepages-<size> as bytes
    extended: tuple[tuple[str, int], ...] = ()

    def to_dict(self) -> dict:
        d: dict[str, Any] = {}
        if self.cpu is not None:
            d["cpu"] = self.cpu
        if self.memory is not None:
            d["memory"] = self.memory
        if self.gpu is not None:
            d["gpu"] = list(self.gpu) if isinstance(self.gpu, tuple) else self.gpu
        d.update(self.extended)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Resources:
        gpu = d.get("gpu")
        extended = tuple(sorted((k, v) for k, v in d.items() if k not in ("cpu", "memory", "gpu")))
        return cls(d.get("cpu"), d.get("memory"), tuple(gpu) if isinstance(gpu, list) else gpu, extended)

    def kubernetes_only(self) -> tuple[str, ...]:
        """The names a Docker host can't give a container (every one but cpu, memory and gpu)."""
        return tuple(name for name, _ in self.extended)


@dataclass(frozen=True)
class PlanSpec:
    image: str
    inputs: tuple[Mount, ...]
    outputs: tuple[Mount, ...] = ()
    log: tuple[str, ...] | None = None            # log tags, or None for no log datum
    entrypoint: tuple[str, ...] | None = None
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    active: bool = True
    resources: Resources = field(default_factory=Resources)
    on_node: dict[str, tuple[str, ...]] = field(default_factory=dict)
    service_account: str | None = None
    annotations: tuple[str, ...] = ()
    timeout: float | None = None                  # seconds
    context: str | None = None                    # pinned context; else the current one when a run is made
    cache: bool = False                           # reuse a done run's outputs for inputs of equal content (mutable)

    def identity(self) -> dict:
        """The fields that make two plans the same plan."""
        return {
            "image": self.image,
            "entrypoint": list(self.entrypoint) if self.entrypoint is not None else None,
            "args": list(self.args),
            "env": [list(e) for e in self.env],
            "inputs": [{"path": m.path, "tags": list(m.tags)} for m in self.inputs],
            "outputs": [{"path": m.path, "tags": list(m.tags)} for m in self.outputs],
            "log": list(self.log) if self.log is not None else None,
            "on_node": {k: list(v) for k, v in sorted(self.on_node.items()) if v},
            "timeout": self.timeout,
        }

    @property
    def hash(self) -> str:
        blob = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()

    def to_dict(self) -> dict:
        d = self.identity()
        d.update(
            active=self.active,
            resources=self.resources.to_dict(),
            service_account=self.service_account,
            annotations=list(self.annotations),
            context=self.context,
            cache=self.cache,
        )
        return d

    @classmethod
    def from_dict(cls, d: dict) -> PlanSpec:
        return cls(
            image=d["image"],
            inputs=tuple(Mount(m["path"], tuple(m["tags"])) for m in d["inputs"]),
            outputs=tuple(Mount(m["path"], tuple(m["tags"])) for m in d["outputs"]),
            log=tuple(d["log"]) if d.get("log") is not None else None,
            entrypoint=tuple(d["entrypoint"]) if d.get("entrypoint") is not None else None,
            args=tuple(d.get("args") or ()),
            env=tuple((k, v) for k, v in d.get("env") or ()),
            active=d.get("active", True),
            resources=Resources.from_dict(d.get("resources") or {}),
            on_node={k: tuple(v) for k, v in (d.get("on_node") or {}).items()},
            service_account=d.get("service_account"),
            annotations=tuple(d.get("annotations") or ()),
            timeout=d.get("timeout"),
            context=d.get("context"),
            cache=bool(d.get("cache", False)),
        )


class PlanError(UsageError):
    pass


class _Ctx:
    def __init__(self, source: str):
        self.source = source

    def fail(self, where: str, what: str) -> PlanError:
        return PlanError(f"{self.source}: {where}: {what}" if where else f"{self.source}: {what}")


def _unknown_keys(ctx: _Ctx, where: str, mapping: dict, allowed: tuple[str, ...]) -> None:
    for key in mapping:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.5)
            hint = f"; did you mean `{close[0]}`?" if close else f"; valid keys are {', '.join(allowed)}"
            raise ctx.fail(f"{where}.{key}" if where else str(key), f"unknown key{hint}")


def _mapping(ctx: _Ctx, where: str, value: Any) -> dict:
    if not isinstance(value, dict):
        raise ctx.fail(where, f"must be a mapping (key: value lines), not {_kind(value)}")
    return value


def _list(ctx: _Ctx, where: str, value: Any) -> list:
    if not isinstance(value, list):
        raise ctx.fail(where, f"must be a list (lines starting with '- '), not {_kind(value)}")
    return value


def _string(ctx: _Ctx, where: str, value: Any, *, scalar_ok: bool = False) -> str:
    if isinstance(value, str):
        return value
    if scalar_ok and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise ctx.fail(where, f"must be a string, not {_kind(value)}")


def _kind(v: Any) -> str:
    if v is None:
        return "empty"
    return {dict: "a mapping", list: "a list", bool: "a boolean", int: "a number", float: "a number", str: "a string"}.get(type(v), type(v).__name__)


def _path(ctx: _Ctx, where: str, value: Any) -> str:
    s = _string(ctx, where, value)
    if not s.startswith("/"):
        raise ctx.fail(where, f"{s!r} is not an absolute path; write it like /in/data")
    if ".." in s.split("/"):
        raise ctx.fail(where, f"{s!r} contains '..'; write the path without it")
    norm = posixpath.normpath(s)
    if norm.startswith("//"):
        norm = "/" + norm.lstrip("/")
    if norm == "/":
        raise ctx.fail(where, "'/' can't be a mount path; use a directory such as /in/data")
    return norm


def _tags(ctx: _Ctx, where: str, value: Any, *, pins: bool, at_least_one: bool) -> tuple[str, ...]:
    items = _list(ctx, where, value)
    if at_least_one and not items:
        raise ctx.fail(where, "needs at least one tag (key:value) to choose the data")
    out: set[str] = set()
    for i, item in enumerate(items):
        w = f"{where}[{i}]"
        tag = tagrules.parse(_string(ctx, w, item, scalar_ok=False), where=f"{ctx.source}: {w}")
        if tag.reserved:
            if not pins:
                raise ctx.fail(w, f"{tag} uses the reserved prefix knit#; outputs and logs can't carry system tags")
            if tag.key not in PIN_KEYS:
                raise ctx.fail(w, f"{tag}: inputs may pin only knit#id or knit#timestamp (or ask for data marked bad with knit#bad)")
            if tag.key == tagrules.KEY_TIMESTAMP:
                ms = tagrules.parse_time(tag.value, where=f"{ctx.source}: {w}")
                tag = tagrules.Tag(tag.key, tagrules.format_time(ms))
        out.add(str(tag))
    pinned = [t for t in out if t.startswith(tagrules.KEY_ID + ":")]
    if len(pinned) > 1:
        raise ctx.fail(where, "pins more than one knit#id; a datum has exactly one id")
    ts = [t for t in out if t.startswith(tagrules.KEY_TIMESTAMP + ":")]
    if len(ts) > 1:
        raise ctx.fail(where, "pins more than one knit#timestamp; a datum has exactly one")
    if len([t for t in out if t.startswith(tagrules.KEY_BAD + ":")]) > 1:
        raise ctx.fail(where, "asks for more than one knit#bad mark; give one root id, or knit#bad:* for any mark")
    return tuple(sorted(out))


def _mounts(ctx: _Ctx, where: str, value: Any, *, inputs: bool) -> tuple[Mount, ...]:
    items = _list(ctx, where, value)
    if inputs and not items:
        raise ctx.fail(where, "needs at least one input (a path and the tags of the data to mount there)")
    out = []
    for i, item in enumerate(items):
        w = f"{where}[{i}]"
        m = _mapping(ctx, w, item)
        _unknown_keys(ctx, w, m, MOUNT_KEYS)
        if "path" not in m:
            raise ctx.fail(w, "missing `path` (where to mount it in the container, e.g. /in/data)")
        if "tags" not in m:
            raise ctx.fail(w, "missing `tags` (a list of key:value)" if inputs else "missing `tags` (write `tags: []` for none)")
        out.append(Mount(_path(ctx, f"{w}.path", m["path"]), _tags(ctx, f"{w}.tags", m["tags"], pins=inputs, at_least_one=inputs)))
    return tuple(out)


def _float(n: int | float) -> float:
    """A YAML number as a float; an integer too large for one is infinite (and so out of every range)."""
    try:
        return float(n)
    except OverflowError:
        return math.inf if n > 0 else -math.inf


def _quantity_cpu(ctx: _Ctx, where: str, value: Any) -> float:
    if isinstance(value, bool):
        raise ctx.fail(where, "must be a number of cores (e.g. 2, 0.5 or 500m)")
    if isinstance(value, (int, float)):
        cores = _float(value)
    else:
        s = _string(ctx, where, value).strip()
        m = _QTY_RE.match(s)
        if not m or m.group(2) not in ("", "m"):
            raise ctx.fail(where, f"{s!r} is not a CPU quantity; write cores (2, 0.5) or millicores (500m)")
        cores = float(m.group(1)) / (1000 if m.group(2) == "m" else 1)
    if not 0 < cores <= MAX_CPU:  # NaN too
        raise ctx.fail(where, f"must be more than 0 and at most {MAX_CPU:,} cores")
    return cores


def parse_memory(text: Any, *, where: str = "memory") -> int:
    s = str(text).strip()
    m = _QTY_RE.match(s)
    if isinstance(text, bool) or not m or m.group(2) not in _MEM_UNITS:
        raise UsageError(f"{where}: {s!r} is not a memory quantity; write it like 512Mi, 2Gi or 1G")
    n = float(m.group(1)) * _MEM_UNITS[m.group(2)]
    if not n <= MAX_MEMORY:  # also a number of 400 digits, infinite as a float
        raise UsageError(f"{where}: {s[:30]!r} is more than any machine has (at most {MAX_MEMORY >> 50} PiB)")
    if int(n) <= 0:
        raise UsageError(f"{where}: must be more than 0 bytes")
    return int(n)


def _gpu(ctx: _Ctx, where: str, value: Any) -> int | tuple[str, ...]:
    if isinstance(value, bool):
        raise ctx.fail(where, "must be a count (gpu: 2) or a list of device ids (gpu: [0, 3])")
    if isinstance(value, int):
        if value < 1:
            raise ctx.fail(where, "must be at least 1; leave `gpu` out for none")
        if value > MAX_GPU:
            raise ctx.fail(where, f"asks for more than {MAX_GPU:,} GPUs; give the count a run needs")
        return value
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 20:
        return _gpu(ctx, where, int(value.strip()))
    if isinstance(value, list) and value:
        ids = []
        for i, v in enumerate(value):
            if isinstance(v, bool) or not isinstance(v, (int, str)) or str(v).strip() == "":
                raise ctx.fail(f"{where}[{i}]", "must be a device index (0) or id (GPU-xxxx)")
            ids.append(str(v).strip())
        if len(set(ids)) != len(ids):
            raise ctx.fail(where, "lists a device twice")
        return tuple(ids)
    raise ctx.fail(where, "must be a count (gpu: 2) or a list of device ids (gpu: [0, 3])")


def kube_quantity(value: Any) -> Fraction | None:
    """A Kubernetes quantity (`2`, `1.5`, `500m`, `2Gi`, `1e3`) as an exact number; None when it is not one. Pure."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        return Fraction(repr(value)) if math.isfinite(value) else None
    if not isinstance(value, str):
        return None
    m = _KUBE_QTY_RE.match(value.strip())
    if not m:
        return None
    n = Fraction(m.group("num"))
    if m.group("exp"):
        exp = int(m.group("exp")[1:])
        if abs(exp) > 30:  # further out than any resource; and 1e999999999 would take long to expand
            return None
        return n * Fraction(10) ** exp
    return n * _KUBE_SUFFIX[m.group("suffix")] if m.group("suffix") else n


def resource_kind(name: str) -> str | None:
    """What a container resource name holds: 'cpu', 'memory', 'gpu' (`gpu` or `nvidia.com/gpu`: Docker's device
    requests too), 'bytes' (ephemeral-storage, hugepages-<size>) or 'count' (an extended resource DOMAIN/NAME);
    None for a name Kubernetes would refuse (`resource_name_problem` says why). Pure."""
    return None if resource_name_problem(name) else _kind_of(name)


def _kind_of(name: str) -> str:
    if name in ("cpu", "memory", "gpu"):
        return name
    if name == "nvidia.com/gpu":
        return "gpu"
    return "count" if "/" in name else "bytes"


def resource_name_problem(name: str) -> str | None:
    """Why Kubernetes would refuse `name` as a container's resource (as its API server validates one), or None."""
    if "/" not in name:
        if name in ("cpu", "memory", "gpu") or name in STANDARD_KUBE_RESOURCES:
            return None
        if name.startswith(HUGEPAGES_PREFIX):
            size = kube_quantity(name[len(HUGEPAGES_PREFIX):])
            return None if size is not None and size > 0 else f"{name!r} needs a page size after {HUGEPAGES_PREFIX}, e.g. hugepages-2Mi"
        return f"{name!r} is not a resource; use {RESOURCE_NAMES_HINT}"
    prefix, _, local = name.partition("/")
    if "/" in local:
        return f"{name!r} is not a resource name: write DOMAIN/NAME with one '/', e.g. amd.com/gpu"
    if not prefix or len(prefix) > 253 - len("requests.") or not _DNS_SUBDOMAIN_RE.match(prefix):
        return (f"{name!r}: {prefix!r} is not a domain (lower-case letters, digits, '-' and '.', "
                "at most 244 characters); write DOMAIN/NAME, e.g. amd.com/gpu")
    if len(local) > 63 or not _QUALIFIED_NAME_RE.match(local):
        return (f"{name!r}: {local!r} is not a resource name (letters, digits, '-', '_' and '.', starting and ending "
                "with a letter or digit, at most 63 characters)")
    if prefix == "kubernetes.io" or prefix.endswith(".kubernetes.io"):
        return f"{name!r}: the kubernetes.io domain is reserved for Kubernetes' own resources; use your device plugin's name"
    if prefix.startswith("requests."):
        return f"{name!r}: names starting with requests. are quota names, not a container's resources"
    return None


def _kube_amount(ctx: _Ctx, where: str, value: Any, kind: str) -> int:
    q = kube_quantity(value)
    if kind == "count":
        if q is None or q.denominator != 1:
            raise ctx.fail(where, f"{value!r} is not a whole number; extended resources are counted in units (e.g. 1 or 2)")
        if q < 1:
            raise ctx.fail(where, "must be at least 1; leave it out for none")
    else:
        if q is None:
            raise ctx.fail(where, f"{value!r} is not a quantity; write bytes or a size like 10Gi or 500M")
        if q <= 0:
            raise ctx.fail(where, "must be more than 0 bytes")
    if q > MAX_EXTENDED:
        raise ctx.fail(where, f"is more than Kubernetes can count (at most {MAX_EXTENDED:,})")
    return math.ceil(q)


def parse_resources(ctx_source: str, where: str, value: Any) -> Resources:
    ctx = _Ctx(ctx_source)
    m = _mapping(ctx, where, value)
    for key in m:
        name = str(key)
        problem = resource_name_problem(name)
        if problem is None:
            continue
        if "/" not in name and not name.startswith(HUGEPAGES_PREFIX):  # a typo of a standard name, most likely
            standard = (*RESOURCE_KEYS[:3], *STANDARD_KUBE_RESOURCES)
            close = difflib.get_close_matches(name, standard, n=1, cutoff=0.5)
            hint = f"; did you mean `{close[0]}`?" if close else f"; valid keys are {RESOURCE_NAMES_HINT}"
            raise ctx.fail(f"{where}.{name}", f"unknown key{hint}")
        raise ctx.fail(f"{where}.{name}", problem)
    if "gpu" in m and "nvidia.com/gpu" in m:
        raise ctx.fail(where, "gives both `gpu` and its alias `nvidia.com/gpu`; keep one")
    cpu = _quantity_cpu(ctx, f"{where}.cpu", m["cpu"]) if m.get("cpu") is not None else None
    mem = None
    if m.get("memory") is not None:
        try:
            mem = parse_memory(m["memory"], where=f"{ctx_source}: {where}.memory")
        except UsageError as e:
            raise PlanError(e.message) from None
    g = m.get("gpu", m.get("nvidia.com/gpu"))
    gkey = "gpu" if "gpu" in m else "nvidia.com/gpu"
    gpu = _gpu(ctx, f"{where}.{gkey}", g) if g is not None else None
    extended = []
    for name, amount in m.items():
        kind = _kind_of(str(name))
        if kind in ("count", "bytes") and amount is not None:
            extended.append((str(name), _kube_amount(ctx, f"{where}.{name}", amount, kind)))
    return Resources(cpu, mem, gpu, tuple(sorted(extended)))


def _timeout(ctx: _Ctx, where: str, value: Any) -> float:
    if isinstance(value, bool):
        raise ctx.fail(where, "must be a duration like 30m, 2h or a number of seconds")
    if isinstance(value, (int, float)):
        secs = _float(value)
    else:
        from ..times import parse_duration

        try:
            secs = parse_duration(_string(ctx, where, value), where=f"{ctx.source}: {where}") / 1000
        except UsageError as e:
            raise PlanError(e.message) from None
    if math.isnan(secs) or math.isinf(secs):
        raise ctx.fail(where, f"must be a finite duration like 30m or 2h, not {value!r}")
    if secs <= 0:
        raise ctx.fail(where, "must be longer than 0")
    if secs > MAX_DURATION_MS / 1000:
        raise ctx.fail(where, f"is longer than {MAX_DURATION_YEARS:,} years; give a shorter duration")
    return secs


def _printable(ctx: _Ctx, where: str, s: str) -> str:
    """Text that is shown back to people (annotations, labels, names) holds no control characters."""
    bad = first_control(s)
    if bad is not None:
        raise ctx.fail(where, f"'{escape(s)}' contains the control character {describe(bad)}; remove it")
    return s


def _kv_list(ctx: _Ctx, where: str, value: Any, *, label_keys: bool) -> tuple[str, ...]:
    out = []
    for i, item in enumerate(_list(ctx, where, value)):
        w = f"{where}[{i}]"
        s = _printable(ctx, w, _string(ctx, w, item))
        if "=" not in s:
            raise ctx.fail(w, f"{s!r} is not key=value")
        k, v = s.split("=", 1)
        k = k.strip()
        if not k:
            raise ctx.fail(w, f"{s!r} has an empty key")
        if label_keys and not _LABEL_KEY_RE.match(k):
            raise ctx.fail(w, f"{k!r} is not a valid node label key")
        out.append(f"{k}={v.strip()}")
    return tuple(out)


def _service_account(ctx: _Ctx, where: str, text: str) -> str | None:
    name = _printable(ctx, where, text).strip()
    if name and (len(name) > 253 or not _DNS_SUBDOMAIN_RE.match(name)):
        raise ctx.fail(where, f"{name!r} is not a Kubernetes service account name "
                              "(lower-case letters, digits, '-' and '.', at most 253 characters)")
    return name or None


def parse_service_account(text: str, *, where: str = "service account") -> str:
    """A service account's name as Kubernetes accepts it (a DNS subdomain); UsageError otherwise."""
    name = _service_account(_Ctx(where), "", text)
    if name is None:
        raise PlanError(f"{where}: is empty; give a service account's name, or --unset to run with the namespace's default")
    return name


def parse_annotation(text: str, *, where: str = "annotation") -> str:
    return _kv_list(_Ctx(where), "", [text], label_keys=False)[0]


def parse_plan(text: str, source: str = "<plan>") -> PlanSpec:
    """Parse and validate a plan file's text."""
    from .. import safeyaml  # yaml only where a plan file is read: listings start without it

    ctx = _Ctx(source)
    try:
        doc = safeyaml.load(text, source)
    except safeyaml.YamlError as e:
        raise PlanError(e.message) from None
    if doc is None:
        raise ctx.fail("", "is empty; `knitctl plan template` prints a starting point")
    m = _mapping(ctx, "", doc) if isinstance(doc, dict) else None
    if m is None:
        raise ctx.fail("", "must be a mapping with image, inputs, outputs, ...")
    _unknown_keys(ctx, "", m, TOP_KEYS)
    if "image" not in m or m["image"] in (None, ""):
        raise ctx.fail("image", "is required: the container image to run, e.g. python:3.11-slim")
    image = _string(ctx, "image", m["image"]).strip()
    im = _IMAGE_RE.match(image)
    if not im:
        raise ctx.fail("image", f"{image!r} is not an image reference; write name:tag or name@sha256:<digest>")
    if not im.group("tag") and not im.group("digest"):
        raise ctx.fail("image", f"{image!r} has no tag; write {image}:<tag> (e.g. :1.0) so runs are reproducible")
    if "inputs" not in m:
        raise ctx.fail("inputs", "is required: at least one input (path and tags)")
    inputs = _mounts(ctx, "inputs", m["inputs"], inputs=True)
    outputs = _mounts(ctx, "outputs", m.get("outputs") or [], inputs=False)
    log = None
    if m.get("log") is not None:
        lm = _mapping(ctx, "log", m["log"])
        _unknown_keys(ctx, "log", lm, LOG_KEYS)
        log = _tags(ctx, "log.tags", lm.get("tags") or [], pins=False, at_least_one=False)
    mounts = [("inputs", i, mt) for i, mt in enumerate(inputs)] + [("outputs", i, mt) for i, mt in enumerate(outputs)]
    for a in range(len(mounts)):
        for b in range(a + 1, len(mounts)):
            (ga, ia, ma), (gb, ib, mb) = mounts[a], mounts[b]
            if ma.path == mb.path:
                raise ctx.fail(f"{gb}[{ib}].path", f"{mb.path} is also {ga}[{ia}].path; every mount needs its own path")
            for (g1, i1, m1), (g2, i2, m2) in (((ga, ia, ma), (gb, ib, mb)), ((gb, ib, mb), (ga, ia, ma))):
                if m2.path.startswith(m1.path + "/"):
                    raise ctx.fail(f"{g2}[{i2}].path", f"{m2.path} is inside {g1}[{i1}].path {m1.path}; mounts can't nest")
    entrypoint = None
    if m.get("entrypoint") is not None:
        ep = m["entrypoint"]
        entrypoint = (_string(ctx, "entrypoint", ep),) if isinstance(ep, str) else tuple(
            _string(ctx, f"entrypoint[{i}]", x, scalar_ok=True) for i, x in enumerate(_list(ctx, "entrypoint", ep))
        )
    args: tuple[str, ...] = ()
    if m.get("args") is not None:
        a = m["args"]
        args = (_string(ctx, "args", a),) if isinstance(a, str) else tuple(
            _string(ctx, f"args[{i}]", x, scalar_ok=True) for i, x in enumerate(_list(ctx, "args", a))
        )
    env: list[tuple[str, str]] = []
    if m.get("env") is not None:
        for k, v in _mapping(ctx, "env", m["env"]).items():
            if not isinstance(k, str) or not _ENV_RE.match(k):
                raise ctx.fail(f"env.{k}", "is not a valid variable name (letters, digits, _; not starting with a digit)")
            if k.startswith("KNIT_"):
                raise ctx.fail(f"env.{k}", "KNIT_* variables are set by knit itself; choose another name")
            if isinstance(v, bool) or v is None:
                raise ctx.fail(f"env.{k}", "must be a string or a number (quote true/false: \"true\")")
            env.append((k, _string(ctx, f"env.{k}", v, scalar_ok=True)))
    active = m.get("active", True)
    if not isinstance(active, bool):
        raise ctx.fail("active", "must be true or false")
    cache = m.get("cache", False)
    if not isinstance(cache, bool):
        raise ctx.fail("cache", "must be true or false (true: reuse a done run's outputs when the inputs' content is the same)")
    resources = parse_resources(source, "resources", m["resources"]) if m.get("resources") is not None else Resources()
    on_node: dict[str, tuple[str, ...]] = {}
    if m.get("on_node") is not None:
        om = _mapping(ctx, "on_node", m["on_node"])
        _unknown_keys(ctx, "on_node", om, ON_NODE_KEYS)
        for k in ON_NODE_KEYS:
            if om.get(k) is not None:
                on_node[k] = tuple(sorted(set(_kv_list(ctx, f"on_node.{k}", om[k], label_keys=True))))
    sa = None
    if m.get("service_account") is not None:
        sa = _service_account(ctx, "service_account", _string(ctx, "service_account", m["service_account"]))
    annotations = tuple(sorted(set(_kv_list(ctx, "annotations", m["annotations"], label_keys=False)))) if m.get("annotations") is not None else ()
    timeout = _timeout(ctx, "timeout", m["timeout"]) if m.get("timeout") is not None else None
    context = _printable(ctx, "context", _string(ctx, "context", m["context"])).strip() or None if m.get("context") is not None else None
    return PlanSpec(
        image=image,
        inputs=tuple(sorted(inputs, key=lambda x: x.path)),
        outputs=tuple(sorted(outputs, key=lambda x: x.path)),
        log=log,
        entrypoint=entrypoint,
        args=args,
        env=tuple(sorted(env)),
        active=active,
        resources=resources,
        on_node=on_node,
        service_account=sa,
        annotations=annotations,
        timeout=timeout,
        context=context,
        cache=cache,
    )


def load_plan(path: str) -> PlanSpec:
    """A plan file: only a regular file of at most MAX_PLAN_BYTES is read (never a FIFO or /dev/zero)."""
    from ..safeyaml import read_text

    text = read_text(path, max_bytes=MAX_PLAN_BYTES, what="plan file", hint="`knitctl plan template > plan.yaml` makes one")
    return parse_plan(text, path)


TEMPLATE = """\
# A knit plan: run IMAGE whenever data with the input tags exist.
# Reference: README.md "Plan file". Unknown keys are errors.
image: "python:3.11-slim"          # required: name:tag or name@sha256:...
entrypoint: ["python", "/in/code/train.py"]   # optional; the image's own otherwise
args: ["--epochs", "3"]            # optional
env:                               # optional; KNIT_RUN_ID and KNIT_PLAN_ID are set by knit
  SEED: "42"
inputs:                            # at least one; a datum fits when it has every tag
  - path: /in/data                 # mounted read-only here
    tags:
      - "project:demo"
      - "type:dataset"
  - path: /in/code
    tags:
      - "project:demo"
      - "type:code"
outputs:                           # each becomes one datum with these tags
  - path: /out/model
    tags:
      - "project:demo"
      - "type:model"
log:                               # optional: keep stdout/stderr as a datum
  tags:
    - "project:demo"
    - "type:log"
active: true                       # false: runs wait as 'deactivated'
resources:                         # optional
  cpu: 1                           # cores (or 500m)
  memory: 1Gi
  # gpu: 1                         # a count, or device ids: [0, 3]
# on_node: {may: [], prefer: [], must: []}   # Kubernetes node labels key=value
# service_account: default                   # Kubernetes
# annotations: ["owner=me"]
# timeout: 2h
# context: team-gpu                          # always run on this context
# cache: true                                # reuse a done run's outputs when the inputs' content is the same
"""

SCRATCH_TEMPLATE = """\
image: ""
inputs:
  - path: /in
    tags: []
outputs:
  - path: /out
    tags: []
"""
