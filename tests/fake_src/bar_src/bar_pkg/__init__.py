"""A plugin package installed with pip by the tests, exactly as a user would install one."""

from pydantic import BaseModel, ConfigDict

from vprkit import PartitionerSpec, SpecPlugin


class BarConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    levels: int = 3


class BarPartitioner:
    def __init__(self, config: BarConfig):
        self.config = config

    def fit(self, east, north, heading=None, features=None, *, utm_zone=None):
        raise NotImplementedError("the pip-installed test plugin only has to build")


plugin = SpecPlugin(
    PartitionerSpec(name="bar", factory="bar_pkg:BarPartitioner", config=BarConfig, description="Installed with pip.")
)
