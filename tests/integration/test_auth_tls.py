"""Basic auth, bearer tokens, TLS and mTLS, end to end with the real Pushgateway.

``prometheus-pushgateway --web.config.file`` (the Prometheus exporter toolkit)
checks bcrypt-hashed basic-auth passwords and serves TLS, optionally requiring
a client certificate. A throwaway CA, a server certificate for 127.0.0.1 and a
client certificate are made with the ``openssl`` command. The Pushgateway has
no bearer-token auth: those tests use the local recording server and look at
the ``Authorization`` header it received.

Secrets (password, token) must reach the gateway and nothing else: not stdout,
not stderr (not even with ``-v``), not the spool, not the stored metrics.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import importlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path

import pytest
import requests

import pushrestic
from tests import cli
from tests.conftest import IN_CI, require_binary
from tests.faulty_server import Answer, FaultyServer
from tests.integration.servers import Pushgateway

LOG = Path(pushrestic.__file__).parent / "examples" / "restic-backup.log"
USER = "backup"
PASSWORD = "correct-horse-9f3a1c"  # a throwaway test secret
TOKEN = "tok-5d1e7b0c2a"  # a throwaway test secret
# Users whose passwords are not ASCII: htpasswd and the exporter toolkit take them as UTF-8.
UNICODE_USERS = {"latin": "pässwörd-7c2e", "euro": "preis-€-7c2e"}
QUICK = ("--deadline", "5", "--timeout", "2")

pytestmark = pytest.mark.integration


# -- secrets and certificates -----------------------------------------------------


def bcrypt_hash(password: str) -> str:
    """A bcrypt hash of ``password``, as ``basic_auth_users`` wants it.

    From Python's ``bcrypt`` module if installed, else ``htpasswd -nbBC 10``
    (apache2-utils), else libxcrypt's ``crypt()`` (Debian's libcrypt1, which
    every Debian system has) through ctypes.
    """
    try:
        module = importlib.import_module("bcrypt")
    except ImportError:
        pass
    else:
        return str(module.hashpw(password.encode(), module.gensalt(10)).decode())
    htpasswd = shutil.which("htpasswd")
    if htpasswd is not None:
        done = subprocess.run(
            [htpasswd, "-nbBC", "10", USER, password],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return done.stdout.strip().split(":", 1)[1]
    name = ctypes.util.find_library("crypt")
    if name is not None:
        libcrypt = ctypes.CDLL(name)
        libcrypt.crypt_gensalt.restype = ctypes.c_char_p
        libcrypt.crypt_gensalt.argtypes = [
            ctypes.c_char_p,
            ctypes.c_ulong,
            ctypes.c_char_p,
            ctypes.c_int,
        ]
        libcrypt.crypt.restype = ctypes.c_char_p
        libcrypt.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        salt = libcrypt.crypt_gensalt(b"$2b$", 10, None, 0)
        hashed = libcrypt.crypt(password.encode(), salt) if salt else None
        if isinstance(hashed, bytes) and hashed.startswith(b"$2b$10$"):
            return hashed.decode()
    message = "no bcrypt: install the Python bcrypt module or apache2-utils (htpasswd)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@dataclass(frozen=True, slots=True)
class Pki:
    """A throwaway CA, a server certificate for 127.0.0.1 and a client certificate."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    stranger_cert: Path  # a client certificate from another CA
    stranger_key: Path


def openssl(*args: str, cwd: Path) -> None:
    done = subprocess.run(
        [require_binary("openssl"), *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, f"openssl {' '.join(args)}:\n{done.stderr}"


def make_ca(directory: Path, name: str) -> None:
    openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2",
        "-subj", f"/CN=pushrestic test {name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )  # fmt: skip


def make_leaf(directory: Path, name: str, ca: str, extensions: str) -> None:
    (directory / f"{name}.ext").write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid,issuer\n" + extensions
    )
    openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}",
        cwd=directory,
    )  # fmt: skip
    openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
        "-CAcreateserial", "-days", "2", "-out", f"{name}.crt", "-extfile", f"{name}.ext",
        cwd=directory,
    )  # fmt: skip


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    make_ca(directory, "ca")
    make_ca(directory, "other-ca")
    make_leaf(
        directory, "server", "ca", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
    )
    make_leaf(directory, "client", "ca", "extendedKeyUsage=clientAuth\n")
    make_leaf(directory, "stranger", "other-ca", "extendedKeyUsage=clientAuth\n")
    return Pki(
        ca=directory / "ca.crt",
        server_cert=directory / "server.crt",
        server_key=directory / "server.key",
        client_cert=directory / "client.crt",
        client_key=directory / "client.key",
        stranger_cert=directory / "stranger.crt",
        stranger_key=directory / "stranger.key",
    )


# -- the real Pushgateway -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Gateway:
    """A running Pushgateway and a requests session that may read it."""

    url: str
    client: requests.Session

    def metrics(self) -> str:
        """The ``/metrics`` text, read with the right credentials."""
        response = self.client.get(self.url + "/metrics", timeout=5)
        response.raise_for_status()
        return response.text

    def has_group(self, instance: str) -> bool:
        """Whether the group of ``instance`` (location and backend default) was pushed."""
        wanted = f'instance="{instance}"'
        return any(
            line.startswith("restic_backup_success{") and wanted in line
            for line in self.metrics().splitlines()
        )


class SecuredPushgateway(Pushgateway):
    """``prometheus-pushgateway`` with ``--web.config.file`` (TLS, basic auth), in memory
    only; ready once ``client``, which has the right credentials, gets 2xx."""

    def __init__(self, workdir: Path, web_config: str, client: requests.Session) -> None:
        super().__init__(workdir)
        self.web_config = workdir / "web.yml"
        self.web_config.write_text(web_config)
        self.client = client
        self.scheme = "https" if "tls_server_config" in web_config else "http"

    def arguments(self) -> list[str]:
        return [f"--web.config.file={self.web_config}", "--persistence.file="]

    def ready(self) -> bool:
        try:
            return self.client.get(self.url + self.ready_path, timeout=1).ok
        except requests.RequestException:
            return False


@contextlib.contextmanager
def running_gateway(workdir: Path, web_config: str, client: requests.Session) -> Iterator[Gateway]:
    """A secured Pushgateway on a free 127.0.0.1 port, stopped (bounded) at the end."""
    server = SecuredPushgateway(workdir, web_config, client)
    try:
        with server:
            yield Gateway(server.url, client)
    finally:
        client.close()


def direct_session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxy between the test and its own server
    return session


@pytest.fixture(scope="module")
def basic_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """Plain HTTP, basic auth: USER with PASSWORD."""
    client = direct_session()
    client.auth = (USER, PASSWORD)
    users = {USER: PASSWORD, **UNICODE_USERS}
    config = "basic_auth_users:\n" + "".join(
        f"  {user}: {json.dumps(bcrypt_hash(password))}\n" for user, password in users.items()
    )
    with running_gateway(tmp_path_factory.mktemp("basic"), config, client) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def tls_gateway(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """HTTPS with the server certificate of the test CA."""
    client = direct_session()
    client.verify = str(pki.ca)
    config = f"tls_server_config:\n  cert_file: {pki.server_cert}\n  key_file: {pki.server_key}\n"
    with running_gateway(tmp_path_factory.mktemp("tls"), config, client) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def mtls_gateway(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """HTTPS that requires a client certificate signed by the test CA."""
    client = direct_session()
    client.verify = str(pki.ca)
    client.cert = (str(pki.client_cert), str(pki.client_key))
    config = (
        "tls_server_config:\n"
        f"  cert_file: {pki.server_cert}\n"
        f"  key_file: {pki.server_key}\n"
        "  client_auth_type: RequireAndVerifyClientCert\n"
        f"  client_ca_file: {pki.ca}\n"
    )
    with running_gateway(tmp_path_factory.mktemp("mtls"), config, client) as gateway:
        yield gateway


# -- pushrestic -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ran(cli.Ran):
    """A pushrestic run and the spool directory it was given."""

    spool: Path

    def spool_text(self) -> str:
        """Everything in the spool directory, as text."""
        if not self.spool.is_dir():
            return ""
        return "".join(
            path.read_text(errors="replace") for path in self.spool.rglob("*") if path.is_file()
        )

    def spooled(self) -> int:
        return len(list(self.spool.glob("*.json"))) if self.spool.is_dir() else 0

    def shows(self, secret: str) -> bool:
        """Whether ``secret`` is anywhere in stdout, stderr or the spool."""
        return secret in self.stdout or secret in self.stderr or secret in self.spool_text()


def run(
    command: str,
    url: str,
    spool: Path,
    *args: str,
    env: dict[str, str] | None = None,
    instance: str = "host1",
) -> Ran:
    """``python -m pushrestic COMMAND`` to ``url`` with ``-v``, so that secrets are looked for
    in the log too (``-v`` would also show the traceback of an internal error: that fails)."""
    log = (str(LOG),) if command == "push" else ()
    ran = cli.pushrestic(
        "-v", command, *log, "--gateway", url, "--spool-dir", str(spool), *args,
        *(("--instance", instance) if command == "push" else ()),
        env=env,
    )  # fmt: skip
    return Ran(**{field.name: getattr(ran, field.name) for field in fields(ran)}, spool=spool)


def instance_of(request: pytest.FixtureRequest) -> str:
    """A grouping ``instance`` of the test's own, so tests sharing a gateway never mix."""
    name = str(request.node.name)
    return name.replace("[", "-").replace("]", "")


def secret_file(directory: Path, secret: str) -> Path:
    path = directory / "secret"
    path.write_text(secret + "\n")
    path.chmod(0o600)
    return path


# -- basic auth ---------------------------------------------------------------------


@pytest.mark.parametrize("source", ["from-the-environment", "from-a-file"])
def test_basic_auth_with_the_right_password_delivers_the_report_and_shows_it_nowhere(
    source: str, basic_gateway: Gateway, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    instance = instance_of(request)
    env: dict[str, str] = {}
    args: tuple[str, ...] = ()
    if source == "from-the-environment":
        env = {"PUSHRESTIC_PASSWORD": PASSWORD}
    else:
        args = ("--password-file", str(secret_file(tmp_path, PASSWORD)))
    ran = run(
        "push", basic_gateway.url, tmp_path / "spool", "--basic-auth-user", USER, *args, *QUICK,
        env=env, instance=instance,
    )  # fmt: skip
    assert ran.code == 0, ran.stderr
    assert basic_gateway.has_group(instance)
    assert ran.spooled() == 0
    assert not ran.shows(PASSWORD)
    assert PASSWORD not in basic_gateway.metrics()


@pytest.mark.parametrize("user", sorted(UNICODE_USERS))
def test_a_password_that_is_not_ascii_is_sent_as_utf8_and_delivers_the_report(
    user: str, basic_gateway: Gateway, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    instance = instance_of(request)
    password = UNICODE_USERS[user]
    ran = run(
        "push", basic_gateway.url, tmp_path / "spool", "--basic-auth-user", user, *QUICK,
        env={"PUSHRESTIC_PASSWORD": password}, instance=instance,
    )  # fmt: skip
    assert ran.code == 0, ran.stderr
    assert basic_gateway.has_group(instance)
    assert not ran.shows(password)


def test_a_wrong_password_exits_75_with_a_401_is_not_retried_and_is_shown_nowhere(
    basic_gateway: Gateway, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    instance = instance_of(request)
    wrong = "wrong-" + PASSWORD[::-1]
    ran = run(
        "push", basic_gateway.url, tmp_path / "spool", "--basic-auth-user", USER,
        "--attempts", "5", "--deadline", "20", "--timeout", "2",
        env={"PUSHRESTIC_PASSWORD": wrong}, instance=instance,
    )  # fmt: skip
    assert ran.code == 75, ran.stderr
    (error,) = ran.error_lines()
    assert "HTTP 401" in error
    assert "retrying" not in ran.stderr, "401 is permanent: one attempt, no retry storm"
    assert ran.spooled() == 1, "the report is kept for a later flush"
    assert not ran.shows(wrong)
    assert not ran.shows(PASSWORD)
    assert not basic_gateway.has_group(instance)
    assert wrong not in basic_gateway.metrics()


def test_a_report_refused_for_a_wrong_password_is_flushed_with_the_right_one(
    basic_gateway: Gateway, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    instance = instance_of(request)
    spool = tmp_path / "spool"
    first = run(
        "push", basic_gateway.url, spool, "--basic-auth-user", USER, *QUICK,
        env={"PUSHRESTIC_PASSWORD": "not-the-password"}, instance=instance,
    )  # fmt: skip
    assert first.code == 75, first.stderr
    flushed = run(
        "flush", basic_gateway.url, spool, "--basic-auth-user", USER,
        "--password-file", str(secret_file(tmp_path, PASSWORD)), *QUICK,
    )  # fmt: skip
    assert flushed.code == 0, flushed.stderr
    assert basic_gateway.has_group(instance)
    assert flushed.spooled() == 0
    assert not flushed.shows(PASSWORD)


# -- bearer token (the recording server: the Pushgateway has no bearer auth) --------------


@pytest.mark.parametrize("source", ["from-the-environment", "from-a-file"])
def test_a_bearer_token_is_sent_in_the_authorization_header_and_shown_nowhere(
    source: str, tmp_path: Path
) -> None:
    env: dict[str, str] = {}
    args: tuple[str, ...] = ()
    if source == "from-the-environment":
        env = {"PUSHRESTIC_BEARER_TOKEN": TOKEN}
    else:
        args = ("--bearer-token-file", str(secret_file(tmp_path, TOKEN)))
    spool = tmp_path / "spool"
    with FaultyServer() as server:
        server.script(Answer(401, "invalid token"))
        refused = run("push", server.url, spool, *args, *QUICK, env=env)
        assert refused.code == 75, refused.stderr
        assert "HTTP 401: invalid token" in refused.error_lines()[0]
        assert refused.spooled() == 1
        assert not refused.shows(TOKEN)

        flushed = run("flush", server.url, spool, *args, *QUICK, env=env)
        assert flushed.code == 0, flushed.stderr
        assert flushed.spooled() == 0
        assert not flushed.shows(TOKEN)
        puts = server.pushes()
    assert len(puts) == 2
    assert all(put.header("Authorization") == f"Bearer {TOKEN}" for put in puts)


def test_a_bearer_token_with_a_trailing_newline_in_the_environment_is_shown_nowhere(
    tmp_path: Path,
) -> None:
    with FaultyServer() as server:
        ran = run(
            "push", server.url, tmp_path / "spool", *QUICK,
            env={"PUSHRESTIC_BEARER_TOKEN": TOKEN + "\n"},
        )  # fmt: skip
        sent = [put.header("Authorization") for put in server.pushes()]
    assert not ran.shows(TOKEN), ran.stderr
    assert ran.code in (0, 2, 75), ran.stderr
    assert sent in ([], [f"Bearer {TOKEN}"])


# -- TLS ----------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["ca-file-flag", "ca-file-environment"])
def test_a_gateway_certificate_from_the_given_ca_bundle_is_trusted(
    source: str, tls_gateway: Gateway, pki: Pki, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    instance = instance_of(request)
    env: dict[str, str] = {}
    args: tuple[str, ...] = ()
    if source == "ca-file-flag":
        args = ("--ca-file", str(pki.ca))
    else:
        env = {"PUSHRESTIC_CA_FILE": str(pki.ca)}
    ran = run(
        "push", tls_gateway.url, tmp_path / "spool", *args, *QUICK, env=env, instance=instance
    )
    assert ran.code == 0, ran.stderr
    assert tls_gateway.has_group(instance)


def test_without_the_ca_the_gateway_is_refused_with_a_tls_error_and_flushed_with_it(
    tls_gateway: Gateway, pki: Pki, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    instance = instance_of(request)
    spool = tmp_path / "spool"
    ran = run("push", tls_gateway.url, spool, *QUICK, instance=instance)
    assert ran.code == 75, ran.stderr
    (error,) = ran.error_lines()
    assert "TLS error" in error
    assert "certificate verify failed" in error
    assert "retrying" not in ran.stderr, "a certificate that does not verify stays so"
    assert ran.spooled() == 1
    assert not tls_gateway.has_group(instance)

    flushed = run("flush", tls_gateway.url, spool, "--ca-file", str(pki.ca), *QUICK)
    assert flushed.code == 0, flushed.stderr
    assert tls_gateway.has_group(instance)


def test_insecure_delivers_without_verifying_and_warns_on_stderr(
    tls_gateway: Gateway, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    instance = instance_of(request)
    ran = run("push", tls_gateway.url, tmp_path / "spool", "--insecure", *QUICK, instance=instance)
    assert ran.code == 0, ran.stderr
    assert tls_gateway.has_group(instance)
    warnings = [line for line in ran.stderr.splitlines() if "pushrestic: warning: " in line]
    assert any("verification is off" in line and "--insecure" in line for line in warnings)
    assert "InsecureRequestWarning" not in ran.stderr


# -- mutual TLS ---------------------------------------------------------------------------


def test_a_client_certificate_from_the_gateways_ca_is_accepted(
    mtls_gateway: Gateway, pki: Pki, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    instance = instance_of(request)
    ran = run(
        "push", mtls_gateway.url, tmp_path / "spool", "--ca-file", str(pki.ca),
        "--client-cert", str(pki.client_cert), "--client-key", str(pki.client_key), *QUICK,
        instance=instance,
    )  # fmt: skip
    assert ran.code == 0, ran.stderr
    assert mtls_gateway.has_group(instance)


@pytest.mark.parametrize("certificate", ["none", "from-another-ca"])
def test_a_gateway_requiring_a_client_certificate_refuses_a_push_without_a_valid_one(
    certificate: str,
    mtls_gateway: Gateway,
    pki: Pki,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    instance = instance_of(request)
    args: tuple[str, ...] = ()
    if certificate == "from-another-ca":
        args = ("--client-cert", str(pki.stranger_cert), "--client-key", str(pki.stranger_key))
    ran = run(
        "push", mtls_gateway.url, tmp_path / "spool", "--ca-file", str(pki.ca), *args,
        "--deadline", "2", "--timeout", "1", instance=instance,
    )  # fmt: skip
    assert ran.code == 75, ran.stderr
    assert len(ran.error_lines()) == 1
    assert ran.spooled() == 1
    assert not mtls_gateway.has_group(instance)
