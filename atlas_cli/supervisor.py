"""Starting and supervising Atlas's processes: worker, web, simulator, and `atlas run` for all of them."""

from __future__ import annotations

import contextlib
import http.client
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from atlas_cli.demo import seed_demo
from atlas_cli.embedded import embedded_database
from atlas_cli.proc_scan import RUN_MARKER
from atlas_cli.run_guard import Port, StartRefused, guard_start
from atlas_cli.watchdog import Watchdog, die_with_parent, group_members
from atlas_services.config import Settings, get_settings, refuse_development_key
from atlas_services.db import check_database, configure_worker_sessions
from atlas_services.graph.contracts import load_contracts

ROOT = Path(__file__).resolve().parent.parent
GRACE_SECONDS = 8.0
LOOP_JOIN_SECONDS = 3.0  # well inside GRACE_SECONDS: a stuck pass cannot hold up a stop


def _check_backing_services() -> None:
    # Lazy, as every atlas_jobs import here: importing atlas_jobs builds the queue from the settings (and warns
    # about development keys), and every `atlas` command, `--help` included, imports this module.
    from atlas_jobs.huey_app import check_queue

    check_database()
    check_queue()


def _check_contracts() -> None:
    """A broken graph_contracts.yaml stops the worker at start, not at its first Graph call."""
    load_contracts()


def run_worker(workers: int) -> None:
    """Consume jobs until interrupted."""
    refuse_development_key(get_settings())
    _check_backing_services()  # fails at once: a worker started against no database says so
    _check_contracts()
    settings = get_settings()
    # Then a database restart is waited out, and a transaction left open by a lost link cannot hold the
    # reapers' row locks for longer than half the time a run may go without a heartbeat.
    configure_worker_sessions(connect_wait_seconds=settings.worker_db_wait_seconds,
                              idle_in_transaction_seconds=settings.heartbeat_timeout_seconds / 2)
    import atlas_jobs.tasks  # noqa: F401  (registers the tasks)

    # Loaded before consuming (the task adapter imports it lazily for the web tier's sake): the first job is
    # claimed right after it leaves the queue, not after a second of imports (the outbox sweep's blind spot).
    import atlas_services.runs.execute  # noqa: F401
    from atlas_jobs.alerts import start_alert_thread
    from atlas_jobs.huey_app import huey
    from atlas_jobs.liveness import alive
    from atlas_jobs.reaper import start_reaper_thread
    from atlas_jobs.scheduler import start_scheduler_thread

    stop = threading.Event()
    with alive():  # first: the reaper must never see its own worker as "no worker alive"
        loops = [start_reaper_thread(stop), start_scheduler_thread(stop), start_alert_thread(stop)]
        try:
            huey.create_consumer(workers=max(1, workers), worker_type="thread", check_worker_health=True).run()
        finally:
            stop.set()
            # A loop's pass in progress finishes (and its log lines are whole) before the interpreter exits.
            for loop in loops:
                if loop is not None:
                    loop.join(timeout=LOOP_JOIN_SECONDS)


BUN_BIN = ROOT / ".tools" / "node_modules" / ".bin"


def web_environment() -> dict[str, str]:
    """The environment `reflex` needs here: the project-local bun, no telemetry, no version checks, and
    npm's own configured registry (otherwise Reflex probes registries by latency)."""
    env = dict(os.environ)
    env["PATH"] = f"{BUN_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(REFLEX_USE_SYSTEM_BUN="1", REFLEX_TELEMETRY_ENABLED="false", REFLEX_CHECK_LATEST_VERSION="false")
    if not env.get("NPM_CONFIG_REGISTRY"):
        registry = _npm_registry()
        if registry:
            env["NPM_CONFIG_REGISTRY"] = registry
    env.update(shared_state_environment(env))
    return env


def shared_state_environment(env: dict[str, str]) -> dict[str, str]:
    """Where Reflex keeps the tabs' state: in Redis when Atlas has one, so several `atlas web` processes (and the
    several workers Reflex starts in one process when it has Redis) serve any tab; else on disk, one worker.

    An explicit ``REFLEX_REDIS_URL`` (a Redis database of its own) or ``REFLEX_STATE_MANAGER_MODE`` wins.
    """
    redis_url = get_settings().redis_url
    if not redis_url or env.get("REFLEX_REDIS_URL") or env.get("REFLEX_STATE_MANAGER_MODE"):
        return {}
    return {"REFLEX_REDIS_URL": redis_url}


def _npm_registry() -> str | None:
    try:
        result = subprocess.run(["npm", "config", "get", "registry"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    value = result.stdout.strip()
    return value if result.returncode == 0 and value.startswith("http") else None


def web_command(port: int, host: str | None = None) -> list[str]:
    reflex = str(Path(sys.executable).with_name("reflex"))
    return [reflex, "run", "--env", "prod", "--single-port", "--frontend-port", str(port),
            "--backend-host", host or get_settings().web_host]


def run_web() -> int:
    """Serve the UI in the foreground; returns reflex's exit code."""
    refuse_development_key(get_settings())
    _check_backing_services()
    return subprocess.call(web_command(get_settings().web_port), cwd=ROOT, env=web_environment())


def wait_until_serving(port: int, path: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> bool:
    """True once GET http://127.0.0.1:port/path answers 200; False if ``proc`` exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return True
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(0.25)
    return False


def stop_process_group(proc: subprocess.Popen[bytes], grace: float = GRACE_SECONDS) -> None:
    """SIGTERM the child's process group, then SIGKILL it: `reflex run` ignores SIGTERM without a TTY."""
    if proc.poll() is not None:
        _kill_group(proc.pid, signal.SIGKILL)
        return
    _kill_group(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    _kill_group(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def _kill_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_children(children: list[subprocess.Popen[bytes]], interrupt: list[subprocess.Popen[bytes]],
                  grace: float = GRACE_SECONDS) -> None:
    """Stop every child's process group at once: SIGINT to those in ``interrupt`` (`reflex run` stops on SIGINT,
    as on Ctrl-C in a terminal, and ignores SIGTERM without one), SIGTERM to the others; SIGKILL after ``grace``."""
    for child in children:
        _kill_group(child.pid, signal.SIGINT if child in interrupt else signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(child.poll() is None or group_members(child.pid)
                                              for child in children):
        time.sleep(0.1)
    for child in children:
        _kill_group(child.pid, signal.SIGKILL)
    for child in children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=10)


def spawn(args: list[str], env: dict[str, str], log_path: Path | None = None,
          watchdog: Watchdog | None = None) -> subprocess.Popen[bytes]:
    """Start a child in its own process group (so stopping it stops its children too) that gets SIGTERM when this
    process dies, however it dies; with a watchdog, the group is recorded there too (for the grandchildren)."""
    out = open(log_path, "ab") if log_path else None
    proc = subprocess.Popen(args, cwd=ROOT, env=env, start_new_session=True, stdout=out, stderr=out,
                            stdin=subprocess.DEVNULL, preexec_fn=die_with_parent())
    if watchdog is not None:
        watchdog.guard_group(proc.pid)
    return proc


def spawn_workers(env: dict[str, str], data_dir: Path, count: int,
                  watchdog: Watchdog | None = None) -> list[subprocess.Popen[bytes]]:
    """``count`` `atlas worker` processes, each in its own process group with its own log (worker-N.log).

    Processes, not more threads in one: a worker that dies (a crash, an OOM kill) takes only its own runs with it,
    and the reaper in the survivors fails those (run.worker_lost).
    """
    atlas = str(Path(sys.executable).with_name("atlas"))
    return [spawn([atlas, "worker"], env, data_dir / f"worker-{number}.log", watchdog)
            for number in range(1, count + 1)]


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _stop_on_signals() -> None:
    """Ctrl-C, `kill` and a closed terminal all take the same orderly stop path (KeyboardInterrupt)."""
    def stop(signum: int, frame: object) -> None:
        _ignore_stop_signals()  # the stop runs once, to its end: a second signal must not cut it short
        raise KeyboardInterrupt

    for sig in STOP_SIGNALS:
        if sig == signal.SIGHUP and signal.getsignal(sig) == signal.SIG_IGN:
            continue  # `nohup atlas run`: a closed terminal is meant not to stop it
        signal.signal(sig, stop)


def _ignore_stop_signals() -> None:
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


def say(message: str, error: bool = False) -> None:
    """Print, unless the terminal is gone (after SIGHUP a write fails; the stop must go on)."""
    try:
        print(message, file=sys.stderr if error else sys.stdout, flush=True)
    except OSError:
        pass


def _ports(settings: Settings) -> list[Port]:
    return [Port(settings.web_port, settings.web_host, "the web UI", "ATLAS_WEB_PORT={port}"),
            Port(_simulator_port(settings), "127.0.0.1", "the Microsoft simulator",
                 "ATLAS_SIMULATOR_URL=http://127.0.0.1:{port}")]


def _simulator_port(settings: Settings) -> int:
    return int(settings.simulator_url.rsplit(":", 1)[1].split("/")[0])


def run_all(workers: int = 1, replace: bool = False) -> int:
    """`atlas run`: the embedded default of DESIGN.md §11, with ``workers`` worker processes.

    Returns 2 when the start is refused (an earlier Atlas of this data directory runs, a port is taken), 1 when a
    process stopped unexpectedly, 0 after a stop by Ctrl-C, SIGTERM or SIGHUP.
    """
    settings = get_settings()
    refuse_development_key(settings)  # the worker and web children would refuse it too, after a database start
    data_dir = Path(settings.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    _stop_on_signals()
    os.environ[RUN_MARKER] = str(data_dir)  # inherited by every process of this run, PostgreSQL included
    try:
        return _run_locked(settings, data_dir, workers, replace)
    finally:  # as it was (for callers other than the `atlas run` command: tests)
        os.environ.pop(RUN_MARKER, None)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run_locked(settings: Settings, data_dir: Path, workers: int, replace: bool) -> int:
    try:
        lock = guard_start(data_dir, _ports(settings), replace, f"http://{settings.web_host}:{settings.web_port}")
    except StartRefused as refused:
        say(f"error: {refused}", error=True)
        return 2
    except KeyboardInterrupt:
        return 0
    # The watchdog holds the run lock too: the lock is free only once the clean-up is over, however this ends.
    watchdog = Watchdog(data_dir / "watchdog.log", keep_fds=(lock,))
    try:
        return _run_with_database(settings, data_dir, workers, watchdog)
    except KeyboardInterrupt:
        return 0
    finally:
        _ignore_stop_signals()
        watchdog.close()
        os.close(lock)


def _run_with_database(settings: Settings, data_dir: Path, workers: int, watchdog: Watchdog) -> int:
    env = web_environment()
    env.setdefault("ATLAS_SIMULATOR_URL", settings.simulator_url)
    env.setdefault("ATLAS_DEFAULT_CLOUD", "simulator")  # the demo's connections live in the simulator
    children: list[subprocess.Popen[bytes]] = []
    with embedded_database(settings.database_url, data_dir / "postgres", watchdog.guard_postgres) as database_url:
        env["ATLAS_DATABASE_URL"] = os.environ["ATLAS_DATABASE_URL"] = database_url
        get_settings.cache_clear()
        try:
            return _run_children(env, data_dir, children, workers, watchdog)
        except KeyboardInterrupt:
            say("\nstopping ...")
            return 0
        finally:
            _ignore_stop_signals()
            stop_children(children, interrupt=[child for child in children if child.args == _web_command(
                settings.web_port)])


def _web_command(port: int) -> list[str]:
    """Reflex, or (tests only) a stand-in: ATLAS_RUN_WEB_COMMAND, with {port} and {python} filled in."""
    stand_in = os.environ.get("ATLAS_RUN_WEB_COMMAND")
    if stand_in:
        return [arg.format(port=port, python=sys.executable) for arg in shlex.split(stand_in)]
    return web_command(port)


def _run_children(env: dict[str, str], data_dir: Path, children: list[subprocess.Popen[bytes]],
                  workers: int, watchdog: Watchdog) -> int:
    # Lazy: Alembic adds about 0.2 s to every `atlas` start, `--help` included; only migrating needs it.
    from atlas_services.migrations import upgrade

    settings = get_settings()
    atlas = str(Path(sys.executable).with_name("atlas"))
    say("migrating the database ...")
    upgrade()
    made = seed_demo()
    sim_port = _simulator_port(settings)
    children.append(spawn([atlas, "simulator", "--port", str(sim_port)], env, data_dir / "simulator.log", watchdog))
    children.extend(spawn_workers(env, data_dir, workers, watchdog))
    say("building and starting the web UI (the first run builds the frontend: a few minutes) ...")
    web = spawn(_web_command(settings.web_port), env, data_dir / "web.log", watchdog)
    children.append(web)
    if not wait_until_serving(settings.web_port, "/ping", 600, web):
        say(f"error: the web UI did not start; see {data_dir / 'web.log'}", error=True)
        return 1
    url = f"http://{settings.web_host}:{settings.web_port}"
    lines = [f"\nAtlas is running at {url}\n\nDemo logins (tenant {made['tenants'][0]['name']}):"]
    lines += [f"  {user['role']:<9} {user['email']:<28} password: {user['password']}" for user in made["users"]]
    lines.append(f"\nLogs in {data_dir}. Press Ctrl-C to stop everything.")
    say("\n".join(lines))
    dead = watch(children)
    say(f"error: a process stopped unexpectedly: {dead}; see the logs in {data_dir}", error=True)
    return 1


def watch(children: list[subprocess.Popen[bytes]], interval: float = 1.0) -> list[object]:
    """Wait until any child exits (one dying stops them all); returns the commands of those that exited."""
    while all(child.poll() is None for child in children):
        time.sleep(interval)
    return [child.args for child in children if child.poll() is not None]
