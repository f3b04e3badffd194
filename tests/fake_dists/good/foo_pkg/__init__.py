"""A third-party vprkit plugin, as a user would write it (used by the plugin-contract tests)."""

import typer
from pydantic import BaseModel, ConfigDict

from vprkit import PartitionerSpec, hookimpl


class FooConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cell_size: float = 50.0


@hookimpl
def vprkit_partitioners():
    return [
        PartitionerSpec(
            name="foo",
            factory="foo_pkg.impl:FooPartitioner",
            config=FooConfig,
            description="A square-grid partitioner from a third-party package.",
        )
    ]


@hookimpl
def vprkit_commands(app: typer.Typer) -> None:
    @app.command("foo-hello")
    def foo_hello() -> None:
        """Say hello from the foo plugin."""
        typer.echo("hello from foo")
