"""The `atlas` command groups, one module per concern; atlas_cli.main registers them on one typer app."""
