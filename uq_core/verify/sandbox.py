"""Run untrusted Python in a limited subprocess.

Each run gets a fresh temporary directory as its working directory (removed afterwards), a
minimal environment (PATH, LANG, HOME = the temp dir; nothing else from ``os.environ``),
``python -I``, resource limits (CPU, address space, processes, file size, no core files), a
new session whose whole process group is killed at the wall-clock limit, and, when this
process is root on Linux: a new network namespace with no interface up, a private mount
namespace in which /root (except the Python installation), /tmp (except the run's
directory), /var/tmp, /dev/shm and /home are empty private tmpfs mounts, no_new_privs, and
a fresh unprivileged uid per run (so RLIMIT_NPROC applies and every leftover process of
that uid can be killed afterwards). :func:`isolation_info` says which of these are in force.
"""
from __future__ import annotations

import json
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

LAUNCHER = str(Path(__file__).with_name("_launch.py"))
STATUSES = ("ok", "error", "timeout", "memory", "killed", "sandbox_error")
_MEMORY_MARKERS = ("MemoryError", "Cannot allocate memory", "std::bad_alloc", "out of memory")
_UID_BASE, _UID_SPAN = 1_200_000_000, 100_000_000


@dataclass
class SandboxResult:
    """Outcome of one sandboxed run.

    status is one of STATUSES; returncode is negative for a signal (None if never started);
    the tails hold at most ``tail_chars`` characters; uid is the run's own uid (None if the
    uid was not changed); isolation is the launcher's report of what it put in force.
    """
    status: str
    returncode: int | None
    stdout_tail: str
    stderr_tail: str
    duration_s: float
    uid: int | None = None
    isolation: dict = field(default_factory=dict)


def _is_root() -> bool:
    return sys.platform.startswith("linux") and os.geteuid() == 0


def _pick_uid() -> int:
    """A random unprivileged uid inside the mapped uid range (65534 if the range is small)."""
    try:
        first, _, count = (int(x) for x in Path("/proc/self/uid_map").read_text().split()[:3])
    except (OSError, ValueError):
        return 65534
    if first != 0 or count < _UID_BASE + _UID_SPAN:
        return 65534
    return _UID_BASE + random.SystemRandom().randrange(_UID_SPAN)


def _masks(run_dir: str) -> list[list]:
    """Directories hidden behind empty tmpfs, each with the paths kept visible inside it."""
    needed = {os.path.realpath(p) for p in (sys.base_prefix, sys.prefix, os.path.dirname(sys.executable))}
    needed.add(os.path.realpath(run_dir))
    out = []
    for target, mode in (("/root", "755"), ("/home", "755"), ("/tmp", "1777"), ("/var/tmp", "1777"),
                         ("/dev/shm", "1777")):
        keeps = sorted(p for p in needed if p.startswith(target + "/"))
        out.append([target, mode, keeps])
    return out


def _tail(fh, n: int) -> str:
    fh.flush()
    size = fh.seek(0, os.SEEK_END)
    fh.seek(max(0, size - 4 * n))
    return fh.read().decode("utf-8", errors="replace")[-n:]


def _proc_uid(pid: str, live_only: bool = True) -> int | None:
    """Real uid of process *pid* (None if gone, or a zombie when live_only)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            fields = dict(line.split(":", 1) for line in fh if ":" in line)
        if live_only and fields.get("State", "").strip().startswith(("Z", "X")):
            return None
        return int(fields["Uid"].split()[0])
    except (OSError, ValueError, KeyError):
        return None


def live_pids(uid: int) -> list[int]:
    """Processes (not zombies) whose real uid is *uid*."""
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and _proc_uid(p) == uid]


def kill_uid(uid: int | None, rounds: int = 50) -> int:
    """SIGKILL every process whose real uid is the run's own uid; returns how many were signalled."""
    if uid is None or uid < _UID_BASE or not os.path.isdir("/proc"):
        return 0
    total = 0
    for _ in range(rounds):
        found = live_pids(uid)
        if not found:
            break
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
                total += 1
            except ProcessLookupError:
                pass
        time.sleep(0.01)
    return total


def _status(rc: int | None, timed_out: bool, stderr: str, report: dict) -> tuple[str, str]:
    if not report.get("ready"):
        return "sandbox_error", "[sandbox] the launcher failed before running the code"
    if timed_out or rc == -signal.SIGXCPU:
        return "timeout", "[sandbox] time limit reached; process group killed"
    if rc == 0:
        return "ok", ""
    if any(m in stderr for m in _MEMORY_MARKERS):
        return "memory", ""
    if rc is not None and rc < 0:
        name = signal.Signals(-rc).name if -rc in signal.valid_signals() else str(-rc)
        note = " (file size limit)" if rc == -signal.SIGXFSZ else ""
        return "killed", f"[sandbox] killed by {name}{note}"
    return "error", ""


def run_python(code: str, timeout_s: float = 5.0, memory_mb: int = 512, max_procs: int = 16,
               max_file_mb: int = 10, tail_chars: int = 2000, isolate: bool = True) -> SandboxResult:
    """Run *code* as a Python program in the sandbox.

    Parameters
    ----------
    code : str
        The program text (written to ``main.py`` in a fresh temporary directory).
    timeout_s : float
        Wall-clock limit in seconds (> 0); RLIMIT_CPU is ceil(timeout_s) + 1.
    memory_mb : int
        Address-space limit (RLIMIT_AS) in MiB; Python needs about 30.
    max_procs : int
        RLIMIT_NPROC for the run's own uid (only enforced when the uid was changed).
    max_file_mb : int
        Largest file the program may write (RLIMIT_FSIZE), stdout and stderr included.
    tail_chars : int
        How many trailing characters of stdout / stderr to keep.
    isolate : bool
        Use namespaces and the unprivileged uid when running as root (False only for tests).
    """
    if timeout_s <= 0 or memory_mb <= 0 or max_procs <= 0 or max_file_mb <= 0:
        raise ValueError("timeout_s, memory_mb, max_procs and max_file_mb must be positive")
    root = _is_root() and isolate
    uid = _pick_uid() if root else None
    with tempfile.TemporaryDirectory(prefix="uqsb-", ignore_cleanup_errors=True) as work:
        os.chmod(work, 0o711)
        run_dir = os.path.join(work, "run")
        os.mkdir(run_dir, 0o755)
        Path(run_dir, "main.py").write_text(code, encoding="utf-8")
        if uid is not None:
            os.chown(run_dir, uid, uid)
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": run_dir}
        cfg = {"python": sys.executable, "cwd": run_dir, "uid": uid, "env": env, "isolate": root,
               "report": os.path.join(work, "report.json"), "masks": _masks(run_dir),
               "limits": {"cpu_s": int(math.ceil(timeout_s)) + 1, "as_bytes": int(memory_mb) << 20,
                          "fsize_bytes": int(max_file_mb) << 20, "nproc": int(max_procs)}}
        cfg_path = os.path.join(work, "launch.json")
        Path(cfg_path).write_text(json.dumps(cfg))
        os.chmod(cfg_path, 0o600)
        with open(os.path.join(work, "out"), "w+b") as out, open(os.path.join(work, "err"), "w+b") as err:
            t0 = time.monotonic()
            proc = subprocess.Popen([sys.executable, "-I", "-S", LAUNCHER, cfg_path], stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=err, cwd=work, env=env, start_new_session=True)
            timed_out = False
            try:
                rc = proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            rc = proc.wait()
            kill_uid(uid)
            duration = time.monotonic() - t0
            stdout, stderr = _tail(out, tail_chars), _tail(err, tail_chars)
        try:
            report = json.loads(Path(cfg["report"]).read_text() or "{}")
        except (OSError, ValueError):
            report = {}
    status, note = _status(rc, timed_out, stderr, report)
    if note:
        stderr = (stderr + "\n" + note)[-tail_chars:]
    return SandboxResult(status, rc, stdout, stderr, round(duration, 4), report.get("uid"), report)


@lru_cache(maxsize=1)
def isolation_info() -> dict:
    """Describe which limits and isolations are in force, from one probe run (cached)."""
    res = run_python("print('probe')", timeout_s=20)
    rep = res.isolation
    info = {"probe": "ok" if res.status == "ok" and res.stdout_tail.strip() == "probe"
            else f"probe failed: {res.status}: {res.stderr_tail[-300:]}"}
    if rep.get("network") == "ok":
        info["network"] = "new network namespace (no interfaces up, not even loopback)"
    else:
        info["network"] = "not isolated: " + (rep.get("network") or "not running as root on Linux")
    if rep.get("mounts") == "ok":
        info["hidden_dirs"] = ("empty private tmpfs over " + ", ".join(rep.get("masked", []))
                               + " (the Python installation and the run's own directory stay visible)")
    else:
        info["hidden_dirs"] = "none: " + (rep.get("mounts") or "no mount namespace (not root)")
    if rep.get("uid") is not None:
        info["user"] = (f"a fresh unprivileged uid per run (e.g. {rep['uid']}), no groups: files and directories "
                        "owned by other users (the repository, root-owned temp dirs) cannot be written")
        info["filesystem"] = ("fresh temporary cwd, removed afterwards; writes elsewhere fail by file permissions "
                              "unless a place is writable by every user; /tmp, /var/tmp, /dev/shm are private "
                              "tmpfs, discarded after the run; files readable by every user stay readable")
        info["processes"] = ("RLIMIT_NPROC per run uid; process group killed at the time limit; "
                             "every leftover process of the run's uid killed afterwards")
    else:
        info["user"] = "not changed: " + (rep.get("uid_error") or "not running as root")
        info["filesystem"] = ("temporary cwd; writes elsewhere not blocked by the OS (only rlimit FSIZE)")
        info["processes"] = "process group killed at the time limit; RLIMIT_NPROC " + (
            "is not enforced for root" if _is_root() else "counts every process of this user")
    info["limits"] = ("RLIMIT_CPU = ceil(timeout)+1 s, wall-clock timeout, RLIMIT_AS = memory_mb, "
                      "RLIMIT_FSIZE = max_file_mb, RLIMIT_CORE = 0" if rep.get("rlimits") == "ok" else "not set")
    info["privileges"] = ("no_new_privs set (setuid programs cannot gain privileges)"
                          if rep.get("no_new_privs") == "ok" else "no_new_privs not set")
    info["environment"] = "only PATH, LANG and HOME (= the temp dir); python -I ignores PYTHON* variables"
    return info
