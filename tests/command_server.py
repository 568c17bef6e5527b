"""A process that has imported what every command imports (torch, transformers, Hydra, pandas, scipy,
scikit-learn) and forks a fresh process for each `python -m stylometry.<command>` a test starts, which runs it as
`python -m` runs it: its argv, cwd, environment, stdin, stdout and stderr, and its own session where asked.

    python tests/command_server.py <socket>   # conftest.start_command starts one per test process

Why: a fresh interpreter spends about 6.5 s importing those libraries before a command does anything (transformers'
GPT-2 alone 4.3 s, torch 2 s, on the reference machine's 2 cores), and the suite starts over a hundred commands,
most of which then work for a second. A fork of this process starts the command in milliseconds.

What a fork does not give is the state an environment variable sets at import time (a library that reads
OMP_NUM_THREADS or HF_HUB_OFFLINE when it is imported): conftest starts a command whose environment differs from
this process's in any such variable (IMPORT_TIME_VARIABLES) as a plain subprocess instead.

The protocol, on a Unix socket: the client sends one JSON line (module, args, cwd, env, new_session) with the
command's stdin, stdout and stderr as file descriptors; a forked watcher answers "pid <pid>" for the command it
forks in turn, waits for it, and answers "exit <code>" (Popen's returncode: minus the signal that killed it).
"""

import atexit
import json
import os
import runpy
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback

# Variables a library reads when it is imported: a command whose environment differs from the server's in one of
# these is started as a plain subprocess (conftest.start_command).
IMPORT_TIME_VARIABLES = (
    "PYTHON",
    "OMP_",
    "MKL_",
    "OPENBLAS_",
    "KMP_",
    "TORCH",
    "CUDA",
    "NCCL_",
    "HF_",
    "TRANSFORMERS_",
    "TOKENIZERS_",
    "MPL",
    "LD_",
)
# The server imports offline (what every command that loads a tokenizer sets before it imports transformers:
# stylometry/train.py), so a command that does not set it otherwise is served.
SERVER_ENV = {"HF_HUB_OFFLINE": "1"}
CHECK_PARENT_SECONDS = 1.0  # how often the server looks whether the test process that started it is gone


def import_time_state(env: dict) -> dict:
    """The variables of `env` that a library reads when it is imported (HF_HUB_OFFLINE as the server has it)."""
    state = {name: value for name, value in env.items() if name.startswith(IMPORT_TIME_VARIABLES)}
    return {**state, **SERVER_ENV} if env.get("HF_HUB_OFFLINE", "1") == "1" else state


def preload() -> None:
    import hydra  # noqa: F401
    import matplotlib  # noqa: F401
    import omegaconf  # noqa: F401
    import pandas  # noqa: F401
    import scipy.stats  # noqa: F401
    import sklearn.feature_extraction.text  # noqa: F401
    import torch  # noqa: F401
    import transformers  # noqa: F401
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast  # noqa: F401

    # A fork copies only the thread that forks: a library that started a thread here would leave its copy broken.
    assert threading.active_count() == 1, f"a preloaded library started threads: {threading.enumerate()}"


def serve(path: str) -> None:
    preload()
    parent = os.getppid()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the watchers are reaped as they end
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path + ".new")
    listener.listen(64)
    listener.settimeout(CHECK_PARENT_SECONDS)
    os.rename(path + ".new", path)  # the client connects once the socket is ready
    while os.getppid() == parent:
        try:
            connection, _ = listener.accept()
        except TimeoutError:
            continue
        request, fds = receive(connection)
        if os.fork() == 0:
            try:  # a fork never returns to this loop
                listener.close()
                watch(connection, request, fds)
            finally:
                os._exit(1)
        connection.close()
        for fd in fds:
            os.close(fd)


def receive(connection: socket.socket) -> tuple[dict, list[int]]:
    data, fds, _, _ = socket.recv_fds(connection, 1 << 20, 3)
    while not data.endswith(b"\n"):
        more = connection.recv(1 << 20)
        if not more:
            raise EOFError("the client hung up mid-request")
        data += more
    return json.loads(data), fds


def watch(connection: socket.socket, request: dict, fds: list[int]) -> None:
    """The watcher: forks the command, tells the client its pid and then its exit code."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    pid = os.fork()
    if pid == 0:
        try:
            connection.close()
            run(request, fds)
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(1)
    for fd in fds:
        os.close(fd)
    connection.sendall(f"pid {pid}\n".encode())
    _, status = os.waitpid(pid, 0)
    try:
        connection.sendall(f"exit {os.waitstatus_to_exitcode(status)}\n".encode())
    finally:
        os._exit(0)


def run(request: dict, fds: list[int]) -> None:
    """The command, as `python -m <module> <args>` runs it; never returns."""
    if request["new_session"]:
        os.setsid()
    signal.signal(signal.SIGINT, signal.default_int_handler)  # as a fresh interpreter sets it (even where ignored)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in set(fds) - {0, 1, 2}:
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    unbuffered = bool(os.environ.get("PYTHONUNBUFFERED"))
    sys.stdin = sys.__stdin__ = open(0, closefd=False)
    sys.stdout = sys.__stdout__ = open(
        1, "w", buffering=1 if unbuffered or os.isatty(1) else -1, closefd=False, errors="strict"
    )
    sys.stderr = sys.__stderr__ = open(2, "w", buffering=1, closefd=False, errors="backslashreplace")
    sys.path[0] = os.getcwd()  # `python -m` puts the working directory first
    sys.argv = ["-m", *request["args"]]
    code = 0
    try:
        runpy._run_module_as_main(request["module"])
    except SystemExit as stop:
        code = exit_code(stop.code)
    except KeyboardInterrupt:
        traceback.print_exc()
        exit_like_python(None)
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # as Python ends on an uncaught Ctrl-C: killed by SIGINT
        os.kill(os.getpid(), signal.SIGINT)
    except BaseException:
        traceback.print_exc()
        code = 1
    exit_like_python(code)


def exit_code(code) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def exit_like_python(code) -> None:
    """What the interpreter does at its end: joins the threads left running, runs the exit handlers, flushes."""
    threading._shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    if code is not None:
        os._exit(code)


# ---- the client: conftest.start_command ---------------------------------------------------------------


class Server:
    """The server of one test process, started at its first command (the imports take seconds, which that command
    would have spent on them anyway) and stopped with the test process."""

    def __init__(self, folder: str, env: dict, cwd: str):
        self.path = os.path.join(folder, "commands.sock")
        self.env = {**env, **SERVER_ENV}
        self.log = open(os.path.join(folder, "server.log"), "w")
        self.process = subprocess.Popen(
            [sys.executable, __file__, self.path],
            cwd=cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        atexit.register(self.stop)

    def serves(self, env: dict) -> bool:
        """Whether a command with this environment may be forked here (no import-time variable differs)."""
        return import_time_state(env) == import_time_state(self.env)

    def start(self, module: str, args: list[str], cwd, env: dict, stdout, stderr, new_session: bool):
        """The command started in a fork, as a Popen-like ForkedCommand (stdout and stderr as Popen takes them; stdin
        this process's, as a Popen's by default), or None where the server could not start."""
        while not os.path.exists(self.path):
            if self.process.poll() is not None:  # it could not start (its log says why): a plain subprocess then
                return None
            time.sleep(0.05)
        out_read, out_fd = os.pipe() if stdout == subprocess.PIPE else (None, fileno(stdout, 1))
        if stderr == subprocess.STDOUT:
            err_read, err_fd = None, out_fd
        else:
            err_read, err_fd = os.pipe() if stderr == subprocess.PIPE else (None, fileno(stderr, 2))
        ours = [fd for fd in (out_read, err_read) if fd is not None]  # the pipes' ends this process reads
        theirs = [w for r, w in ((out_read, out_fd), (err_read, err_fd)) if r is not None]  # the command's ends
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            connection.connect(self.path)
            request = {
                "module": module,
                "args": list(args),
                "cwd": str(cwd or os.getcwd()),
                "env": env,
                "new_session": new_session,
            }
            socket.send_fds(connection, [json.dumps(request).encode() + b"\n"], [0, out_fd, err_fd])
        except BaseException:
            connection.close()
            for fd in ours:
                os.close(fd)
            raise
        finally:
            for fd in theirs:
                os.close(fd)
        return ForkedCommand(["python", "-m", module, *args], connection, out_read, err_read)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.log.close()


def fileno(stream, default: int) -> int:
    if stream is None:
        return default
    return stream if isinstance(stream, int) else stream.fileno()


class ForkedCommand:
    """What the tests use of subprocess.Popen (text mode), for a command the server forked: pid, args, returncode,
    stdout, stderr, poll, wait, communicate, send_signal, kill, terminate."""

    def __init__(self, args: list[str], connection: socket.socket, stdout_fd, stderr_fd):
        self.args, self.returncode, self._connection, self._answers = args, None, connection, b""
        self.stdout = open(stdout_fd) if stdout_fd is not None else None
        self.stderr = open(stderr_fd) if stderr_fd is not None else None
        self._read = {}  # fd -> what communicate has read of it
        self.pid = int(self._answer(None).removeprefix("pid "))

    def _answer(self, timeout):
        """The server's next line (None: none within `timeout` seconds)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self._answers:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            self._connection.settimeout(remaining)
            try:
                data = self._connection.recv(4096)
            except (TimeoutError, BlockingIOError):
                return None
            if not data:
                raise RuntimeError(f"the command server hung up on {self.args}")
            self._answers += data
        line, self._answers = self._answers.split(b"\n", 1)
        return line.decode()

    def poll(self):
        return self.wait(0, check=False) if self.returncode is None else self.returncode

    def wait(self, timeout=None, check: bool = True):
        if self.returncode is None:
            answer = self._answer(timeout)
            if answer is None:
                if check:
                    raise subprocess.TimeoutExpired(self.args, timeout)
                return None
            self.returncode = int(answer.removeprefix("exit "))
            self._connection.close()
        return self.returncode

    def communicate(self, input=None, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        streams = [s for s in (self.stdout, self.stderr) if s is not None and not s.closed]
        with selectors.DefaultSelector() as selector:
            for stream in streams:
                selector.register(stream.fileno(), selectors.EVENT_READ)
                self._read.setdefault(stream.fileno(), [])
            while selector.get_map():
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise subprocess.TimeoutExpired(self.args, timeout)
                for key, _ in selector.select(remaining):
                    data = os.read(key.fd, 1 << 16)
                    if data:
                        self._read[key.fd].append(data)
                    else:
                        selector.unregister(key.fd)
        texts = {}
        for stream in streams:
            texts[id(stream)] = b"".join(self._read.pop(stream.fileno())).decode().replace("\r\n", "\n")
            stream.close()
        self.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return tuple(None if s is None else texts.get(id(s), "") for s in (self.stdout, self.stderr))

    def send_signal(self, sig) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


if __name__ == "__main__":
    serve(sys.argv[1])
