"""Wishlists: lists, sharing, comparison and price-drop alerts."""
