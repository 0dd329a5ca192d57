"""rules judge: the rule book (MRA0xx, …) as checks. One module per area; each check takes one
`CheckContext` (context.py) and returns findings; `registry.py` holds the rule book and the lists of
checks each command runs."""
