"""``flowrun completion bash|zsh|fish``: a completion script written from the argparse parser.

Subcommands and options are written into the script (generated, so they match
the parser of the flowrun that wrote it: write it again after an upgrade). What
depends on the workflow file (step names, parameter names, run ids) the script
asks ``FLOWRUN __complete KIND [--file FILE]`` for, FLOWRUN being the command as
typed on the line (so a venv's ``.venv/bin/flowrun`` answers for itself), with
the workflow file given on the line or, without one, the default lookup.
"""

from __future__ import annotations

import argparse

from flowrun.completion.model import Command, Option, commands

__all__ = ["script"]

_DYNAMIC = ("params", "targets", "steps", "runs")


def script(shell: str, parser: argparse.ArgumentParser) -> str:
    """The completion script for ``shell`` (bash, zsh or fish)."""
    top, subs = commands(parser)
    return {"bash": _bash, "zsh": _zsh, "fish": _fish}[shell](top, subs)


def _words(options: list[Option]) -> str:
    return " ".join(s for option in options for s in option.strings)


def _cases(subs: list[Command], sep: str = "|") -> list[tuple[str, Option]]:
    """``cmd:-o|cmd:--option`` case patterns for every option taking a value."""
    return [(sep.join(f"{sub.name}:{s}" for s in option.strings), option) for sub in subs for option in sub.valued()]


# ------------------------------------------------------------------------- bash
_BASH_HEAD = r"""# bash completion for flowrun, written by `flowrun completion bash` (write it again after an upgrade).
# Install: flowrun completion bash > ~/.local/share/bash-completion/completions/flowrun

_flowrun_words() {  # $1: params, targets, steps or runs; $2: the workflow file on the line ('': the default)
    local flowrun="${COMP_WORDS[0]/#\~/$HOME}"
    if [[ -n "$2" ]]; then "$flowrun" __complete "$1" --file "$2" 2>/dev/null
    else "$flowrun" __complete "$1" 2>/dev/null; fi
}

_flowrun_reply() {  # COMPREPLY: the lines of stdin that start with $cur
    local line
    COMPREPLY=()
    while IFS= read -r line; do
        [[ -n "$line" && "$line" == "$cur"* ]] && COMPREPLY+=("$line")
    done
}

_flowrun() {
    local cur="${COMP_WORDS[COMP_CWORD]}" prev="" cmd="" file="" word i
    if [[ "$cur" == "=" ]]; then  # bash breaks `--output=plain` into three words
        prev="${COMP_WORDS[COMP_CWORD-1]}" cur=""
    elif (( COMP_CWORD >= 2 )) && [[ "${COMP_WORDS[COMP_CWORD-1]}" == "=" ]]; then
        prev="${COMP_WORDS[COMP_CWORD-2]}"
    elif (( COMP_CWORD >= 1 )); then
        prev="${COMP_WORDS[COMP_CWORD-1]}"
    fi
    for (( i = 1; i < COMP_CWORD; i++ )); do
        word="${COMP_WORDS[i]}"
        if [[ -z "$cmd" ]]; then
            [[ "$word" != -* ]] && cmd="$word"
            continue
        fi
        case "$cmd:$word" in
"""

_BASH_ACTIONS = {
    "workflow": "compopt -o filenames 2>/dev/null; "
                "_flowrun_reply < <(compgen -d -- \"$cur\"; compgen -f -X '!*.y*ml' -- \"$cur\")",
    "file": "compopt -o filenames 2>/dev/null; _flowrun_reply < <(compgen -f -- \"$cur\")",
    "params": "compopt -o nospace 2>/dev/null; _flowrun_reply < <(_flowrun_words params \"$file\")",
    "any": "COMPREPLY=()",
}


def _bash_action(kind: str, choices: tuple[str, ...]) -> str:
    if kind == "choice":
        return f"_flowrun_reply < <(printf '%s\\n' {' '.join(choices)})"
    if kind in _BASH_ACTIONS:
        return _BASH_ACTIONS[kind]
    return f'_flowrun_reply < <(_flowrun_words {kind} "$file")'


def _bash(top: list[Option], subs: list[Command]) -> str:
    out = [_BASH_HEAD]
    for sub in subs:
        if sub.workflow_options:
            pattern = "|".join(f"{sub.name}:{s}" for s in sub.workflow_options)
            out.append(f"            {pattern})\n"
                       '                (( ++i )); [[ "${COMP_WORDS[i]}" == "=" ]] && (( ++i ))\n'
                       '                (( i < COMP_CWORD )) && file="${COMP_WORDS[i]}" ;;\n')
    out.append('        esac\n    done\n    file="${file/#\\~/$HOME}"\n    case "$cmd:$prev" in\n')
    for pattern, option in _cases(subs):
        out.append(f"        {pattern}) {_bash_action(option.kind or 'any', option.choices)}; return ;;\n")
    out.append('    esac\n    if [[ "$cur" == -* ]]; then\n        case "$cmd" in\n')
    out.append(f'            "") _flowrun_reply < <(printf \'%s\\n\' {_words(top)}) ;;\n')
    for sub in subs:
        out.append(f"            {sub.name}) _flowrun_reply < <(printf '%s\\n' {_words(sub.options)}) ;;\n")
    out.append('        esac\n        return\n    fi\n    case "$cmd" in\n')
    out.append(f"        \"\") _flowrun_reply < <(printf '%s\\n' {' '.join(s.name for s in subs)}) ;;\n")
    for sub in subs:
        if sub.positional and sub.positional != "any":
            out.append(f"        {sub.name}) {_bash_action(sub.positional, sub.positional_choices)} ;;\n")
    out.append("    esac\n}\n\ncomplete -F _flowrun flowrun\n")
    return "".join(out)


# -------------------------------------------------------------------------- zsh
_ZSH_HEAD = r"""#compdef flowrun
# zsh completion for flowrun, written by `flowrun completion zsh` (write it again after an upgrade).
# Install: flowrun completion zsh > ~/.zfunc/_flowrun, with fpath=(~/.zfunc $fpath) before compinit in ~/.zshrc

_flowrun_words() {  # $1: params, targets, steps or runs; $2: the workflow file on the line ('': the default)
  local flowrun=${words[1]/#\~/$HOME}
  if [[ -n $2 ]]; then $flowrun __complete $1 --file $2 2>/dev/null
  else $flowrun __complete $1 2>/dev/null; fi
}

_flowrun() {
  local cur=${words[CURRENT]} prev=${words[CURRENT-1]} cmd= file= word i
  local -a found
  for (( i = 2; i < CURRENT; i++ )); do
    word=${words[i]}
    if [[ -z $cmd ]]; then
      [[ $word != -* ]] && cmd=$word
      continue
    fi
    case "$cmd:$word" in
"""

_ZSH_ACTIONS = {
    "workflow": "_files -g '*.(yaml|yml)'",
    "file": "_files",
    "params": 'found=(${(f)"$(_flowrun_words params $file)"}); compadd -S \'\' -- $found',
    "any": ":",
}


def _zsh_action(kind: str, choices: tuple[str, ...]) -> str:
    if kind == "choice":
        return f"compadd -- {' '.join(choices)}"
    if kind in _ZSH_ACTIONS:
        return _ZSH_ACTIONS[kind]
    return f'found=(${{(f)"$(_flowrun_words {kind} $file)"}}); compadd -- $found'


def _zsh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _zsh(top: list[Option], subs: list[Command]) -> str:
    out = [_ZSH_HEAD]
    for sub in subs:
        if sub.workflow_options:
            pattern = "|".join(f"{sub.name}:{s}" for s in sub.workflow_options)
            out.append(f"      {pattern}) (( i + 1 < CURRENT )) && file=${{words[i+1]}} ;;\n")
    out.append("    esac\n  done\n  file=${file/#\\~/$HOME}\n  case \"$cmd:$prev\" in\n")
    for pattern, option in _cases(subs):
        out.append(f"    {pattern}) {_zsh_action(option.kind or 'any', option.choices)}; return ;;\n")
    out.append("  esac\n  if [[ $cur == -* ]]; then\n    case $cmd in\n")
    out.append(f"      '') compadd -- {_words(top)} ;;\n")
    for sub in subs:
        out.append(f"      {sub.name}) compadd -- {_words(sub.options)} ;;\n")
    out.append("    esac\n    return\n  fi\n  case $cmd in\n")
    width = max(len(s.name) for s in subs)
    described = " ".join(_zsh_quote(f"{s.name.ljust(width)}  -- {s.help}") for s in subs)
    out.append(f"    '') local -a described=({described})\n"
               f"        compadd -l -d described -- {' '.join(s.name for s in subs)} ;;\n")
    for sub in subs:
        if sub.positional and sub.positional != "any":
            out.append(f"    {sub.name}) {_zsh_action(sub.positional, sub.positional_choices)} ;;\n")
    out.append("  esac\n}\n\n"
               "if [[ $funcstack[1] == _flowrun ]]; then _flowrun \"$@\"; else compdef _flowrun flowrun; fi\n")
    return "".join(out)


# ------------------------------------------------------------------------- fish
_FISH_HEAD = r"""# fish completion for flowrun, written by `flowrun completion fish` (write it again after an upgrade).
# Install: flowrun completion fish > ~/.config/fish/completions/flowrun.fish

function __flowrun_command --description 'The subcommand on the line'
    for token in (commandline -opc)[2..-1]
        if not string match -q -- '-*' $token
            echo $token
            return 0
        end
    end
    return 1
end

function __flowrun_is --description 'Is the subcommand on the line $argv[1]?'
    set -l command (__flowrun_command)
    test "$command" = "$argv[1]"
end

function __flowrun_words --argument-names kind --description 'Ask flowrun for the words of the workflow file'
    set -l tokens (commandline -opc)
    set -l options
    switch (__flowrun_command)
"""


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _fish_option(condition: str, option: Option) -> str:
    parts = ["complete -c flowrun", f"-n {_fish_quote(condition)}"]
    for s in option.strings:
        parts.append(f"-l {s[2:]}" if s.startswith("--") else f"-s {s[1:]}")
    if option.kind in ("workflow", "file"):
        parts.append("-r -F")
    elif option.kind == "choice":
        parts.append(f"-x -a {_fish_quote(' '.join(option.choices))}")
    elif option.kind in _DYNAMIC:
        parts.append(f"-x -a {_fish_quote(f'(__flowrun_words {option.kind})')}")
    elif option.kind is not None:
        parts.append("-x")
    if option.help:
        parts.append(f"-d {_fish_quote(option.help)}")
    return " ".join(parts)


def _fish(top: list[Option], subs: list[Command]) -> str:
    out = [_FISH_HEAD]
    for sub in subs:
        if sub.workflow_options:
            out.append(f"        case {sub.name}\n            set options {' '.join(sub.workflow_options)}\n")
    out.append("""    end
    set -l file
    set -l next 0
    for token in $tokens[2..-1]
        if test $next = 1
            set file $token
            set next 0
        else if contains -- $token $options
            set next 1
        else if string match -q -- '--file=*' $token
            set file (string replace -- '--file=' '' $token)
        end
    end
    set file (string replace -r -- '^~(?=/|$)' $HOME $file)
    if test -n "$file"
        $tokens[1] __complete $kind --file $file 2>/dev/null
    else
        $tokens[1] __complete $kind 2>/dev/null
    end
end

complete -c flowrun -f
""")
    out += [_fish_option("not __flowrun_command", option) + "\n" for option in top]
    for sub in subs:
        out.append(f"complete -c flowrun -n 'not __flowrun_command' -a {sub.name} -d {_fish_quote(sub.help)}\n")
    for sub in subs:
        condition = f"__flowrun_is {sub.name}"
        out += [_fish_option(condition, option) + "\n" for option in sub.options]
        if sub.positional == "choice":
            out.append(f"complete -c flowrun -n {_fish_quote(condition)} "
                       f"-a {_fish_quote(' '.join(sub.positional_choices))}\n")
        elif sub.positional in _DYNAMIC:
            out.append(f"complete -c flowrun -n {_fish_quote(condition)} "
                       f"-a {_fish_quote(f'(__flowrun_words {sub.positional})')}\n")
    return "".join(out)
