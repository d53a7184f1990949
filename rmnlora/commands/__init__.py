"""CLI commands per area; each module registers on rmnlora.cli.app."""
