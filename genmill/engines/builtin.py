"""The models that ship with genmill and run on a plain CPU with no weights."""

from genmill.engines import image, mesh, video

MODELS = [*image.MODELS, *video.MODELS, *mesh.MODELS]
