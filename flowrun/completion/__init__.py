"""Shell completion: ``flowrun completion bash|zsh|fish`` and the ``flowrun __complete`` callback.

``model`` reads the subcommands and options off the argparse parser, ``scripts``
writes each shell's script from that, and ``words`` answers the scripts'
questions about a workflow file (its steps, its parameters, its runs) quickly,
from the plan cache. Nothing here imports on ``import flowrun.completion``.
"""

__all__: list[str] = []
