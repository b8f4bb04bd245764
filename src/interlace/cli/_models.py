"""Placeholder: commands register on interlace.cli.app here."""
