"""Demo stacks: thin compositions of the patterns, each deployable as it stands."""

from .building_blocks_demo import BuildingBlocksDemo

#: Every demo stack the app synthesizes, by name.
DEMO_STACKS = {
    "BuildingBlocksDemo": BuildingBlocksDemo,
}

__all__ = ["DEMO_STACKS", "BuildingBlocksDemo"]
