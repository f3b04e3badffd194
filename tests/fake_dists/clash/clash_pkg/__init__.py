"""A plugin that re-declares the built-in partitioner name 'dnc'."""

from vprkit import PartitionerSpec, SpecPlugin, VprkitConfig

plugin = SpecPlugin(
    PartitionerSpec(name="dnc", factory="vprkit:VprkitConfig", config=VprkitConfig, description="Claims a vprkit name.")
)
