"""A second third-party plugin that also registers the partitioner name 'foo'."""

from vprkit import PartitionerSpec, SpecPlugin, VprkitConfig

plugin = SpecPlugin(
    PartitionerSpec(name="foo", factory="vprkit:VprkitConfig", config=VprkitConfig, description="Claims a used name.")
)
