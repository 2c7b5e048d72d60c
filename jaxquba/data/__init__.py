"""Data sources (tfds via grain, image folders, model-vs-human and ImageNet-9 builders) and host preprocessing."""
