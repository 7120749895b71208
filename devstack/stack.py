"""`python -m devstack up`: every part of Liveloop on one laptop, in the foreground."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import httpx

from devstack import embedded
from devstack.embedded import Proc, StartupError
from devstack.seed import DemoState, SeedError, demo_tokens, seed
from libs.settings import DEV_CARRIER_SECRET, DEV_JWT_SECRET, DEV_WEBHOOK_SECRET
from libs.telemetry.span_file import SPANS_DIR_ENV

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = REPO_ROOT / ".liveloop"
SERVICES: dict[str, int] = {
    "live": 8101,
    "shop": 8102,
    "orders": 8103,
    "aftersales": 8104,
    "local_life": 8105,
}
# The web app (services/web): the pages, made from the services' APIs; what a person opens first.
WEB_PORT = 8100
NATS_PORT = 4222
LOCALSTRIPE_PORT = 8420
HOST = "127.0.0.1"
DATABASE_NAME = "liveloop"
DEV_DEFAULTS: dict[str, str] = {
    "LIVELOOP_NS": "",
    "STRIPE_API_KEY": "sk_test_liveloop",
    "STRIPE_WEBHOOK_SECRET": DEV_WEBHOOK_SECRET,
    "CARRIER_WEBHOOK_SECRET": DEV_CARRIER_SECRET,
    "LIVELOOP_JWT_SECRET": DEV_JWT_SECRET,
    "LIVELOOP_PAYMENT_WINDOW_S": "900",
}


class _Stop(Exception):
    """Raised in the main thread by SIGINT/SIGTERM to unwind and stop everything."""


def say(message: str) -> None:
    """Print a devstack status line."""
    embedded.echo(f"{'devstack':<11}| {message}")


@contextlib.contextmanager
def _signals_stop_us() -> Iterator[None]:
    """Turn the first SIGINT/SIGTERM into _Stop; ignore repeats while we shut down."""

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        # `make` forwards Ctrl-C a second time; a second _Stop would abort the cleanup.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise _Stop(signal.Signals(signum).name)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stop_services(procs: list[Proc], timeout: float = 10.0) -> None:
    """SIGTERM every service in reverse start order, then wait for each (kill if stuck)."""
    for proc in reversed(procs):
        if proc.alive():
            say(f"stopping {proc.name} (pid {proc.pid})")
            with contextlib.suppress(ProcessLookupError):
                proc.popen.terminate()
    for proc in reversed(procs):
        proc.stop(timeout)


@dataclass
class Endpoints:
    """Where each part of the running stack answers."""

    database_url: str
    nats_url: str
    stripe_api_base: str | None
    services: dict[str, str]
    spans_dir: Path | None = None
    web_url: str | None = None


def _write_demo_env(
    path: Path, endpoints: Endpoints, state: DemoState | None, tokens: Mapping[str, str], carrier_secret: str
) -> None:
    """Write shell exports for the README tour (`source .liveloop/demo.env`)."""
    values: dict[str, str] = {f"{name.upper()}_URL": url for name, url in endpoints.services.items()}
    if endpoints.web_url:
        values["WEB_URL"] = endpoints.web_url
    # What the tour signs a carrier's delivery callback with (dev-only, like the tokens).
    values["CARRIER_WEBHOOK_SECRET"] = carrier_secret
    # Deliberately no DATABASE_URL / NATS_URL / STRIPE_API_BASE: once sourced, they would
    # make the next `make up` in that shell use this run's (then stopped) servers.
    if state is not None:
        values["MERCHANT_ID"] = state.merchant_id or ""
        values["PRODUCT_ID"] = state.product_id or ""
        for name, sku_id in state.sku_ids.items():
            values[f"SKU_{name.upper()}_ID"] = sku_id
        values["ROOM_ID"] = state.room_id or ""
        values["STORE_ID"] = state.store_id or ""
        values["DEAL_ID"] = state.deal_id or ""
    for role, token in tokens.items():
        values[f"{role.upper()}_TOKEN"] = token
    lines = ["# Written by `make up`; tokens are dev-only and expire in 24 h."]
    lines += [f"export {key}={shlex.quote(value)}" for key, value in values.items()]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)


# Where this run's servers answer, for tools run beside it (`python -m devstack.invariants`): a file rather than
# demo.env exports, which would point a later `make up` in the same shell at this run's stopped servers.
STACK_FILE = "stack.json"


def _write_stack_file(path: Path, endpoints: Endpoints, namespace: str) -> None:
    """Write this run's database, NATS, namespace and Stripe addresses (read by `devstack.invariants`)."""
    values = {
        "database_url": endpoints.database_url,
        "nats_url": endpoints.nats_url,
        "namespace": namespace,
        "stripe_api_base": endpoints.stripe_api_base or "",
    }
    path.write_text(json.dumps(values, indent=2) + "\n")
    path.chmod(0o600)


def _summary(
    endpoints: Endpoints,
    state: DemoState | None,
    tokens: Mapping[str, str],
    env_file: Path,
) -> str:
    """The banner printed once the stack is ready."""
    out = ["", "Liveloop is up. Ctrl-C stops everything.", ""]
    if endpoints.web_url:
        out += [f"  Open {endpoints.web_url} and sign in (a demo user of each role).", ""]
    out.append(f"  {'service':<12}{'url':<28}OpenAPI")
    for name, url in endpoints.services.items():
        out.append(f"  {name:<12}{url:<28}{url}/schema")
    out.append(f"  {'stripe':<12}{endpoints.stripe_api_base or '(real Stripe)'}")
    out.append(f"  {'nats':<12}{endpoints.nats_url}")
    out.append(f"  {'postgres':<12}{_redact(endpoints.database_url)}")
    if endpoints.spans_dir is not None:
        out.append(f"  {'spans':<12}{_display(endpoints.spans_dir):<28}liveloop trace <order_id>")
    if state is not None:
        out += ["", "Demo data:"]
        out.append(f"  merchant_id  {state.merchant_id}  (Demo Outfitters)")
        skus = ", ".join(f"{n}={i}" for n, i in state.sku_ids.items())
        out.append(f"  product_id   {state.product_id}  (Linen Shirt; SKUs {skus})")
        out.append(f"  room_id      {state.room_id}  (Summer drop)")
        out.append(f"  store_id     {state.store_id}  (Demo Outfitters Studio)")
        out.append(f"  deal_id      {state.deal_id}  (Personal styling session)")
    if tokens:
        out += ["", "Dev tokens (24 h):"]
        out += [f"  {role.upper()}_TOKEN={token}" for role, token in tokens.items()]
    out += ["", f"Shell exports: source {_display(env_file)}", ""]
    return "\n".join(out)


def _redact(dsn: str) -> str:
    """The DSN with any password replaced by ***."""
    parts = urllib.parse.urlsplit(dsn)
    if not parts.password:
        return dsn
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _display(path: Path) -> str:
    """Path relative to the repo when possible, for friendlier output."""
    with contextlib.suppress(ValueError):
        return str(path.relative_to(REPO_ROOT))
    return str(path)


def port_for(what: str, preferred: int) -> int:
    """`preferred` if nothing listens there on HOST; otherwise a free port, and a line saying which."""
    if not embedded.tcp_reachable(HOST, preferred):
        return preferred
    port = embedded.free_port()
    say(f"port {preferred} is taken; {what} listens on {HOST}:{port} instead")
    return port


def _ensure_ports_free(ports: Mapping[str, int]) -> None:
    """Refuse to start if a service port is taken (often: another `make up` is running)."""
    taken = [f"{name} ({port})" for name, port in ports.items() if embedded.tcp_reachable(HOST, port)]
    if taken:
        raise StartupError(f"ports already in use: {', '.join(taken)}. Is another `make up` running?")


def up(
    data_dir: Path = DEFAULT_DATA_DIR,
    *,
    do_seed: bool = True,
    ready_timeout: float = 60.0,
) -> int:
    """Start the whole stack, seed the demo, print where everything is, and run until stopped."""
    data_dir = data_dir.resolve()
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = {**DEV_DEFAULTS, **os.environ}
    services: list[Proc] = []
    # Signal handling wraps the ExitStack so it is still ours while things are stopped.
    with _signals_stop_us(), contextlib.ExitStack() as cleanup:
        try:
            _ensure_ports_free({"web": WEB_PORT, **SERVICES})

            database_url = os.environ.get("DATABASE_URL")
            if database_url:
                say("using DATABASE_URL from the environment")
            else:
                say(f"starting embedded Postgres in {_display(data_dir / 'pg')}")
                pg = embedded.start_postgres(data_dir / "pg")
                if pg.set_aside is not None:
                    say(
                        f"PostgreSQL {embedded.postgres_major()} cannot open the database an older PostgreSQL left "
                        f"in {_display(data_dir / 'pg')} (pgserver's 16, used before): moved it to "
                        f"{_display(pg.set_aside)} and started an empty one. Delete that directory once you no "
                        f"longer need its data."
                    )
                cleanup.callback(_announce_and, "stopping Postgres", pg.stop)
                database_url = embedded.ensure_database(pg.dsn, DATABASE_NAME)

            nats_url = os.environ.get("NATS_URL")
            if nats_url:
                say("using NATS_URL from the environment")
            else:
                nats = embedded.start_nats(data_dir / "nats", port_for("NATS", NATS_PORT))
                cleanup.callback(_announce_and, f"stopping NATS (pid {nats.pid})", nats.stop)
                nats_url = nats.url
                say(f"NATS JetStream at {nats_url}")

            stripe_base = os.environ.get("STRIPE_API_BASE")
            if stripe_base:
                say(f"using STRIPE_API_BASE={stripe_base} from the environment")
            else:
                stripe = embedded.start_localstripe(
                    port_for("localstripe", LOCALSTRIPE_PORT), log_dir=logs, state_file=data_dir / "localstripe.pickle"
                )
                cleanup.callback(_announce_and, f"stopping localstripe (pid {stripe.pid})", stripe.stop)
                stripe_base = stripe.url
                say(f"localstripe at {stripe_base}")
            webhook_url = f"http://{HOST}:{SERVICES['orders']}/stripe/webhook"
            try:
                embedded.register_webhook(stripe_base, webhook_url, env["STRIPE_WEBHOOK_SECRET"])
            except StartupError as exc:
                say(f"warning: {exc} (payments will not be confirmed by webhook)")

            # Every service writes its spans to a file of its own there; `liveloop trace <order_id>` reads them.
            spans_dir = Path(env.get(SPANS_DIR_ENV) or data_dir / "spans")
            env.update(
                DATABASE_URL=database_url,
                NATS_URL=nats_url,
                STRIPE_API_BASE=stripe_base,
                PYTHONUNBUFFERED="1",
                PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
            )
            env[SPANS_DIR_ENV] = str(spans_dir)
            cleanup.callback(_stop_services, services)
            width = max(len(name) for name in SERVICES)
            for name, port in SERVICES.items():
                argv = [*embedded.liveloop_argv(), "serve", name, "--host", HOST, "--port", str(port)]
                services.append(
                    embedded.spawn(
                        name,
                        argv,
                        logs / f"{name}.log",
                        url=f"http://{HOST}:{port}",
                        env=env,
                        cwd=REPO_ROOT,
                        echo_prefix=f"{name:<{width}} | ",
                    )
                )
            # The web app: the services' URLs, and the demo ids file the dev sign-in reads (written by the seed below,
            # read at each visit of /sign-in).
            web_env = {
                **env,
                **{f"LIVELOOP_{name.upper()}_URL": f"http://{HOST}:{port}" for name, port in SERVICES.items()},
                "LIVELOOP_DEMO_FILE": str(data_dir / "demo.json"),
            }
            web = embedded.spawn(
                "web",
                [*embedded.liveloop_argv(), "serve", "web", "--host", HOST, "--port", str(WEB_PORT)],
                logs / "web.log",
                url=f"http://{HOST}:{WEB_PORT}",
                env=web_env,
                cwd=REPO_ROOT,
                echo_prefix=f"{'web':<{width}} | ",
            )
            services.append(web)
            embedded.wait_ready(services, ready_timeout, lambda proc: say(f"{proc.name} is ready at {proc.url}"))

            endpoints = Endpoints(
                database_url=database_url,
                nats_url=nats_url,
                stripe_api_base=stripe_base,
                services={p.name: p.url for p in services if p is not web},
                spans_dir=spans_dir,
                web_url=web.url,
            )
            state: DemoState | None = None
            if do_seed:
                try:
                    state = seed(
                        endpoints.services,
                        data_dir / "demo.json",
                        env["LIVELOOP_JWT_SECRET"],
                    )
                except (SeedError, httpx.HTTPError, KeyError, TypeError, ValueError) as exc:
                    say(f"seeding the demo failed, the stack keeps running: {exc}")
            tokens = _tokens(state, env["LIVELOOP_JWT_SECRET"])
            env_file = data_dir / "demo.env"
            _write_demo_env(env_file, endpoints, state, tokens, env["CARRIER_WEBHOOK_SECRET"])
            _write_stack_file(data_dir / STACK_FILE, endpoints, env["LIVELOOP_NS"])
            embedded.echo(_summary(endpoints, state, tokens, env_file))

            while True:
                for proc in services:
                    if not proc.alive():
                        say(
                            f"{proc.name} exited with code {proc.popen.returncode}; stopping the stack. "
                            f"Log {proc.log_path}:\n{proc.log_tail()}"
                        )
                        return 1
                time.sleep(0.5)
        except _Stop as stop:
            say(f"{stop} received, stopping")
            return 0
        except StartupError as exc:
            say(f"startup failed: {exc}")
            return 1
        finally:
            # A signal arriving while the ExitStack unwinds must not cut the cleanup short.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
    return 0


def _announce_and(message: str, stop: Callable[[], None]) -> None:
    """Print what we are stopping, then stop it."""
    say(message)
    stop()


def _tokens(state: DemoState | None, secret: str) -> dict[str, str]:
    """Fresh demo tokens, or none if libs.auth is not importable yet."""
    try:
        return demo_tokens(state or DemoState(), secret)
    except ImportError as exc:
        say(f"cannot mint tokens yet ({exc})")
        return {}
