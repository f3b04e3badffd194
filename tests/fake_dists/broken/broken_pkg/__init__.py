"""A plugin whose module cannot be imported (a missing dependency)."""

import vprkit_missing_dependency_for_tests  # noqa: F401
