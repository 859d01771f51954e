"""Starting and supervising Atlas's processes: worker, web, simulator, and `atlas run` for all of them."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from atlas_cli.demo import seed_demo
from atlas_cli.embedded import embedded_database
from atlas_services.config import get_settings, refuse_development_key
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


def spawn(args: list[str], env: dict[str, str], log_path: Path | None = None) -> subprocess.Popen[bytes]:
    """Start a child in its own process group (so stopping it stops its children too)."""
    out = open(log_path, "ab") if log_path else None
    return subprocess.Popen(args, cwd=ROOT, env=env, start_new_session=True, stdout=out, stderr=out)


def spawn_workers(env: dict[str, str], data_dir: Path, count: int) -> list[subprocess.Popen[bytes]]:
    """``count`` `atlas worker` processes, each in its own process group with its own log (worker-N.log).

    Processes, not more threads in one: a worker that dies (a crash, an OOM kill) takes only its own runs with it,
    and the reaper in the survivors fails those (run.worker_lost).
    """
    atlas = str(Path(sys.executable).with_name("atlas"))
    return [spawn([atlas, "worker"], env, data_dir / f"worker-{number}.log") for number in range(1, count + 1)]


def run_all(workers: int = 1) -> int:
    """`atlas run`: the embedded default of DESIGN.md §11, with ``workers`` worker processes."""
    signal.signal(signal.SIGTERM, _interrupt)
    settings = get_settings()
    refuse_development_key(settings)  # the worker and web children would refuse it too, after a database start
    data_dir = Path(settings.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    env = web_environment()
    env.setdefault("ATLAS_SIMULATOR_URL", settings.simulator_url)
    env.setdefault("ATLAS_DEFAULT_CLOUD", "simulator")  # the demo's connections live in the simulator
    children: list[subprocess.Popen[bytes]] = []
    with embedded_database(settings.database_url, data_dir / "postgres") as database_url:
        env["ATLAS_DATABASE_URL"] = os.environ["ATLAS_DATABASE_URL"] = database_url
        get_settings.cache_clear()
        try:
            return _run_children(env, data_dir, children, workers)
        finally:
            for child in reversed(children):
                stop_process_group(child)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _run_children(env: dict[str, str], data_dir: Path, children: list[subprocess.Popen[bytes]],
                  workers: int) -> int:
    # Lazy: Alembic adds about 0.2 s to every `atlas` start, `--help` included; only migrating needs it.
    from atlas_services.migrations import upgrade

    settings = get_settings()
    atlas = str(Path(sys.executable).with_name("atlas"))
    print("migrating the database ...", flush=True)
    upgrade()
    made = seed_demo()
    sim_port = int(settings.simulator_url.rsplit(":", 1)[1].split("/")[0])
    children.append(spawn([atlas, "simulator", "--port", str(sim_port)], env, data_dir / "simulator.log"))
    children.extend(spawn_workers(env, data_dir, workers))
    print("building and starting the web UI (the first run builds the frontend: a few minutes) ...", flush=True)
    web = spawn(web_command(settings.web_port), env, data_dir / "web.log")
    children.append(web)
    if not wait_until_serving(settings.web_port, "/ping", 600, web):
        print(f"error: the web UI did not start; see {data_dir / 'web.log'}", file=sys.stderr)
        return 1
    url = f"http://{settings.web_host}:{settings.web_port}"
    print(f"\nAtlas is running at {url}\n\nDemo logins (tenant {made['tenants'][0]['name']}):")
    for user in made["users"]:
        print(f"  {user['role']:<9} {user['email']:<28} password: {user['password']}")
    print(f"\nLogs in {data_dir}. Press Ctrl-C to stop everything.", flush=True)
    try:
        dead = watch(children)
    except KeyboardInterrupt:
        print("\nstopping ...", flush=True)
        return 0
    print(f"error: a process stopped unexpectedly: {dead}; see the logs in {data_dir}", file=sys.stderr)
    return 1


def watch(children: list[subprocess.Popen[bytes]], interval: float = 1.0) -> list[object]:
    """Wait until any child exits (one dying stops them all); returns the commands of those that exited."""
    while all(child.poll() is None for child in children):
        time.sleep(interval)
    return [child.args for child in children if child.poll() is not None]
