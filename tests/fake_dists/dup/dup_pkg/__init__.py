"""A second third-party plugin that also registers the partitioner name 'foo'."""

from pydantic import BaseModel

from vprkit import PartitionerSpec, hookimpl


class DupConfig(BaseModel):
    pass


@hookimpl
def vprkit_partitioners():
    return [PartitionerSpec(name="foo", factory="dup_pkg:DupConfig", config=DupConfig,
                            description="Claims a name another plugin registers.")]
