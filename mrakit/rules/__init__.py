"""The rule book (MRA0xx) as checks. One module per area; each check returns findings."""
