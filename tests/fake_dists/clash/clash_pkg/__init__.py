"""A plugin that re-declares the built-in partitioner name 'dnc'."""

from pydantic import BaseModel

from vprkit import PartitionerSpec, hookimpl


class ClashConfig(BaseModel):
    pass


@hookimpl
def vprkit_partitioners():
    return [PartitionerSpec(name="dnc", factory="clash_pkg:ClashConfig", config=ClashConfig,
                            description="Claims a name vprkit already registers.")]
