class FooPartitioner:
    def __init__(self, config):
        self.config = config

    def cell_of(self, east: float, north: float) -> tuple[int, int]:
        size = self.config.cell_size
        return int(east // size), int(north // size)
