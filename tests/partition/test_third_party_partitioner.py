"""A third-party partitioner in the fewest lines (docs/plugins.md, "A partitioner"): square cells
in one group, with the grid helpers vprkit's own partitioners use, registered through a spec and
checked with the contract checks vprkit runs over its own partitioners."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from vprkit import PartitionerSpec, SpecPlugin, VprkitConfig, create_partitioner
from vprkit.config import config_to_dict
from vprkit.geometry.grid import count_grid_cells
from vprkit.geometry.locate import GridLocator
from vprkit.geometry.utm import zone_text
from vprkit.partition import Partition, PartitionerBase, TrainingPoints


class SquareConfig(VprkitConfig):
    cell_size: float = Field(50.0, gt=0, description="Cell side in metres.")
    min_images: int = Field(1, ge=1, description="Cells with fewer training images are dropped.")


class SquarePartitioner(PartitionerBase[SquareConfig]):
    """Square cells of ``cell_size`` metres, all in one group; a class's coordinate is its centre."""

    name = "square"
    config_cls = SquareConfig

    def partition(self, points: TrainingPoints) -> Partition:
        size = self.config.cell_size
        cells = np.floor(np.stack([points.east, points.north], axis=1) / size).astype(np.int64)
        grid = count_grid_cells(cells, self.config.min_images)
        return Partition(
            method=self.name,
            config=config_to_dict(self.config),
            locator=GridLocator(size, grid.cells),
            class_keys=grid.cells * size,
            class_coords=(grid.cells + 0.5) * size,
            coord_mode="center",
            group_of_class=np.zeros(len(grid.cells), dtype=np.int64),
            num_groups=1,
            class_counts=grid.counts,
            train_labels=grid.labels,
            dropped_by_reason={"min_images": grid.dropped},
            utm_zone=zone_text(points.utm_zone),
        )


plugin = SpecPlugin(
    PartitionerSpec(
        name="square",
        factory=f"{__name__}:SquarePartitioner",
        config=SquareConfig,
        description="Square cells in one group (the documentation's third-party partitioner)",
    )
)


def test_a_third_party_partitioner_passes_the_contract_checks(install_plugin, tmp_path):
    from vprkit.testing import check_partitioner

    install_plugin(plugin, "square_plugin")
    part = check_partitioner("square", tmp_path)
    assert part.num_groups == 1 and part.num_classes > 1


def test_a_third_party_partitioner_assigns_points_to_their_cells(install_plugin):
    install_plugin(plugin, "square_plugin")
    east, north = np.array([10.0, 60.0, 70.0, 160.0]), np.array([10.0, 10.0, 20.0, 10.0])
    part = create_partitioner("square", cell_size=50.0).fit(east, north, utm_zone="10S")
    labels, _ = part.assign(east, north)
    assert part.num_classes == 3 and labels[1] == labels[2] != labels[0]
    np.testing.assert_allclose(part.class_coords[labels[0]], [25.0, 25.0])
