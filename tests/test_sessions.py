"""Sign-in that any replica can check (issue 22): signed cookies, idle expiry, sign-out everywhere,
the users file followed as it changes, and the secret every replica shares. Two `Sessions` objects
on the same secret and sign-out file stand for two replicas here; tests/test_replicas.py runs two
real `assistant serve` processes."""

from __future__ import annotations

import json
import os
import stat

import pytest

from assistant.app.api_keys import ApiKeys, add_api_key
from assistant.app.auth import UserStore, add_user
from assistant.app.session_secret import WeakSecret, session_secret
from assistant.app.signouts import FileSignOuts
from assistant.core.settings import Settings
from assistant.web.sessions import Sessions

SECRET = b"s" * 48


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def replicas(tmp_path, clock_a=None, clock_b=None, users=None, **kw):
    """Two replicas' sessions: the same secret and the same sign-out file, each its own clock."""
    signouts = tmp_path / "users.signouts.json"
    a = Sessions(SECRET, 3600, FileSignOuts(signouts), users, clock=clock_a or Clock(), **kw)
    b = Sessions(SECRET, 3600, FileSignOuts(signouts), users, clock=clock_b or Clock(), **kw)
    return a, b


def test_a_cookie_from_one_replica_signs_in_on_another(tmp_path):
    a, b = replicas(tmp_path)
    token = a.create("kari")
    assert b.user(token) == "kari"
    assert Sessions(b"x" * 48, 3600).user(token) is None  # another secret: a stranger


def test_an_altered_or_malformed_cookie_is_refused(tmp_path):
    a, _ = replicas(tmp_path)
    version, body, mac = a.create("kari").split(".")
    forged = json.dumps({"u": "ola", "iat": 1_800_000_000.0, "seen": 1_800_000_000.0}).encode()
    import base64
    forged_body = base64.urlsafe_b64encode(forged).rstrip(b"=").decode()
    for token in (f"{version}.{forged_body}.{mac}", f"v2.{body}.{mac}", f"{version}.{body}", "", "...", "v1.!!.!!", None):
        assert a.user(token) is None, token


def test_an_idle_session_ends_and_an_active_one_is_renewed(tmp_path):
    clock = Clock()
    a, _ = replicas(tmp_path, clock_a=clock, refresh_s=60)
    token = a.create("kari")
    clock.now += 30
    assert a.resolve(token) == ("kari", None)  # recent enough: no new cookie
    clock.now += 60
    user, renewed = a.resolve(token)
    assert user == "kari" and renewed
    clock.now += 3600 - 10  # idle for almost the limit since the renewal, 3,680 s since the first
    assert a.user(token) is None  # the old cookie has expired
    assert a.user(renewed) == "kari"  # the renewed one has not
    clock.now += 11
    assert a.user(renewed) is None


def test_sign_out_on_one_replica_ends_the_session_on_every_replica(tmp_path):
    a, b = replicas(tmp_path)
    first, second = a.create("kari"), b.create("kari")  # two browsers, each signed in on its own replica
    other = a.create("ola")
    assert b.end(first) == "kari"
    assert a.user(first) is None and b.user(first) is None and a.user(second) is None
    assert a.user(other) == "ola"  # only kari signed out
    assert b.end(first) is None  # an ended session cannot end anything again
    again = a.create("kari")
    assert b.user(again) == "kari"


def test_a_replica_whose_clock_is_behind_does_not_issue_born_revoked_cookies(tmp_path):
    ahead, behind = Clock(1_800_000_100.0), Clock(1_800_000_000.0)
    a, b = replicas(tmp_path, clock_a=ahead, clock_b=behind)
    a.end(a.create("kari"))  # signed out at 100 by a's clock
    token = b.create("kari")  # b's clock says 0: the cookie must still be born after the sign-out
    assert a.user(token) == "kari" and b.user(token) == "kari"
    # and a sign-out on the slow replica still ends a session that began on the fast one
    later = a.create("kari")
    assert b.end(later) == "kari" and a.user(later) is None


def test_a_user_removed_from_the_shared_users_file_is_signed_out(tmp_path):
    users_file = tmp_path / "users.json"
    add_user(users_file, "kari", "participant", "kari-passord")
    add_user(users_file, "ola", "participant", "ola-passord")
    a, b = replicas(tmp_path, users=UserStore.load(users_file))
    token = a.create("ola")
    assert b.user(token) == "ola"
    data = json.loads(users_file.read_text())
    del data["users"]["ola"]
    users_file.write_text(json.dumps(data))
    assert b.user(token) is None


def test_a_user_added_on_one_machine_is_known_at_once_on_all(tmp_path):
    users_file = tmp_path / "users.json"
    add_user(users_file, "kari", "participant", "kari-passord")
    on_a, on_b = UserStore.load(users_file), UserStore.load(users_file)
    keys_b = ApiKeys.load(users_file)
    add_user(users_file, "fasi", "facilitator", "fasi-passord")  # `assistant user` on another machine
    assert on_b.check("fasi", "fasi-passord") and on_b.role("fasi") == "facilitator" and on_a.exists("fasi")
    key = add_api_key(users_file, "fasi")
    owner = keys_b.owner(key)
    assert owner is not None and owner.user == "fasi" and owner.role == "facilitator"


def test_a_broken_users_file_keeps_the_last_good_users(tmp_path):
    users_file = tmp_path / "users.json"
    add_user(users_file, "kari", "participant", "kari-passord")
    store = UserStore.load(users_file)
    users_file.write_text('{"users": {"kari": ')  # half written, by hand
    assert store.check("kari", "kari-passord")
    users_file.unlink()  # a shared folder that is away for a moment
    assert store.exists("kari")
    add_user(users_file, "ola", "participant", "ola-passord")
    assert store.exists("ola") and not store.exists("kari")


def test_the_secret_is_made_once_kept_private_and_shared(tmp_path):
    first = session_secret(None, tmp_path / "data")
    assert len(first) >= 32 and session_secret(None, tmp_path / "data") == first
    assert stat.S_IMODE(os.stat(tmp_path / "data" / "session-secret").st_mode) == 0o600
    assert list((tmp_path / "data").iterdir()) == [tmp_path / "data" / "session-secret"]  # no temp file left
    configured = "k" * 40
    assert session_secret(configured, tmp_path / "other") == configured.encode()
    assert not (tmp_path / "other").exists()
    with pytest.raises(WeakSecret, match="ASSISTANT_SESSION_SECRET"):
        session_secret("short", tmp_path / "data")


def test_shared_places_are_settings(tmp_path):
    s = Settings(_env_file=None, data_dir=tmp_path / "d", users_file=tmp_path / "shared" / "users.json",
                 uploads_path=tmp_path / "shared" / "uploads", session_secret="k" * 40)
    assert s.uploads_dir == tmp_path / "shared" / "uploads"
    assert s.signouts_path == tmp_path / "shared" / "users.signouts.json"  # beside the users file
    assert s.public_view()["session_secret"] == "********"
    default = Settings(_env_file=None, data_dir=tmp_path / "d")
    assert default.uploads_dir == tmp_path / "d" / "uploads" and default.signouts_path == tmp_path / "d" / "signouts.json"
