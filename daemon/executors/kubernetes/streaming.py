"""Commands in a pod's containers over the exec API, and directories streamed through them as tar.

`PodExec.put_dir` streams a host directory into a container (`tar -x` reading the exec's stdin,
fed a chunk at a time by a producer thread: a large input never sits in memory whole);
`PodExec.get_dir` streams one back (`tar -c`), extracting with tarfile's `data` filter so what
a task wrote can't reach outside its output or smuggle in a device. The pod's logs arrive as
`chunks` of an HTTP response.
"""

from __future__ import annotations

import json
import os
import queue
import tarfile
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, cast

from kubernetes import client as kclient
from kubernetes.client.rest import ApiException
from kubernetes.stream import stream as kstream
from websocket import ABNF, WebSocketException

from ..base import ExecutorError
from .errors import Target, Unreachable, from_handshake, short, translate

CHUNK = 1024 * 1024


class PodExec:
    """Exec calls into the pods of one namespace, each over a websocket of its own."""

    def __init__(self, configuration: Any, where: Target, api_timeout: float) -> None:
        self.configuration = configuration   # the client's Configuration (untyped)
        self.where = where
        self.api_timeout = api_timeout

    def open(self, name: str, container: str, command: list[str], *, stdin: bool) -> Any:
        # A client of its own: `stream` swaps the ApiClient's transport while it runs, which
        # must not touch the calls other threads make meanwhile.
        api_client = kclient.ApiClient(self.configuration)
        api = kclient.CoreV1Api(api_client)
        try:
            ws = kstream(api.connect_get_namespaced_pod_exec, name, self.where.namespace, command=command,
                         container=container, stdin=stdin, stdout=True, stderr=True, tty=False,
                         binary=True, _preload_content=False)
        except ApiException as e:
            raise translate(from_handshake(e), "create", "pods/exec", self.where) from None
        finally:
            api_client.close()  # the websocket lives on by itself
        ws.sock.settimeout(max(self.api_timeout, 300))
        return ws

    def run(self, name: str, container: str, command: list[str], *, stdin_chunks: Iterable[bytes] | None = None,
            stdout: Callable[[bytes], None] | None = None, check: bool = True) -> tuple[int, str]:
        """Run a command in a container of the pod; (exit code, stderr). stdout goes to `stdout(bytes)`."""
        ws = self.open(name, container, command, stdin=stdin_chunks is not None)
        try:
            if stdin_chunks is not None:
                if ws.subprotocol != "v5.channel.k8s.io":
                    raise ExecutorError(
                        f"the API server of context {self.where.context} can't close an exec's input "
                        "(it lacks the v5.channel.k8s.io protocol of Kubernetes 1.30+)")
                for chunk in stdin_chunks:
                    ws.write_channel(0, chunk)
                ws.close_channel(0)
            reader = Frames(ws)
            while True:
                data = reader.read_stdout()
                if data is None:
                    break
                if stdout is not None:
                    stdout(data)
            code, err = reader.result()
        except (WebSocketException, OSError) as e:
            raise Unreachable(f"the exec stream to pod {name} broke (context {self.where.context}): {e}") from None
        finally:
            ws.close()
        if check and code != 0:
            raise ExecutorError(f"`{' '.join(command)}` in pod {name} ({container}) failed with exit code {code}: {short(err)}")
        return code, err

    def put_dir(self, name: str, container: str, src: Path, dest: str) -> int:
        """Stream a host directory into `dest` in the container as tar; bytes sent."""
        writer = ChunkWriter()

        def produce() -> None:
            with tarfile.open(fileobj=cast(IO[bytes], writer), mode="w|", format=tarfile.GNU_FORMAT,
                              bufsize=CHUNK) as tar:
                for path in sorted(walk(src)):
                    tar.add(path, arcname=os.path.relpath(path, src), recursive=False, filter=readable)

        self.run(name, container, ["tar", "-x", "-f", "-", "-C", dest], stdin_chunks=writer.stream(produce))
        return writer.total

    def get_dir(self, name: str, container: str, src: str, dest: Path) -> int:
        """Stream `src` in the container back into a host directory; bytes received."""
        dest.mkdir(parents=True, exist_ok=True)
        ws = self.open(name, container, ["tar", "-c", "-f", "-", "-C", src, "."], stdin=False)
        reader = Frames(ws)
        try:
            # a stream ("r|") is only read, never sought: Frames has what that needs, not a whole file's API
            with tarfile.open(fileobj=cast(IO[bytes], reader), mode="r|", bufsize=CHUNK) as tar:
                tar.extractall(dest, filter="data")
            while reader.read_stdout() is not None:
                pass
            code, err = reader.result()
        except (WebSocketException, OSError) as e:
            raise Unreachable(f"the exec stream from pod {name} broke (context {self.where.context}): {e}") from None
        except tarfile.FilterError as e:  # a FIFO, device node or link out: never extracted, never read
            raise ExecutorError(
                f"the outputs of pod {name} hold what data can't hold ({e}); "
                "a task may write only files, directories and links to its outputs"
            ) from None
        except tarfile.TarError as e:
            raise ExecutorError(f"the outputs of pod {name} came back as a broken archive ({e}): {short(reader.stderr)}") from None
        finally:
            ws.close()
        if code != 0:
            raise ExecutorError(f"fetching {src} from pod {name} failed (exit {code}): {short(err)}")
        return reader.total


class Frames:
    """Reads an exec websocket's frames: stdout as a file (`read`), stderr and the status aside."""

    def __init__(self, ws: object) -> None:  # a kubernetes.stream WSClient (the client is untyped)
        self.ws: Any = ws
        self.buf = bytearray()
        self.stderr = ""
        self.status: dict[str, Any] | None = None
        self.closed = False
        self.total = 0

    def _next(self) -> bytes | None:
        """The next stdout payload, b'' for other frames, None at the end."""
        if self.closed:
            return None
        op, frame = self.ws.sock.recv_data_frame(True)
        if op == ABNF.OPCODE_CLOSE:
            self.closed = True
            return None
        if op not in (ABNF.OPCODE_BINARY, ABNF.OPCODE_TEXT):
            return b""
        data = frame.data if isinstance(frame.data, (bytes, bytearray)) else frame.data.encode()
        if not data:
            return b""
        ch, payload = data[0], data[1:]
        if ch == 1:
            self.total += len(payload)
            return bytes(payload)
        if ch == 2 and len(self.stderr) < 65536:
            self.stderr += bytes(payload).decode(errors="replace")
        elif ch == 3:
            try:
                self.status = json.loads(bytes(payload) or b"{}")
            except ValueError:
                self.status = {"status": "Failure", "message": bytes(payload).decode(errors="replace")}
        return b""

    def read_stdout(self) -> bytes | None:
        while True:
            data = self._next()
            if data is None or data:
                return data

    def read(self, n: int = -1) -> bytes:
        while (n < 0 or len(self.buf) < n) and not self.closed:
            data = self.read_stdout()
            if data is None:
                break
            self.buf += data
        if n < 0:
            n = len(self.buf)
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def result(self) -> tuple[int, str]:
        while not self.closed:
            self._next()
        st = self.status
        if st is None:
            raise ExecutorError("the exec stream ended without a status (the connection was cut)")
        if st.get("status") == "Success":
            return 0, self.stderr
        for cause in (st.get("details") or {}).get("causes") or []:
            if cause.get("reason") == "ExitCode":
                try:
                    return int(cause.get("message")), self.stderr
                except (TypeError, ValueError):
                    break
        raise ExecutorError(f"the exec failed: {st.get('message') or st}")


class ChunkWriter:
    """A write-only file that a producer thread (tarfile) fills and the exec stream drains in chunks,
    a few at a time: a large input never sits in memory whole."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.total = 0
        self.queue: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
        self.cancelled = False

    def write(self, b: bytes) -> int:
        if self.cancelled:
            raise OSError("the exec stream was closed")
        self.buf += b
        self.total += len(b)
        while len(self.buf) >= CHUNK:
            self.queue.put(bytes(self.buf[:CHUNK]))
            del self.buf[:CHUNK]
        return len(b)

    def flush(self) -> None:
        pass

    def stream(self, produce: Callable[[], None]) -> Iterator[bytes]:
        """Run `produce()` (which writes here) in a thread; yield the chunks it writes."""
        failure: list[BaseException] = []

        def run() -> None:
            try:
                produce()
                if self.buf:
                    self.queue.put(bytes(self.buf))
                    self.buf.clear()
            except BaseException as e:  # noqa: BLE001 - re-raised in the consumer
                failure.append(e)
            finally:
                self.queue.put(None)

        t = threading.Thread(target=run, daemon=True, name="knit-tar")
        t.start()
        try:
            while True:
                chunk = self.queue.get()
                if chunk is None:
                    break
                yield chunk
        finally:
            self.cancelled = True
            while t.is_alive():  # unblock a producer waiting on a full queue
                try:
                    self.queue.get(timeout=0.1)
                except queue.Empty:
                    pass
        if failure:
            e = failure[0]
            raise ExecutorError(f"reading the input failed: {e}") from None


def walk(root: Path) -> Iterator[str]:
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            yield os.path.join(dirpath, n)


def readable(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """Inputs as the task will see them: owned by root, readable by any user (it may not run as ours)."""
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if info.isdir():
        info.mode = 0o755
    elif info.isfile():
        info.mode = 0o755 if info.mode & 0o100 else 0o644
    return info


def chunks(resp: Any) -> Iterator[bytes]:
    """The body of a streamed HTTP response (a followed log), as it arrives."""
    if hasattr(resp, "stream"):
        yield from resp.stream(65536, decode_content=False)
    else:
        while True:
            data = resp.read(65536)
            if not data:
                return
            yield data
