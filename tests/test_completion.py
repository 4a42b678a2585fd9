"""Shell completion (``simctl run -sc …``, README "Shell completion") and the page of
``simctl run --hydra-help``, in subprocesses: the query protocol with ``COMP_LINE`` set, the
installed scripts in real shells (bash always; zsh, fish and a real Tab in tmux where they are
installed), and every form the help page shows, run as shown."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import cli_env, run_cli


def query(line: str, cwd: Path, shell: str = "bash", point: int | None = None):
    env = cli_env(COMP_LINE=line)
    if point is not None:
        env["COMP_POINT"] = str(point)
    return run_cli("run", "-sc", f"query={shell}", cwd=cwd, env=env)


@pytest.mark.parametrize(
    "line, expected, absent",
    [
        # a group's options
        ("simctl run neuron=", {"neuron=lif", "neuron=izhikevich", "neuron=lif_adex"}, set()),
        ("simctl run preset=tonic_", {"preset=tonic_spiking", "preset=tonic_bursting"}, set()),
        ("simctl run hydra/launcher=", {"hydra/launcher=basic"}, set()),
        # a prefix: the group and the config node of that name
        ("simctl run neu", {"neuron=", "neuron."}, set()),
        # a node's keys
        ("simctl run input.", {"input.amplitude=", "input.protocol="}, {"neuron."}),
        # the words before count: LIF's keys, not Izhikevich's
        ("simctl run neuron=lif neuron.", {"neuron.tau_mem_inv=", "neuron.v_th="}, {"neuron.a="}),
        ("simctl run neuron.", {"neuron.a="}, {"neuron.tau_mem_inv="}),
        # an earlier word Hydra cannot compose does not stop the completion: a bad key is
        # left out (the group choices still count), then a bad option too
        ("simctl run neuron=lif input.nokey=3 neuron.", {"neuron.v_th="}, {"neuron.a="}),
        ("simctl run neuron=nope input.", {"input.amplitude=", "input.protocol="}, set()),
        # whatever names the program, and flags before the word
        ("/opt/venv/bin/simctl run -m input=", {"input=step", "input=ramp"}, set()),
        ("python -m simctl.cli run --cfg job simulation.d", {"simulation.dt="}, set()),
    ],
)
def test_query_completes_groups_options_and_keys(tmp_path, line, expected, absent):
    result = query(line, tmp_path)
    assert result.returncode == 0 and result.stderr == "", result.stderr[-2000:]
    assert "usage" not in result.stdout
    words = set(result.stdout.split())
    assert expected <= words, words
    assert not absent & words
    last = line.split()[-1]
    assert all(w.startswith(last) for w in words)


def test_query_stops_at_the_cursor_and_reads_config_dirs(tmp_path):
    line = "simctl run neuron= input=step"
    words = query(line, tmp_path, point=len("simctl run neuron=")).stdout.split()
    assert "neuron=lif" in words and "input=step" not in words
    conf = tmp_path / "conf"
    (conf / "neuron").mkdir(parents=True)
    (conf / "neuron" / "my_lif.yaml").write_text("model: lif\n")
    words = query(f"simctl run --config-dir {conf} neuron=my", tmp_path).stdout.split()
    assert words == ["neuron=my_lif"]


def test_fish_and_zsh_queries(tmp_path):
    fish = query("simctl run neuron=li", tmp_path, shell="fish").stdout
    assert "neuron=lif\n" in fish and "neuron=li_box\n" in fish  # one per line
    zsh = query("simctl run neuron=li", tmp_path, shell="zsh").stdout
    assert "neuron=lif " in zsh  # bash's format


def test_a_line_that_is_not_run_and_bad_subcommands(tmp_path):
    for line in ("simctl presets ", "simctl run --no-such-flag neuron="):
        result = query(line, tmp_path)
        assert result.returncode == 0 and result.stdout == "" and result.stderr == "", line
    bad = run_cli("run", "-sc", "install=tcsh", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.strip().splitlines() == [
        "simctl: error: -sc install=tcsh: no completion for this shell; allowed: bash, zsh, fish"
    ]
    bad = run_cli("run", "-sc", cwd=tmp_path)
    assert bad.returncode == 2 and "expected one subcommand" in bad.stderr


@pytest.fixture
def path_with_simctl(tmp_path) -> str:
    """A PATH whose ``simctl`` is this Python's (the installed script calls ``simctl run``)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "simctl"
    shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m simctl.cli "$@"\n')
    shim.chmod(0o755)
    return f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"


def complete_in(shell: list[str], install: str, line: str, cwd: Path, path: str) -> list[str]:
    """The candidates ``_simctl_complete`` leaves in COMPREPLY for ``line`` (cursor at its
    end), called as the shell's completion would after ``install``."""
    print_reply = 'printf "%s\\n" "${COMPREPLY[@]}"'
    script = (
        f"{install}\nCOMP_LINE={shlex.quote(line)}\nCOMP_POINT=${{#COMP_LINE}}\n"
        f"_simctl_complete\n{print_reply}\n"
    )
    result = subprocess.run(
        [*shell, script],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env=cli_env(PATH=path),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return [w for w in result.stdout.splitlines() if w]


@pytest.mark.parametrize(
    "line, expected",
    [
        ("simctl ", {"run", "presets", "inspect", "plot", "collect", "export"}),
        # bash splits the word at '=': the candidates are what follows it
        ("simctl run neuron=li", {"lif", "li_box", "lif_adex"}),
        ("simctl run neu", {"neuron=", "neuron."}),
        ("simctl run input.amp", {"input.amplitude="}),
        ("simctl run --hyd", {"--hydra-help"}),
        ("simctl presets tonic_b", {"tonic_bursting"}),
        ("simctl inspect s", {"sim.h5"}),
    ],
)
def test_bash_script(tmp_path, path_with_simctl, line, expected):
    (tmp_path / "sim.h5").write_bytes(b"")
    install = 'eval "$(simctl run -sc install=bash)"'
    got = complete_in(["bash", "--norc", "-c"], install, line, tmp_path, path_with_simctl)
    assert set(got) == expected if len(expected) == 1 else expected <= set(got), got
    if "=" in line:
        assert not any("=" in w for w in got if w.startswith("li"))


def test_bash_install_and_uninstall(tmp_path, path_with_simctl):
    script = (
        'eval "$(simctl run -sc install=bash)"; complete -p simctl; '
        'eval "$(simctl run -sc uninstall=bash)"; complete -p simctl || echo gone'
    )
    result = subprocess.run(
        ["bash", "--norc", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=cli_env(PATH=path_with_simctl),
    )
    assert "-F _simctl_complete simctl" in result.stdout and result.stdout.endswith("gone\n")


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_script(tmp_path, path_with_simctl):
    install = 'eval "$(simctl run -sc install=zsh)"'
    shell = ["zsh", "-f", "-c"]
    got = complete_in(shell, install, "simctl run neuron=li", tmp_path, path_with_simctl)
    assert {"neuron=lif", "neuron=li_box"} <= set(got)  # zsh keeps the word whole
    got = complete_in(shell, install, "simctl run input.", tmp_path, path_with_simctl)
    assert "input.amplitude=" in got


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish_script(tmp_path, path_with_simctl):
    def complete(line: str) -> list[str]:
        script = f"simctl run -sc install=fish | source; complete -C{shlex.quote(line)}"
        result = subprocess.run(
            ["fish", "-N", "-c", script],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
            env=cli_env(PATH=path_with_simctl),
        )
        assert result.returncode == 0, result.stderr[-2000:]
        return [w.split("\t")[0] for w in result.stdout.splitlines()]

    assert {"neuron=lif", "neuron=li_box"} <= set(complete("simctl run neuron=li"))
    assert {"run", "presets"} <= set(complete("simctl "))
    assert complete("simctl presets tonic_b") == ["tonic_bursting"]


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_tab_in_an_interactive_bash(tmp_path, path_with_simctl):
    """A real Tab: bash in tmux, the script installed as README says, ``neuron=li<Tab><Tab>``
    lists the options and ``input.amp<Tab>`` completes the key."""
    session = f"simctl-test-{os.getpid()}"
    env = cli_env(PATH=path_with_simctl, HOME=str(tmp_path))
    socket = tmp_path / "tmux.sock"

    def tmux(*args: str) -> str:
        # a server of its own (-S): its shells get this test's PATH, whatever else runs
        return subprocess.run(
            ["tmux", "-S", str(socket), *args], capture_output=True, text=True, env=env, timeout=30
        ).stdout

    def screen_until(pattern: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = tmux("capture-pane", "-p", "-t", session)
            if re.search(pattern, text) or time.monotonic() > deadline:
                return text
            time.sleep(0.3)

    tmux("new-session", "-d", "-s", session, "-x", "200", "-y", "40", "bash --norc -i")
    try:
        tmux("send-keys", "-t", session, 'eval "$(simctl run -sc install=bash)"', "Enter")
        tmux("send-keys", "-t", session, "echo READY", "Enter")
        screen_until(r"(?m)^READY")
        tmux("send-keys", "-t", session, "simctl run neuron=li", "Tab", "Tab")
        text = screen_until(r"lif_adex_refrac")
        assert "lif_adex_refrac" in text and "li_box" in text and "usage" not in text, text
        tmux("send-keys", "-t", session, "C-u", "simctl run input.amp", "Tab")
        text = screen_until(r"input\.amplitude=")
        assert "simctl run input.amplitude=" in text and "usage" not in text, text
    finally:
        tmux("kill-server")


def hydra_help(tmp_path) -> str:
    result = run_cli("run", "--hydra-help", "neuron=lif", cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == "", result.stderr[-2000:]
    return result.stdout


def test_hydra_help_shows_simctls_forms(tmp_path):
    text = hydra_help(tmp_path)
    assert "python" not in text and "my_app" not in text and "-sc install=bash)" in text
    assert "--experimental-rerun" not in text and "--config-path" not in text
    assert "hydra/launcher: basic" in text  # Hydra's groups, as installed here


def section(text: str, title: str) -> list[str]:
    body = text.split(f"== {title} ==\n", 1)[1].split("\n== ", 1)[0]
    return [line for line in body.splitlines() if line.strip()]


def test_every_example_of_hydra_help_runs(tmp_path, path_with_simctl):
    examples = section(hydra_help(tmp_path), "Examples")
    assert len(examples) >= 6
    (tmp_path / "my_configs").mkdir()  # the directory the --config-dir example names
    for example in examples:
        result = subprocess.run(
            ["bash", "--norc", "-c", example],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            env=cli_env(PATH=path_with_simctl),
        )
        assert result.returncode == 0, (example, result.stderr[-2000:])


#: a concrete command for each flag the page lists (the test fails on a flag without one)
FLAG_USES = {
    "--help": [],
    "--hydra-help": [],
    "--cfg": ["job"],
    "--resolve": ["--cfg", "job"],
    "--package": ["neuron", "--cfg", "job"],
    "--info": ["searchpath"],
    "--multirun": ["--cfg", "job", "input.amplitude=1,2"],
    "--config-dir": ["{dir}", "--cfg", "job"],
    "--config-name": ["config", "--cfg", "job"],
    "--shell-completion": ["install=bash"],
    "--version": [],
}


def test_every_flag_of_hydra_help_works(tmp_path):
    flags = section(hydra_help(tmp_path), "Flags")
    forms = {}
    for line in flags:
        names = re.match(r"((?:--?[a-z-]+(?:, )?)+)", line).group(1)
        long, *short = [n.strip() for n in names.split(",")]
        forms[long] = [long, *short]
    assert set(forms) == set(FLAG_USES)
    for long, names in forms.items():
        for name in names:
            if name in ("--hydra-help",):
                continue  # this page itself (above)
            rest = [a.format(dir=tmp_path) for a in FLAG_USES[long]]
            result = run_cli("run", name, *rest, cwd=tmp_path)
            assert result.returncode == 0, (name, result.stderr[-2000:])
            assert result.stdout.strip(), name


@pytest.mark.parametrize(
    "args, env",
    [
        (["run", "-sc", "query=bash"], {"COMP_LINE": "simctl run neuron=lif neuron."}),
        (["run", "-sc", "install=bash"], {}),
        (["run", "--hydra-help"], {}),
    ],
)
def test_completion_and_hydra_help_do_not_import_torch(tmp_path, args, env):
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "simctl.cli", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=cli_env(**env),
        timeout=60,
    )
    assert result.returncode == 0 and result.stdout.strip(), result.stderr[-2000:]
    imported = {
        line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line
    }
    assert "torch" not in imported and "matplotlib" not in imported
