"""What every generator needs: the random stream of its chunk and the static world model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clickintent.synth.behaviour import Behaviour, build_behaviour
from clickintent.synth.catalog import Catalog, build_catalog
from clickintent.synth.queries import QueryVocabulary, build_query_vocabulary


@dataclass(frozen=True)
class WorldModel:
    """Static parts of the world, the same for every chunk of people."""

    seed: int
    catalog: Catalog
    behaviour: Behaviour
    queries: QueryVocabulary


def build_world_model(seed: int) -> WorldModel:
    catalog = build_catalog()
    return WorldModel(seed=seed, catalog=catalog, behaviour=build_behaviour(catalog), queries=build_query_vocabulary(seed))


@dataclass
class ChunkContext:
    model: WorldModel
    rng: np.random.Generator

    @property
    def catalog(self) -> Catalog:
        return self.model.catalog

    @property
    def behaviour(self) -> Behaviour:
        return self.model.behaviour
