"""Embeds: a provider's URL alone on its line in a body becomes a facade built from metadata stored here.

providers.py says which URLs (and which endpoints and players) we know; fetching.py reaches them safely;
metadata.py reads their answers into plain values; models.py keeps them (the Embed model, migrated
with the articles app); facades.py builds the HTML readers get. See README.md, "Embeds".
"""
