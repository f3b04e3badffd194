class FooPartitioner:
    def __init__(self, config):
        self.config = config

    def cell_of(self, east: float, north: float) -> tuple[int, int]:
        size = self.config.cell_size
        return int(east // size), int(north // size)

    def fit(self, east, north, heading=None, features=None, *, utm_zone=None):
        """What vprkit requires of a partitioner (the contract tests only need cell_of)."""
        raise NotImplementedError("the toy partitioner of the plugin tests does not fit partitions")
