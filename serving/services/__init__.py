"""Domain services: the rules of each area, apart from HTTP (routers stay thin)."""
