"""The FastAPI serving layer: recommendations and the commerce APIs."""
