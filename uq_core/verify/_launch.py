"""Sandbox launcher: isolate this process, then exec the untrusted program.

Run by :func:`uq_core.verify.sandbox.run_python` as ``python -I -S _launch.py CONFIG.json``
(stdlib only, no preexec_fn, so it is safe to start from threads). As root it enters a new
network namespace (no interface up) and a new mount namespace, hides directories behind
empty private tmpfs mounts, sets resource limits, sets no_new_privs, switches to the run's
own unprivileged uid and execs ``python -I main.py``. Every step's outcome is written to
the report file, so the parent can say exactly which isolation was in force.
"""
import ctypes
import json
import os
import resource
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 4096, 16384, 1 << 18
PR_SET_NO_NEW_PRIVS = 38

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.unshare.argtypes = [ctypes.c_int]


def _check(ret):
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _mount(src, target, fstype, flags, data):
    enc = lambda s: None if s is None else s.encode()  # noqa: E731
    _check(_libc.mount(enc(src), enc(target), enc(fstype), flags, enc(data)))


def _mask(target, mode, keeps):
    """Cover *target* with an empty tmpfs, re-binding each path in *keeps* inside it."""
    fds = [(k, os.open(k, os.O_PATH | os.O_DIRECTORY)) for k in keeps if os.path.isdir(k)]
    _mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, f"mode={mode},size=64m")
    for path, fd in fds:
        os.makedirs(path, mode=0o755, exist_ok=True)
        _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC, None)
        os.close(fd)


def _isolate(cfg, report):
    try:
        _check(_libc.unshare(CLONE_NEWNET))
        report["network"] = "ok"
    except OSError as e:
        report["network"] = f"unshare(CLONE_NEWNET) failed: {e}"
    try:
        _check(_libc.unshare(CLONE_NEWNS))
        _mount("none", "/", None, MS_REC | MS_PRIVATE, None)
    except OSError as e:
        report["mounts"] = f"private mount namespace failed: {e}"
        return
    masked = []
    for target, mode, keeps in cfg["masks"]:
        if not os.path.isdir(target):
            continue
        try:
            _mask(target, mode, keeps)
            masked.append(target)
        except OSError as e:
            report.setdefault("mask_errors", []).append(f"{target}: {e}")
    report["mounts"] = "ok"
    report["masked"] = masked


def _limits(cfg, report):
    lim = cfg["limits"]
    pairs = [(resource.RLIMIT_CPU, lim["cpu_s"]), (resource.RLIMIT_AS, lim["as_bytes"]),
             (resource.RLIMIT_FSIZE, lim["fsize_bytes"]), (resource.RLIMIT_CORE, 0),
             (resource.RLIMIT_NPROC, lim["nproc"])]
    for which, value in pairs:
        resource.setrlimit(which, (value, value))
    report["rlimits"] = "ok"


def _reachable(path):
    """Whether every directory above *path* can be searched by any user (o+x)."""
    path = os.path.realpath(path)
    while path != "/":
        path = os.path.dirname(path)
        if not os.stat(path).st_mode & 0o001:
            return False
    return True


def _drop(uid, report, needed):
    if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0:
        report["no_new_privs"] = "ok"
    if uid is None:
        return
    blocked = [p for p in needed if not _reachable(p)]
    if blocked:
        report["uid_error"] = f"kept root: an unprivileged uid could not reach {blocked}"
        return
    try:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
        report["uid"] = os.getuid() if os.geteuid() == uid else None
    except OSError as e:
        report["uid_error"] = f"setuid({uid}) failed: {e}"


def main():
    with open(sys.argv[1]) as fh:
        cfg = json.load(fh)
    report = {}
    fd = os.open(cfg["report"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    if cfg["isolate"] and os.geteuid() == 0:
        _isolate(cfg, report)
    _limits(cfg, report)
    _drop(cfg["uid"] if os.geteuid() == 0 else None, report, [cfg["python"] + "/x", cfg["cwd"] + "/x"])
    os.chdir(cfg["cwd"])
    report["ready"] = True
    os.write(fd, json.dumps(report).encode())
    os.close(fd)
    os.execve(cfg["python"], [cfg["python"], "-I", "main.py"], cfg["env"])


if __name__ == "__main__":
    main()
