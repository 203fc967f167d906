"""The Docker executor, over the `docker` SDK (honours DOCKER_HOST)."""

from __future__ import annotations

import os
import time

import docker
import requests
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.types import DeviceRequest, Mount

from .base import ExecutorError, Handle, Job, LogSink, Outcome

LABEL_RUN = "knit.run"
LABEL_PLAN = "knit.plan"
LABEL_HOME = "knit.home"
RECONNECT_SECONDS = 1.0

NVIDIA_HINT = (
    "this Docker host has no GPU container support; install the NVIDIA Container Toolkit "
    "(nvidia-container-toolkit) and run `nvidia-ctk runtime configure --runtime=docker`, "
    "then restart dockerd — or remove `gpu` from the plan's resources (`knitctl plan resource ID -u gpu`)"
)


def _split_image(image: str) -> tuple[str, str | None]:
    if "@" in image:
        name, digest = image.split("@", 1)
        return name, digest
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = image.rsplit(":", 1)
        return name, tag
    return image, "latest"


class DockerExecutor:
    name = "docker"

    def __init__(self, home_label: str, *, client: docker.DockerClient | None = None):
        self.home_label = home_label
        try:
            self.client = client or docker.from_env()
            self.client.ping()
        except DockerException as e:
            raise ExecutorError(
                f"can't reach Docker ({os.environ.get('DOCKER_HOST') or 'the local socket'}): {e}; "
                "start dockerd (or fix DOCKER_HOST) — `knitctl doctor` checks it"
            ) from None

    # -- start ------------------------------------------------------------------

    def ensure_image(self, image: str, log: LogSink):
        """The image (the SDK's Image), pulled first when it is not on the host."""
        try:
            return self.client.images.get(image)
        except ImageNotFound:
            pass
        log(f"knit: image {image} is not present; pulling it\n".encode())
        repo, tag = _split_image(image)
        try:
            for ev in self.client.api.pull(repo, tag=tag, stream=True, decode=True):
                status = ev.get("status", "")
                if ev.get("error"):
                    raise ExecutorError(f"image {image} can't be pulled: {ev['error']}")
                if status and "progress" not in ev:
                    log(f"knit: pull: {ev.get('id', '')} {status}\n".encode())
        except (APIError, requests.RequestException) as e:
            raise ExecutorError(
                f"image {image} is not on this host and can't be pulled ({_reason(e)}); "
                "load or build it (`docker load`, packaging/images/build.sh) or fix the plan's image"
            ) from None
        try:
            return self.client.images.get(image)
        except (ImageNotFound, APIError):
            return None

    def container_options(self, job: Job) -> dict:
        """How the job's container is made — image, command, user, env, mounts, resources — without its name
        and labels (`knitctl run verify` makes a container the same way, under other ones)."""
        mounts = [Mount(target=path, source=str(src), type="bind", read_only=True) for path, src in job.inputs]
        mounts += [Mount(target=path, source=str(src), type="bind", read_only=False) for path, src in job.outputs]
        kwargs: dict = {}
        if job.cpu:
            kwargs["nano_cpus"] = int(job.cpu * 1e9)
        if job.memory:
            kwargs["mem_limit"] = job.memory
            kwargs["memswap_limit"] = job.memory
        if job.gpu:
            if isinstance(job.gpu, int):
                kwargs["device_requests"] = [DeviceRequest(count=job.gpu, capabilities=[["gpu"]])]
            else:
                kwargs["device_requests"] = [DeviceRequest(device_ids=list(job.gpu), capabilities=[["gpu"]])]
        return dict(
            image=job.image,
            command=list(job.args) or None,
            entrypoint=list(job.entrypoint) if job.entrypoint is not None else None,
            user=f"{os.getuid()}:{os.getgid()}",
            environment=job.env,
            mounts=mounts,
            privileged=False,
            init=True,  # a tiny init as PID 1 passes SIGTERM on, so `run stop` ends tasks promptly
            detach=True,
            **kwargs,
        )

    def create(self, job: Job):
        try:
            return self.client.containers.create(
                name=f"knit-{job.run_id}",
                labels={LABEL_RUN: job.run_id, LABEL_PLAN: job.plan_id, LABEL_HOME: self.home_label},
                **self.container_options(job),
            )
        except APIError as e:
            if e.status_code == 409:  # a container of this run exists (a restart in between): use it
                return self.client.containers.get(f"knit-{job.run_id}")
            raise ExecutorError(f"Docker refused to create the container: {_reason(e)}") from None

    def start(self, job: Job, log: LogSink) -> Handle:
        refuse_kubernetes_only(job)
        image = self.ensure_image(job.image, log)
        container = self.create(job)
        try:
            container.start()
        except APIError as e:
            reason = _reason(e)
            if job.gpu and ("capabilities" in reason or "nvidia" in reason.lower() or "device driver" in reason):
                raise ExecutorError(f"the run asks for GPUs but {NVIDIA_HINT} (Docker said: {reason})") from None
            raise ExecutorError(f"Docker could not start the container: {reason}") from None
        image_id, repo_digest = self.resolved_image(container, image, job.image)
        return Handle(job.run_id, container.id, image_id=image_id, repo_digest=repo_digest)

    def resolved_image(self, container, image, name: str) -> tuple[str | None, str | None]:
        """The id of the image the container runs (what the tag named at its start) and, when the image
        came from a registry, its repo digest (`repo@sha256:...`, preferring the tag's repository)."""
        image_id = (container.attrs or {}).get("Image")
        if image is None or image.id != image_id:  # the tag moved between the look-up and the create
            try:
                image = self.client.images.get(image_id) if image_id else None
            except (ImageNotFound, APIError, requests.RequestException):
                image = None
        digests = list((image.attrs or {}).get("RepoDigests") or []) if image is not None else []
        repo = _split_image(name)[0]
        mine = [d for d in digests if d.split("@", 1)[0] == repo]
        return image_id or (image.id if image is not None else None), (mine or digests or [None])[0]

    # -- while it runs -------------------------------------------------------------

    def _container(self, handle: Handle):
        return self.client.containers.get(handle.ref)

    def follow_logs(self, handle: Handle, log: LogSink) -> None:
        try:
            for chunk in self._container(handle).logs(stream=True, follow=True, stdout=True, stderr=True):
                log(chunk)
        except (NotFound, APIError, requests.RequestException):
            return

    def wait(self, handle: Handle, timeout: float | None) -> Outcome | None:
        """The task's end; None once `timeout` seconds pass. A lost connection to
        dockerd is waited out (the container lives on without us), not taken for an end."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            try:
                c = self._container(handle)
                result = c.wait(timeout=left) if left is not None else c.wait()
                break
            except NotFound:
                return Outcome(None, message="its container vanished")
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError, APIError):
                # requests reports a read timeout as either; our own clock tells which it was
                if deadline is not None and time.monotonic() >= deadline:
                    return None
                time.sleep(RECONNECT_SECONDS)
        code = result.get("StatusCode")
        oom = False
        try:
            c.reload()
            oom = bool(c.attrs.get("State", {}).get("OOMKilled"))
        except (NotFound, APIError):
            pass
        err = (result.get("Error") or {}).get("Message") if isinstance(result.get("Error"), dict) else None
        return Outcome(code, oom_killed=oom, message=err)

    def state(self, handle: Handle) -> str | None:
        try:
            return self._container(handle).status
        except NotFound:
            return None

    def stop(self, handle: Handle, grace: float) -> None:
        try:
            self._container(handle).stop(timeout=max(0, int(grace)))
        except (NotFound, APIError):
            pass

    def kill(self, handle: Handle) -> None:
        try:
            self._container(handle).kill()
        except (NotFound, APIError):
            pass

    def collect(self, handle: Handle, job: Job) -> None:
        return None  # outputs are bind mounts: already on the host

    def remove(self, handle: Handle) -> None:
        try:
            self._container(handle).remove(force=True)
        except (NotFound, APIError):
            pass

    def find(self) -> dict[str, Handle]:
        found = self.client.containers.list(all=True, filters={"label": [f"{LABEL_HOME}={self.home_label}"]})
        return {c.labels[LABEL_RUN]: Handle(c.labels[LABEL_RUN], c.id, image_id=_image_id_of(c))
                for c in found if LABEL_RUN in c.labels}


def refuse_kubernetes_only(job: Job) -> None:
    """A run whose plan asks for resources only Kubernetes has (its context changed after the plan was applied)."""
    names = sorted((job.extra or {}).get("extended_resources") or {})
    if names:
        which = ", ".join(f"resources.{n}" for n in names)
        raise ExecutorError(
            f"{which}: not available on Docker; use a Kubernetes context (`context:` in the plan or "
            f"`knitctl context use NAME`), or remove it (`knitctl plan resource {job.plan_id} -u {names[0]}`)"
        )


def _image_id_of(container) -> str | None:
    """The image id of a listed container (an inspected one has it as Image, a sparse listing as ImageID)."""
    attrs = container.attrs or {}
    found = [v for v in (attrs.get("ImageID"), attrs.get("Image")) if isinstance(v, str) and v.startswith("sha256:")]
    return found[0] if found else None


def _reason(e: Exception) -> str:
    if isinstance(e, APIError):
        return str(e.explanation or e)
    return str(e)
