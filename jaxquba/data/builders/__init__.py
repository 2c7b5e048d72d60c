"""tfds builders for evaluation sets outside the tfds catalogue (model-vs-human, ImageNet-9 backgrounds).

They give images to tfds already encoded and write array_record, so preparing and reading need no TensorFlow.
Importing this package registers the builders with tfds (``model_vs_human/<set>``, ``imagenet9/<variation>``).
"""

from jaxquba.data.builders import imagenet9, model_vs_human  # noqa: F401  (import registers the builders)
