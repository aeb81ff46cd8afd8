"""Run many ``colorize`` commands quickly, each in a process of its own.

Starting ``colorize`` costs 2-3 s of importing torch, which would make a corpus of 80 bad files
take minutes. Here one Python process imports the CLI and its heavy modules once, then forks a
fresh child for each command, as a fork server does: each child runs ``colorizer.cli.main`` with
its own argv, stdout and stderr (file descriptors 1 and 2, so C libraries' output is caught too),
and its exit status is the command's, as the ``colorize`` script's would be. An uncaught
exception prints its traceback and exits 1, as Python does.

    results = run_many([["image", "a.png", "--model", "gray"], ["models"]])
    results[0].returncode, results[0].stderr

A command may also be ``{"args": [...], "fsize": BYTES, "read_only": True}``: its process may
write no file larger than BYTES (RLIMIT_FSIZE: a write past it fails with EFBIG, as on a full
disk), and with ``read_only`` it runs without CAP_DAC_OVERRIDE, so that a root user, as in CI,
cannot write into folders without write permission either (see :func:`can_drop_dac_override`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass


@dataclass
class Result:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float = 0.0
    cpu_seconds: float = 0.0

    def lines(self, prefix: str) -> list[str]:
        """The stderr lines that start with ``prefix`` (e.g. "error:")."""
        return [line for line in self.stderr.replace("\r", "\n").splitlines() if line.startswith(prefix)]


def run_many(commands: list, timeout: float = 600, env: dict | None = None) -> list[Result]:
    """Run each argv (without the leading ``colorize``) as its own process; see the module docstring.

    torch gets one thread unless ``env`` says otherwise: on a shared machine (CI has 2 cores) its
    spinning OpenMP threads cost the small models of these tests ten times the CPU."""
    env = {"OMP_NUM_THREADS": "1", **(env if env is not None else os.environ)}
    proc = subprocess.run([sys.executable, __file__], input=json.dumps(commands), capture_output=True,
                          text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"the fork server failed:\n{proc.stderr[-3000:]}")
    return [Result(**r) for r in json.loads(proc.stdout)]


def _drop_dac_override() -> None:
    """Clear CAP_DAC_OVERRIDE (bit 1) from this process's effective and permitted capabilities."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    header, data = Header(0x20080522, 0), (Data * 2)()
    if libc.capget(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capget failed")
    data[0].effective &= ~(1 << 1)
    data[0].permitted &= ~(1 << 1)
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")


def can_drop_dac_override() -> bool:
    """Whether a process here can be made unable to write into a folder without write permission:
    always for a normal user; for root only where it may drop CAP_DAC_OVERRIDE (Linux)."""
    import tempfile as tf

    if os.geteuid() != 0:
        return True
    with tf.TemporaryDirectory() as folder:
        os.chmod(folder, 0o555)
        pid = os.fork()
        if pid == 0:
            try:
                _drop_dac_override()
                open(os.path.join(folder, "x"), "w").close()
                code = 1  # still writable
            except OSError:
                code = 0
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status) == 0


def _child(command, out_fd: int, err_fd: int) -> None:
    import traceback

    os.dup2(out_fd, 1)
    os.dup2(err_fd, 2)
    argv = command["args"] if isinstance(command, dict) else command
    if isinstance(command, dict) and command.get("fsize"):
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (command["fsize"], command["fsize"]))
    if isinstance(command, dict) and command.get("read_only") and os.geteuid() == 0:
        _drop_dac_override()
    code = 0
    try:
        from colorizer.cli import main

        sys.argv = ["colorize", *argv]
        main()
    except SystemExit as exc:
        if exc.code is None:
            code = 0
        elif isinstance(exc.code, int):
            code = exc.code
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except BaseException:  # what the interpreter does with an uncaught exception
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def _serve() -> None:
    import cv2  # noqa: F401  (the heavy imports, done once, shared by every child)
    import torch  # noqa: F401

    import colorizer.api  # noqa: F401
    import colorizer.cli  # noqa: F401
    import colorizer.data  # noqa: F401
    import colorizer.models  # noqa: F401
    import colorizer.train  # noqa: F401

    try:
        import av  # noqa: F401
    except ImportError:
        pass
    # the first optimiser pulls in torch._dynamo and sympy (1-2 s), which `colorize train` meets
    torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])
    commands = json.loads(sys.stdin.read())
    results = []
    for command in commands:
        argv = command["args"] if isinstance(command, dict) else command
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            sys.stdout.flush()
            sys.stderr.flush()
            start = time.perf_counter()
            pid = os.fork()
            if pid == 0:
                _child(command, out.fileno(), err.fileno())
            _, status, usage = os.wait4(pid, 0)
            code = os.waitstatus_to_exitcode(status)
            texts = []
            for fh in (out, err):
                fh.seek(0)
                texts.append(fh.read().decode("utf-8", "replace"))
        results.append({"args": argv, "returncode": code, "stdout": texts[0], "stderr": texts[1],
                        "seconds": round(time.perf_counter() - start, 3),
                        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3)})
    sys.stdout.write(json.dumps(results))


if __name__ == "__main__":
    _serve()


# Run as `python -c NO_TORCH ARGS...`: the colorize CLI with ARGS while any import of torch fails;
# prints "EXIT_CODE ATTEMPTED_IMPORTS TORCH_LOADED", e.g. "0 [] False" for a run that never needed torch.
NO_TORCH = """
import importlib.abc, sys
attempts = []
class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            attempts.append(name)
            raise ImportError("torch is blocked in this test")
sys.meta_path.insert(0, NoTorch())
from colorizer.cli import cli
try:
    cli(sys.argv[1:], prog_name="colorize")
except SystemExit as exc:
    code = exc.code
print(code, attempts, "torch" in sys.modules)
"""
