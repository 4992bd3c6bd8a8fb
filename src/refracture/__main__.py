"""``python -m refracture`` and the ``refracture`` command.

A rebuild with nothing changed is answered here, before the command-line parser
and the configuration's validation are imported
(:mod:`refracture.workflows.up_to_date`); everything else goes to :mod:`refracture.cli`.
"""

import sys


def main() -> None:
    from refracture.workflows.up_to_date import answer

    message = answer(sys.argv[1:])
    if message is not None:
        sys.stdout.write(message + "\n")
        sys.exit(0)
    from refracture.cli import main as run

    run()


if __name__ == "__main__":
    main()
