"""`knitctl doctor`: each problem with its fix, and exit 1 when there is one.

A stopped dockerd is simulated by pointing DOCKER_HOST at a socket that doesn't exist: the
Docker SDK, and so knitd, would fail the same way.
"""

from __future__ import annotations

NO_DOCKER = {"DOCKER_HOST": "unix:///nonexistent.sock"}


def test_doctor_reports_a_stopped_dockerd_with_its_fix(cli):
    assert cli("init").code == 0
    r = cli("doctor", env=NO_DOCKER)
    assert r.code == 1, str(r)
    lines = r.out_lines
    i = next(i for i, line in enumerate(lines) if line.startswith("FAIL docker:"))
    assert "can't reach Docker at unix:///nonexistent.sock" in lines[i]
    assert lines[i + 1].strip().startswith("fix: start the engine")
    assert "DOCKER_HOST" in lines[i + 1]
    assert "Traceback" not in r.err


def test_doctor_json_names_the_fix(cli):
    assert cli("init").code == 0
    r = cli("doctor", "-o", "json", env=NO_DOCKER)
    assert r.code == 1, str(r)
    checks = {c["check"]: c for c in r.json()}
    assert checks["docker"]["ok"] is False
    assert "start the engine" in checks["docker"]["fix"]
    assert checks["catalog"]["ok"] is True and checks["catalog"]["fix"] == ""


def test_doctor_with_a_running_dockerd_says_its_version(cli, docker_client):
    assert cli("init").code == 0
    r = cli("doctor", "-o", "json")
    checks = {c["check"]: c for c in r.json()}
    version = docker_client.version()["Version"]
    assert checks["docker"] == {"check": "docker", "ok": True, "detail": checks["docker"]["detail"], "fix": ""}
    assert f"Docker {version}" in checks["docker"]["detail"]
    # knitd isn't running on this fresh home: that's a problem, with its fix, so the exit code is 1
    assert checks["knitd"]["ok"] is False and checks["knitd"]["fix"] == "start it: knitctl up"
    assert r.code == 1
