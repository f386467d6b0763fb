"""`python -m broadsheet` and the `broadsheet` command's entry point.

Kept light on purpose: parser processes re-import the main script when they start, so the CLI
and its dependencies are imported only when a command actually runs.
"""

from __future__ import annotations


def main() -> None:
    """Run the `broadsheet` command."""
    from broadsheet import memory

    with memory.importing():
        from broadsheet.cli import main as cli_main
    memory.settle("cli")
    cli_main()


if __name__ == "__main__":
    main()
