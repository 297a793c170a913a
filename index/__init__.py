"""swerve.index: embeddings of the training images and the FAISS index that searches them.

A detector asks "which training images look like this generation?": it embeds the image,
queries the index for the nearest training images, and confirms a near-copy in pixel space
(embedding similarity alone is never proof of a copy). This package provides:

::

    Embedder (Protocol)             name, version, dim, embed_images(images) -> (n, dim) unit rows
      OpenClipEmbedder              any open_clip architecture, weights from a local checkpoint
                                    (import from swerve.index.open_clip_embedder: it pulls in torch)
    choose_index(count, dim, ...)   flat | ivf_flat | ivf_pq_refine, by count and memory budget
    VectorIndex                     faiss index: concurrent search, locked add, mmap read, GPU copy
    MetadataStore                   SQLite: id -> uri, caption, sha256, extra
    IndexManifest                   manifest.json: embedder, count, build, index_version, image sizes
    TrainingImageSizes              the training images' sizes: typical short side, most common size
    TrainingIndex                   the bundle folder: build, open (mmap), add, query -> Neighbour

It is a plain library: it must never import faust, aiokafka, swerve.streams or
swerve.detectors, and never fetch weights from a hub unless explicitly allowed.
"""

from __future__ import annotations

from swerve.index.checkpoint import LocalCheckpoint, file_sha256, resolve_checkpoint
from swerve.index.cpu_quota import available_cpus
from swerve.index.embedder import Embedder, TextEmbedder, check_embeddings
from swerve.index.embedding_pass import embed_training_images
from swerve.index.gpu import Placement, gpu_count
from swerve.index.image_loading import read_training_image
from swerve.index.image_sizes import ImageSizeTally, TrainingImageSizes
from swerve.index.index_choice import (
    DEFAULT_MEMORY_BUDGET_MB,
    ChoiceRules,
    IndexChoice,
    choose_index,
    ivf_list_count,
    plan_flat,
    plan_ivf_flat,
    plan_ivf_pq_refine,
)
from swerve.index.index_kind import IndexKind
from swerve.index.manifest import EmbedderIdentity, IndexManifest
from swerve.index.metadata import MetadataStore
from swerve.index.neighbour import Neighbour
from swerve.index.search_settings import SearchSettings
from swerve.index.threads import configure_faiss_threads, set_faiss_threads
from swerve.index.training_image import TrainingImage
from swerve.index.training_index import TrainingIndex, embedder_identity
from swerve.index.training_sources import training_images_from
from swerve.index.vector_index import VectorIndex

__all__ = [
    "DEFAULT_MEMORY_BUDGET_MB",
    "ChoiceRules",
    "Embedder",
    "EmbedderIdentity",
    "ImageSizeTally",
    "IndexChoice",
    "IndexKind",
    "IndexManifest",
    "LocalCheckpoint",
    "MetadataStore",
    "Neighbour",
    "Placement",
    "SearchSettings",
    "TextEmbedder",
    "TrainingImage",
    "TrainingImageSizes",
    "TrainingIndex",
    "VectorIndex",
    "available_cpus",
    "check_embeddings",
    "choose_index",
    "configure_faiss_threads",
    "embed_training_images",
    "embedder_identity",
    "file_sha256",
    "gpu_count",
    "ivf_list_count",
    "plan_flat",
    "plan_ivf_flat",
    "plan_ivf_pq_refine",
    "read_training_image",
    "resolve_checkpoint",
    "set_faiss_threads",
    "training_images_from",
]
