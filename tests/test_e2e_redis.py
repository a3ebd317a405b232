"""`[state] backend = "redis://..."` end to end (issue 14): real `uploader` processes, the
sandbox, and a real redis-server (tests/support/redis.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support import redis as redis_support
from tests.support.e2e import CLI, get_json, run_cli, sandbox_process, write_config
from tests.support.images import write_png
from tests.support.redis import Server, client, free_port
from uploader.ratelimit.redis_store import PREFIX

redis_url = redis_support.redis_url  # fixtures: a database of the shared test server
own_redis = redis_support.own_redis  # a server of this test alone

SECRET = "s3cret-redis-pw"


def _config(tmp_path: Path, base: str, backend: str, extra: str = "") -> str:
    state = f'[state]\nbackend = "{backend}"\n{extra}\n'
    return str(write_config(tmp_path / "c.toml", base, defaults=state))


def _files(tmp_path: Path, count: int) -> list[str]:
    return [str(write_png(tmp_path / f"f{i}.png", seed=i)) for i in range(count)]


def _lines(raw: bytes) -> list[str]:
    return [line for line in raw.decode().splitlines() if line]


def _warnings(raw: bytes) -> list[str]:
    return [line for line in _lines(raw) if line.startswith("warning: rate-limit state: ")]


def _stored(url: str) -> dict[str, dict[str, Any]]:
    conn = client(url)
    return {
        key.decode()[len(PREFIX) :]: json.loads(conn.hget(key, "data"))
        for key in conn.keys(PREFIX + "*")
    }


def _stop_redis_mid_batch(
    base: str, own_redis: Server, env: dict[str, str], *args: str
) -> tuple[subprocess.Popen[bytes], bytes, bytes]:
    """Run the CLI with ``args``; stop Redis once two files are stored (requests of the
    batch in flight); the process and its output once it ends."""
    proc = subprocess.Popen(
        [*CLI, *args],
        env={k: v for k, v in os.environ.items() if not k.startswith("UPLOADER_")} | env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while get_json(f"{base}/_sandbox/stats")["uploads_stored"] < 2:
        assert time.monotonic() < deadline
        assert proc.poll() is None
        time.sleep(0.05)
    own_redis.stop()  # mid-batch
    out, err = proc.communicate(timeout=120)
    return proc, out, err


def test_a_batch_uses_redis_and_limits_names_it(
    tmp_path: Path, hermetic_env: dict[str, str], redis_url: str
) -> None:
    with sandbox_process() as base:
        config = _config(tmp_path, base, redis_url)
        done = run_cli(["--config", config, "upload", *_files(tmp_path, 3)], hermetic_env)
        assert done.returncode == 0, done.stderr
        (state,) = _stored(redis_url).values()
        assert state["buckets"]["post"]["remaining"] == 1247
        assert state["reservations"] == []
        # Another host holds credits in flight: `limits` shows them, and the backend.
        conn = client(redis_url)
        (key,) = conn.keys(PREFIX + "*")
        sec, _ = conn.time()
        lease = {"id": "x", "costs": {"post": 5}, "expires": sec + 300, "owner": None}
        state["reservations"] = [{k: v for k, v in lease.items() if v is not None}]
        conn.hset(key, "data", json.dumps(state))
        shown = run_cli(["--config", config, "limits"], hermetic_env)
        as_json = run_cli(["--config", config, "limits", "--json"], hermetic_env)
    assert shown.returncode == 0, shown.stderr
    out = _lines(shown.stdout)
    db = redis_url.rsplit("/", 1)[1]
    port = redis_url.rsplit(":", 1)[1].split("/", maxsplit=1)[0]
    assert out[-1] == f"state: redis://127.0.0.1:{port}/{db} (Redis: the fleet's figures)"
    post = next(line for line in out if "POST bucket" in line)
    assert "1247/1250 left" in post
    assert "; 5 held by requests in flight" in post
    rows = [json.loads(line) for line in _lines(as_json.stdout)]
    (row,) = [r for r in rows if r["bucket"] == "post"]
    assert (row["remaining"], row["held"]) == (1247, 5)
    assert row["state"].startswith(f"redis://127.0.0.1:{port}/{db}")


@pytest.mark.parametrize("jobs", ["1", "4"])
def test_redis_stopped_mid_batch_falls_back_once_and_every_file_is_accounted(
    tmp_path: Path, hermetic_env: dict[str, str], own_redis: Server, jobs: str
) -> None:
    files = _files(tmp_path, 8)
    with sandbox_process("latency=0.3") as base:
        config = _config(tmp_path, base, own_redis.url(0))
        proc, out, err = _stop_redis_mid_batch(
            base, own_redis, hermetic_env, "--config", config, "upload", "--jobs", jobs, *files
        )
        stats = get_json(f"{base}/_sandbox/stats")
    assert proc.returncode == 0, err
    assert len(_lines(out)) == 8  # every file uploaded, each link printed
    assert stats["uploads_stored"] == 8
    assert stats["responses_429"] == 0
    (warning,) = _warnings(err)
    assert warning.startswith(f"warning: rate-limit state: {own_redis.url(0)} unreachable (")
    assert warning.endswith(
        "): using the local file store with a conservative share of the last known budget"
    )
    assert "Traceback" not in err.decode()
    # The local store took over with a quarter of what the fleet had left (1250 - 2 or so).
    shown = run_cli(["--config", config, "limits", "--json"], hermetic_env)
    (row,) = [r for r in map(json.loads, _lines(shown.stdout)) if r["bucket"] == "post"]
    assert row["remaining"] <= 1250 // 4
    assert row["state"].endswith("unreachable, a share of its budget)")
    # Redis is back (empty: no persistence): the next run uses it again, no warning.
    again = Server(own_redis.port)
    try:
        with sandbox_process() as base:
            config = _config(tmp_path, base, again.url(0))
            done = run_cli(["--config", config, "upload", files[0]], hermetic_env)
        assert done.returncode == 0, done.stderr
        assert _warnings(done.stderr) == []
        (state,) = _stored(again.url(0)).values()
        assert state["buckets"]["post"]["remaining"] == 1249
    finally:
        again.stop()


def test_fail_mode_mid_batch_reports_every_file_the_server_stored(
    tmp_path: Path, hermetic_env: dict[str, str], own_redis: Server
) -> None:
    # on_backend_error = "fail" refuses to SEND without Redis; the answers of requests
    # already in flight are not refused: they used to be reported failed ("nothing sent")
    # while the server had stored them, so a rerun would upload them twice.
    files = _files(tmp_path, 12)
    with sandbox_process("latency=0.3") as base:
        config = _config(tmp_path, base, own_redis.url(0), 'on_backend_error = "fail"')
        args = ["--config", config, "upload", "-f", "json", "--jobs", "4", *files]
        proc, out, err = _stop_redis_mid_batch(base, own_redis, hermetic_env, *args)
        stats = get_json(f"{base}/_sandbox/stats")
    rows = [json.loads(line) for line in _lines(out)]
    assert len(rows) == 12
    uploaded = [r for r in rows if r["status"] == "uploaded"]
    assert len(uploaded) == stats["uploads_stored"] < 12
    assert stats["responses_429"] == 0
    assert proc.returncode == 4, err
    assert "Traceback" not in err.decode()
    for row in rows:
        if row["status"] != "uploaded":
            assert row["error"].endswith("nothing sent"), row


@pytest.mark.parametrize("on_error", ["fallback", "fail"])
def test_redis_unreachable_at_start(
    tmp_path: Path, hermetic_env: dict[str, str], on_error: str
) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    with sandbox_process() as base:
        config = _config(tmp_path, base, dead, f'on_backend_error = "{on_error}"')
        done = run_cli(["--config", config, "upload", *_files(tmp_path, 2)], hermetic_env)
        requests = get_json(f"{base}/_sandbox/requests")
    err = done.stderr.decode()
    assert "Traceback" not in err
    if on_error == "fallback":
        assert done.returncode == 0, err
        assert len(_lines(done.stdout)) == 2
        assert len(_warnings(done.stderr)) == 1
    else:
        assert done.returncode == 4, err
        assert requests == []  # nothing sent
        assert _lines(done.stderr)[0].startswith(
            f"error: rate-limit state: {dead} unreachable (Error 111 connecting"
        )
        assert _lines(done.stderr)[0].endswith("): nothing sent")
        assert _lines(done.stderr)[1].startswith("hint: start the Redis server")


def test_rediss_against_a_plain_server_is_refused_not_sent_in_clear(
    tmp_path: Path, hermetic_env: dict[str, str], own_redis: Server
) -> None:
    url = f"rediss://127.0.0.1:{own_redis.port}/0"
    with sandbox_process() as base:
        config = _config(tmp_path, base, url, 'on_backend_error = "fail"')
        done = run_cli(["--config", config, "upload", *_files(tmp_path, 1)], hermetic_env)
        requests = get_json(f"{base}/_sandbox/requests")
    assert done.returncode == 4, done.stderr
    assert requests == []
    first = _lines(done.stderr)[0]
    assert first.startswith(f"error: rate-limit state: {url} unreachable (")
    assert first.endswith(
        "; no TLS handshake: a server without TLS is redis://, not rediss://): nothing sent"
    )
    stats = client(own_redis.url(0)).info("commandstats")
    assert not any(name in stats for name in ("cmdstat_ping", "cmdstat_evalsha", "cmdstat_eval"))


def test_the_password_is_never_printed(
    tmp_path: Path, hermetic_env: dict[str, str], own_redis: Server
) -> None:
    client(own_redis.url(0)).config_set("requirepass", SECRET)
    wrong = f"redis://:{SECRET}-not@127.0.0.1:{own_redis.port}/0"
    right = f"redis://127.0.0.1:{own_redis.port}/0"
    outputs: list[bytes] = []
    with sandbox_process() as base:
        image = _files(tmp_path, 1)
        config = _config(tmp_path, base, wrong)
        for args in (["-vv", "upload", *image], ["limits"], ["limits", "--json"]):
            done = run_cli(["--config", config, *args], hermetic_env)
            outputs += [done.stdout, done.stderr]
            assert done.returncode == 0, done.stderr
        (warning,) = _warnings(outputs[1])
        # Reached, but it refused the password: not "unreachable".
        assert warning.startswith(
            f"warning: rate-limit state: redis://:***@127.0.0.1:{own_redis.port}/0 refused "
            "the login (authentication failed: "
        )
        assert f"redis://:***@127.0.0.1:{own_redis.port}/0" in warning
        shown = run_cli(["--config", config, "config", "show"], hermetic_env)
        assert f'backend = "redis://:***@127.0.0.1:{own_redis.port}/0"' in shown.stdout.decode()
        outputs += [shown.stdout, shown.stderr]
        failing = _config(tmp_path, base, wrong, 'on_backend_error = "fail"')
        done = run_cli(["--config", failing, "-vv", "upload", *image], hermetic_env)
        assert done.returncode == 4
        assert "refused the login (authentication failed: " in done.stderr.decode()
        assert (
            "hint: fix the user or password of [state] backend (the password: in the URL "
            "or UPLOADER_REDIS_PASSWORD)" in done.stderr.decode()
        )
        outputs += [done.stdout, done.stderr]
        # The password from the environment: it works, and is not shown either.
        # (An empty password in the URL, "redis://:@host", is none: the variable's.)
        env = {**hermetic_env, "UPLOADER_REDIS_PASSWORD": SECRET}
        empty = right.replace("redis://", "redis://:@")
        for url in (right, empty):
            config = _config(tmp_path, base, url)
            for args in (["-vv", "upload", *image], ["limits"]):
                done = run_cli(["--config", config, *args], env)
                assert done.returncode == 0, done.stderr
                assert _warnings(done.stderr) == []
                outputs += [done.stdout, done.stderr]
    for raw in outputs:
        assert SECRET.encode() not in raw
    assert _stored(f"redis://:{SECRET}@127.0.0.1:{own_redis.port}/0") != {}


def test_a_user_without_the_commands_is_told_apart_from_a_dead_server(
    tmp_path: Path, hermetic_env: dict[str, str], own_redis: Server
) -> None:
    # An ACL user that may not run scripts: Redis answers, and refuses. The message says
    # so (not "unreachable"), and the hint points at the user's permissions.
    client(own_redis.url(0)).acl_setuser(
        "limited",
        enabled=True,
        passwords=[f"+{SECRET}"],
        keys=["*"],
        commands=["+@all", "-evalsha", "-eval", "-script"],
    )
    url = f"redis://limited:{SECRET}@127.0.0.1:{own_redis.port}/0"
    shown = f"redis://limited:***@127.0.0.1:{own_redis.port}/0"
    with sandbox_process() as base:
        image = _files(tmp_path, 1)
        done = run_cli(["--config", _config(tmp_path, base, url), "upload", *image], hermetic_env)
        assert done.returncode == 0, done.stderr
        (warning,) = _warnings(done.stderr)
        assert warning.startswith(
            f"warning: rate-limit state: {shown} refused access (not authorised: "
        )
        failing = _config(tmp_path, base, url, 'on_backend_error = "fail"')
        refused = run_cli(["--config", failing, "upload", *image], hermetic_env)
        assert refused.returncode == 4
        err = _lines(refused.stderr)
        assert err[0].startswith(f"error: {image[0]}: rate-limit state: {shown} refused access (")
        assert err[1].startswith(
            "hint: give the Redis user of [state] backend the commands it needs (ACL)"
        )
        migrated = run_cli(["--config", failing, "state", "migrate"], hermetic_env)
        assert migrated.returncode == 5
        assert _lines(migrated.stderr)[0].startswith(
            f"error: rate-limit state: {shown} refused access ("
        )
    for raw in (done.stderr, refused.stderr, migrated.stderr):
        assert SECRET.encode() not in raw


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (f"redis://:{SECRET}@127.0.0.1:notaport/0", "is not a valid URL (its port?)"),
        (f"http://:{SECRET}@127.0.0.1:6379/0", "is not a Redis URL (redis:// or rediss://)"),
        (f"redis://:{SECRET}@127.0.0.1:6379/zero", "names no database number"),
    ],
)
def test_a_bad_backend_url_is_a_config_error_without_the_password(
    tmp_path: Path, hermetic_env: dict[str, str], value: str, why: str
) -> None:
    config = _config(tmp_path, "http://127.0.0.1:9", value)
    done = run_cli(["--config", config, "upload", *_files(tmp_path, 1)], hermetic_env)
    assert done.returncode == 2
    err = _lines(done.stderr)
    assert err[0].startswith(f"error: {config}, line ")
    assert why in err[0]
    assert err[1].startswith('hint: use "file", or "redis://HOST:PORT/DB"')
    by_env = run_cli(["limits"], {**hermetic_env, "UPLOADER_STATE_BACKEND": value})
    assert by_env.returncode == 2
    assert _lines(by_env.stderr)[0].startswith("error: environment variable UPLOADER_STATE_")
    for raw in (done.stdout, done.stderr, by_env.stdout, by_env.stderr):
        assert SECRET.encode() not in raw


def _certificates(root: Path) -> tuple[Path, Path, Path]:
    """A CA, and a certificate it signed for 127.0.0.1 with its key (openssl)."""
    ca_key, ca, key, csr, cert = (root / n for n in ("ca.key", "ca.pem", "s.key", "s.csr", "s.pem"))
    ext = root / "ext.cnf"
    ext.write_text("subjectAltName = IP:127.0.0.1\n")
    for args in (
        [
            *("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca),
            *("-days", "2", "-subj", "/CN=uploader test CA"),
        ],
        [
            *("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr),
            *("-subj", "/CN=127.0.0.1"),
        ],
        [
            *("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial"),
            *("-out", cert, "-days", "2", "-extfile", ext),
        ],
    ):
        subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)
    return ca, cert, key


def test_rediss_checks_the_certificate_against_the_trusted_cas(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    if not shutil.which("openssl"):
        pytest.skip("no openssl to make certificates")
    ca, cert, key = _certificates(tmp_path)
    port = free_port()
    tls = ("--tls-port", str(port), "--tls-cert-file", str(cert), "--tls-key-file", str(key))
    tls += ("--tls-auth-clients", "no")
    server = Server(port, "--port", "0", *tls, "--tls-ca-cert-file", str(ca))
    try:
        url = f"rediss://127.0.0.1:{port}/0"
        with sandbox_process() as base:
            config = _config(tmp_path, base, url, 'on_backend_error = "fail"')
            image = _files(tmp_path, 1)
            # Our test CA is not among the bundled ones: refused, nothing sent.
            untrusted = run_cli(["--config", config, "upload", *image], hermetic_env)
            trusted = run_cli(
                ["--config", config, "upload", *image], {**hermetic_env, "SSL_CERT_FILE": str(ca)}
            )
            posts = [r for r in get_json(f"{base}/_sandbox/requests") if r["method"] == "POST"]
        assert untrusted.returncode == 4
        assert "unreachable (TLS failed" in _lines(untrusted.stderr)[0]
        assert "certificate verify failed" in _lines(untrusted.stderr)[0]
        assert "a server without TLS" not in _lines(untrusted.stderr)[0]
        assert trusted.returncode == 0, trusted.stderr
        assert _warnings(trusted.stderr) == []
        assert len(posts) == 1  # the trusted run's only
    finally:
        server.stop()


def test_limits_of_several_profiles_reports_a_dead_redis_once(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    second = '\n[providers.two]\nkind = "imgur"\nclient_id = "other"\n'
    config = _config(tmp_path, "http://127.0.0.1:9", dead)
    Path(config).write_text(Path(config).read_text() + second)
    done = run_cli(["--config", config, "limits"], hermetic_env)
    assert done.returncode == 0, done.stderr
    assert len(_warnings(done.stderr)) == 1
    out = _lines(done.stdout)
    assert out[-1].startswith("state: ")
    assert out[-1].endswith(f"(local file store: {dead} unreachable, a share of its budget)")
