"""The predictive-maintenance model on pandas and scikit-learn: features, labels, the training set,
the classifier, the registry, plots, and the train / evaluate workflow."""
