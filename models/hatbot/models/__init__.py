"""Training pipeline: read a corpus, train word vectors, build the Annoy index, publish a model."""
