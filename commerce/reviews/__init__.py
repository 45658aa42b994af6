"""Reviews: writing, moderation, votes, media, ratings, verified purchase and spam."""
