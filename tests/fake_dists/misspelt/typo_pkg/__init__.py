"""A plugin with a misspelt hook name, caught by check_pending()."""

from vprkit import hookimpl


@hookimpl
def vprkit_partitoners():
    return []
