"""The code sandbox: limits and isolation hold, and each escape attempt ends as a recorded failure."""
import os
import socket
import sys
import textwrap
import uuid
from pathlib import Path

import psutil
import pytest

from uq_core.verify.sandbox import isolation_info, live_pids, run_python

REPO = Path(__file__).resolve().parents[1]
ROOT_LINUX = sys.platform.startswith("linux") and os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT_LINUX, reason="OS isolation (uid switch, namespaces) needs root on Linux")


def test_plain_program_runs_in_fresh_temp_dir_with_minimal_env():
    res = run_python("import os, sys\nprint(os.getcwd()); print(sorted(os.environ)); print(sys.flags.isolated)")
    assert res.status == "ok" and res.returncode == 0, res.stderr_tail
    cwd, env, isolated = res.stdout_tail.splitlines()
    assert env == "['HOME', 'LANG', 'PATH']" and isolated == "1"
    assert not Path(cwd).exists(), "the temporary working directory must be removed afterwards"


def test_writing_inside_the_temp_dir_works():
    res = run_python("open('f.txt', 'w').write('hi')\nprint(open('f.txt').read())")
    assert res.status == "ok" and res.stdout_tail.strip() == "hi"


def test_nonzero_exit_is_error_with_stderr_tail():
    res = run_python("raise ValueError('boom' * 1000)", tail_chars=300)
    assert res.status == "error" and res.returncode == 1
    assert len(res.stderr_tail) <= 300 and "boom" in res.stderr_tail


def test_infinite_loop_times_out_within_limit_plus_one_second():
    res = run_python("while True:\n    pass", timeout_s=1.0)
    assert res.status == "timeout"
    assert res.duration_s < 2.0


def test_memory_bomb_fails_without_harming_the_caller():
    res = run_python("x = []\nwhile True:\n    x.append(bytearray(50_000_000))", memory_mb=256, timeout_s=10)
    assert res.status == "memory", (res.status, res.stderr_tail)
    assert len(bytearray(10_000_000)) == 10_000_000  # the test process itself is unaffected


def test_huge_output_is_stopped_by_the_file_size_limit():
    res = run_python("import sys\nwhile True:\n    sys.stdout.write('x' * 100000)", max_file_mb=1, timeout_s=5)
    # Python ignores SIGXFSZ, so the write fails with EFBIG ("File too large") instead of a signal
    assert res.status in ("error", "killed") and ("File too large" in res.stderr_tail or "SIGXFSZ" in res.stderr_tail)


@needs_root
def test_fork_bomb_fails_and_leaves_no_processes():
    code = textwrap.dedent("""
        import os, time
        while True:
            try:
                os.fork()
            except OSError:
                time.sleep(0.001)
    """)
    res = run_python(code, timeout_s=2, max_procs=16)
    assert res.status == "timeout"
    assert res.uid is not None and live_pids(res.uid) == []
    assert [c for c in psutil.Process().children(recursive=True) if c.status() != psutil.STATUS_ZOMBIE] == []


@needs_root
def test_detached_child_is_killed_after_the_run():
    code = "import os, time\nif os.fork() == 0:\n    os.setsid(); time.sleep(60)\nprint('parent done')"
    res = run_python(code, timeout_s=5)
    assert res.status == "ok" and live_pids(res.uid) == []


@needs_root
@pytest.mark.parametrize("where", ["pytest_tmp", "repo"])
def test_writing_outside_the_temp_dir_fails(tmp_path, where):
    target = (tmp_path if where == "pytest_tmp" else REPO) / f"sandbox_escape_{uuid.uuid4().hex}.txt"
    res = run_python(f"open({str(target)!r}, 'w').write('escaped')")
    try:
        assert res.status == "error", res.stdout_tail
        assert "Error" in res.stderr_tail
        assert not target.exists()
    finally:
        target.unlink(missing_ok=True)


@needs_root
def test_environment_secret_is_not_visible(monkeypatch):
    secret = "sk-planted-" + uuid.uuid4().hex
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    by_env = run_python("import os\nprint(os.environ['OPENAI_API_KEY'])")
    assert by_env.status == "error" and "KeyError" in by_env.stderr_tail
    by_proc = run_python(f"print(open('/proc/{os.getpid()}/environ', 'rb').read())")
    assert by_proc.status == "error" and "PermissionError" in by_proc.stderr_tail
    for res in (by_env, by_proc):
        assert secret not in res.stdout_tail + res.stderr_tail


@needs_root
def test_network_connection_to_local_listener_fails():
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.3)
    port = server.getsockname()[1]
    try:
        res = run_python(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2).send(b'x')")
        assert res.status == "error" and "OSError" in res.stderr_tail, res.stderr_tail
        with pytest.raises(socket.timeout):
            server.accept()
    finally:
        server.close()


def test_isolation_info_is_honest():
    info = isolation_info()
    for key in ("network", "filesystem", "user", "processes", "limits", "environment"):
        assert key in info
    assert info["probe"] == "ok"
    if ROOT_LINUX:
        assert info["network"].startswith("new network namespace")
        assert info["user"].startswith("a fresh unprivileged uid")
    else:
        assert info["network"].startswith("not isolated")


@pytest.mark.parametrize("kwargs", [{"timeout_s": 0}, {"memory_mb": -1}, {"max_procs": 0}, {"max_file_mb": 0}])
def test_bad_limits_are_refused(kwargs):
    with pytest.raises(ValueError, match="must be positive"):
        run_python("print(1)", **kwargs)
