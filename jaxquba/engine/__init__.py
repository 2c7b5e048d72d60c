"""The engine: one classifier's per-example outputs of many views of a dataset, computed in one jitted, sharded step
per batch (:mod:`~jaxquba.engine.step`: the step and the mesh), with the small per-example output heads each view
needs (:mod:`~jaxquba.engine.heads`: the head registry), chunk by chunk into the results store so a killed run
resumes (:mod:`~jaxquba.engine.chunked`). The names below are the engine's interface for the layers above it.
"""

from jaxquba.engine.chunked import ChunkPlan, chunk_ranges, evaluate, load_outputs, plan_chunks
from jaxquba.engine.heads import HEADS, HeadInputs, ViewRequest, register_head
from jaxquba.engine.step import DATA_AXIS, MODEL_AXIS, Engine, Outputs, Reader, make_mesh, make_step

__all__ = ["ChunkPlan", "chunk_ranges", "evaluate", "load_outputs", "plan_chunks", "HEADS", "HeadInputs", "ViewRequest",
           "register_head", "DATA_AXIS", "MODEL_AXIS", "Engine", "Outputs", "Reader", "make_mesh", "make_step"]
