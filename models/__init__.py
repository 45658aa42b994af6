"""Recommender algorithms, evaluation, tuning and the MLflow registry (pure Python).

Entry points: ``models.training.train_and_evaluate`` (fit, evaluate, tune) and
``models.registry`` (log to MLflow, register, champion gate). No Dagster, no HTTP.
"""
