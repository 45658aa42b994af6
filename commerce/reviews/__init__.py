"""Reviews: writing, moderation, votes, media, ratings, verified purchase and spam."""

from commerce.reviews.cache import install_session_hooks

install_session_hooks()
