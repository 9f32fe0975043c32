"""``python -m sacrop_cli`` runs the same command-line interface as ``sacrop``."""

from sacrop_cli.cli.main import main

if __name__ == "__main__":
    main()
