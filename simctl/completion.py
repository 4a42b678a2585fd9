"""Shell completion for ``simctl`` (bash, zsh, fish), through simctl's own argv dispatch.

Hydra's completion scripts call the program with ``-sc query=SHELL`` and take the program name
as the first word of the command line. ``simctl`` is not a Hydra app itself (``simctl run`` is),
so those scripts would call ``simctl -sc query=bash`` and print simctl's usage on every Tab.
The scripts here complete the command word (``run``, ``presets``, …) themselves and, after
``simctl run``, call ``simctl run -sc query=SHELL`` with the line in ``COMP_LINE``;
:func:`query` turns ``simctl run …`` into the line Hydra's completion plugin expects (the
program name, then the overrides) and lets Hydra list the groups, options and keys.

Install (README, "Shell completion")::

    eval "$(simctl run -sc install=bash)"     # in ~/.bashrc
    eval "$(simctl run -sc install=zsh)"      # in ~/.zshrc
    simctl run -sc install=fish | source      # in ~/.config/fish/config.fish

No torch: a Tab costs the start-up of Python, Hydra and one composition (about 0.5 s).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys

SHELLS = ("bash", "zsh", "fish")
VERBS = ("install", "uninstall", "query")

#: the words after ``simctl``
COMMANDS = ("run", "presets", "inspect", "plot", "collect", "export", "--help", "--version")
#: the flags of ``simctl run`` offered after ``-`` (the ones simctl accepts)
RUN_FLAGS = (
    "--help",
    "--hydra-help",
    "--cfg",
    "--resolve",
    "--package",
    "--info",
    "--multirun",
    "--config-dir",
    "--config-name",
    "--shell-completion",
    "--version",
)

_BASH = r"""# simctl completion (bash): eval "$(simctl run -sc install=bash)"
_simctl_complete()
{
    [[ -n ${ZSH_VERSION-} ]] && setopt local_options sh_word_split ksh_arrays
    local line=${COMP_LINE:0:$COMP_POINT}
    local cur=${line##*[[:space:]]}
    local -a w=($line)
    local exe=${w[0]} n=${#w[@]} candidates c i strip=
    [[ -z $cur ]] && n=$((n + 1))  # n: the words, the one being completed included
    if (( n <= 2 )); then
        candidates="@COMMANDS@"
    elif [[ ${w[1]} == run && $cur == -* ]]; then
        candidates="@RUN_FLAGS@"
    elif [[ ${w[1]} == run ]]; then
        candidates=$(COMP_LINE=$line COMP_POINT=${#line} "$exe" run -sc query=bash 2>/dev/null)
    elif [[ ${w[1]} == presets ]] && (( n == 3 )); then
        candidates=$(COMP_LINE="$exe run preset=$cur" "$exe" run -sc query=bash 2>/dev/null)
        candidates=${candidates//preset=/}
    else
        COMPREPLY=($(compgen -f -- "$cur"))  # inspect, plot, collect, export: files
        return 0
    fi
    # bash replaces only the part of the word after its last COMP_WORDBREAKS character ('=')
    for (( i = ${#cur} - 1; i >= 0; i-- )); do
        if [[ -n ${COMP_WORDBREAKS-} && $COMP_WORDBREAKS == *"${cur:$i:1}"* ]]; then
            strip=${cur:0:$((i + 1))}
            break
        fi
    done
    COMPREPLY=()
    for c in $candidates; do
        [[ $c == "$cur"* ]] && COMPREPLY+=("${c#"$strip"}")
    done
    # a group (neuron=), a node (input.) or a directory (dir/) goes on without a space
    if (( ${#COMPREPLY[@]} == 1 )) && [[ ${COMPREPLY[0]} == *[=./] ]]; then
        compopt -o nospace 2>/dev/null
    fi
    return 0
}
complete -o default -F _simctl_complete simctl
"""

_ZSH_HEAD = """# simctl completion (zsh, through bashcompinit): eval "$(simctl run -sc install=zsh)"
(( $+functions[compdef] )) || { autoload -Uz compinit && compinit; }
autoload -Uz bashcompinit && bashcompinit
"""

_ZSH_TAIL = "complete -o nospace -o default -F _simctl_complete simctl\n"

_FISH = r"""# simctl completion (fish): simctl run -sc install=fish | source
function __simctl_complete
    set -l tokens (commandline -cpo)
    set -l cur (commandline -ct)
    if test (count $tokens) -lt 2
        printf '%s\n' @COMMANDS@
        return
    end
    switch $tokens[2]
        case run
            if string match -q -- '-*' $cur
                printf '%s\n' @RUN_FLAGS@
            else
                COMP_LINE=(commandline -cp) $tokens[1] run -sc query=fish 2>/dev/null
            end
        case presets
            if test (count $tokens) -eq 2
                COMP_LINE="$tokens[1] run preset=$cur" $tokens[1] run -sc query=fish 2>/dev/null \
                    | string replace -- 'preset=' ''
            end
        case '*'
            __fish_complete_path $cur
    end
end
complete -c simctl -f -a '(__simctl_complete)'
"""


def _filled(script: str) -> str:
    return script.replace("@COMMANDS@", " ".join(COMMANDS)).replace(
        "@RUN_FLAGS@", " ".join(RUN_FLAGS)
    )


def install_script(shell: str) -> str:
    """The script that ``eval``/``source`` installs for ``shell``."""
    if shell == "fish":
        return _filled(_FISH)
    if shell == "zsh":
        # bashcompinit has no compopt: no space after any candidate (neuron=, input., …)
        return _ZSH_HEAD + _filled(_BASH) + _ZSH_TAIL
    return _filled(_BASH)


def uninstall_script(shell: str) -> str:
    """The script that removes the completion again."""
    if shell == "fish":
        return "complete -e -c simctl\nfunctions -e __simctl_complete\n"
    return "complete -r simctl 2>/dev/null\nunset -f _simctl_complete\n"


def hydra_line(line: str) -> tuple[str, list[str]] | None:
    """``(COMP_LINE for Hydra, extra flags)`` for a ``simctl … run …`` line, else None.

    Hydra's plugin strips the first word (the program) and completes the overrides after it,
    so ``simctl run neuron=`` becomes ``simctl neuron=``; whatever precedes ``run``
    (``/path/simctl``, ``python -m simctl.cli``) goes. A ``--config-dir DIR`` (or
    ``--config-name``) on the line is passed on as a flag, so the options in DIR complete too.
    """
    m = re.match(r"^\s*(?:\S+\s+)*?run(\s.*)?$", line, re.S)
    if m is None:
        return None
    rest = (m.group(1) or " ").lstrip()
    words = rest.split()
    if words and not rest[-1:].isspace():
        words = words[:-1]  # the word being completed is not a flag value yet
    flags: list[str] = []
    for i, word in enumerate(words[:-1]):
        value = words[i + 1]
        if word in ("--config-dir", "-cd") and os.path.isdir(value):
            flags += ["--config-dir", value]
        elif word in ("--config-name", "-cn"):
            flags += ["--config-name", value]
    return f"simctl {rest}", flags


def query(shell: str) -> int:
    """Prints the candidates for ``$COMP_LINE`` (cut at ``$COMP_POINT``) the way ``shell``'s
    script reads them; prints nothing for a line that is not ``simctl run …``. Never prints
    usage or a traceback: whatever goes wrong, the shell gets no candidates."""
    line = os.environ.get("COMP_LINE", "")
    point = os.environ.get("COMP_POINT", "")
    if point.isdigit() and int(point) < len(line):
        line = line[: int(point)]
    translated = hydra_line(line)
    if translated is None:
        return 0
    hydra_comp_line, flags = translated
    words = hydra_comp_line.split(" ")
    done, current = words[1:-1], words[-1]  # the words before the cursor's, and that word
    # An earlier override Hydra cannot compose (``neuron=nope``, ``input.nokey=3``) makes its
    # completion answer nothing; ask again with only the group choices, then with none.
    tries = [done]
    groups = [w for w in done if "=" in w and "." not in w.partition("=")[0]]
    tries += [t for t in ([w for w in done if "=" not in w or w in groups],
                          [w for w in done if "=" not in w]) if t != done]  # fmt: skip
    for kept in tries:
        answer = _ask(" ".join(["simctl", *kept, current]), shell, flags)
        if answer.strip():
            print(answer, end="")
            break
    return 0


def _ask(hydra_comp_line: str, shell: str, flags: list[str]) -> str:
    """What Hydra's completion plugin prints for ``hydra_comp_line`` ('' when it fails)."""
    saved_argv, saved_line = sys.argv, os.environ.get("COMP_LINE")
    os.environ["COMP_LINE"] = hydra_comp_line
    # Hydra's zsh plugin answers as bash does
    sys.argv = ["simctl", "-sc", f"query={'bash' if shell == 'zsh' else shell}", *flags]
    out = io.StringIO()
    try:
        from simctl import app

        # Hydra's argparse prints its usage for a flag it does not know (``--foo``): not on a Tab
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(out):
            app.main()
    except SystemExit:
        pass
    except Exception:  # noqa: BLE001 - a Tab must never print a traceback
        pass
    finally:
        sys.argv = saved_argv
        if saved_line is None:
            os.environ.pop("COMP_LINE", None)
        else:
            os.environ["COMP_LINE"] = saved_line
    return out.getvalue()


def shell_completion(overrides: list[str]) -> tuple[int, str]:
    """``simctl run -sc VERB=SHELL``: prints the script or the candidates; returns
    ``(exit code, one-line problem)``."""
    pairs = [o.partition("=") for o in overrides]
    verbs = [(k, v) for k, eq, v in pairs if eq and k in VERBS]
    allowed = "install=SHELL, uninstall=SHELL or query=SHELL with SHELL one of bash, zsh, fish"
    if len(verbs) != 1 or len(overrides) != 1:
        given = " ".join(overrides) or "nothing"
        return 2, f"-sc {given}: expected one subcommand; allowed: {allowed}"
    verb, shell = verbs[0]
    if shell not in SHELLS:
        return 2, f"-sc {verb}={shell}: no completion for this shell; allowed: {', '.join(SHELLS)}"
    if verb == "query":
        return query(shell), ""
    print(install_script(shell) if verb == "install" else uninstall_script(shell), end="")
    return 0, ""
