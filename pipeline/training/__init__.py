"""Training motion models on a category's own videos (`animate-products train`)."""
