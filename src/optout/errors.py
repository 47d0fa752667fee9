"""The one exception type that carries a message meant for the person at the terminal."""


class OptoutError(Exception):
    """A failure the user can act on; the CLI prints it as one line and exits 2."""
