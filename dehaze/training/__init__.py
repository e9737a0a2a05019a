"""Training room of the package: haze synthesis, datasets, losses, training, evaluation and data preparation.

Inference (`dehaze`) never imports from here; these modules may use packages that only
training needs (scipy, h5py, the HED weights).
"""
