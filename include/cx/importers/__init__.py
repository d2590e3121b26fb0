"""Importers: map public real-world data sets onto the landing-zone contract.

Each importer only renames and reshapes columns into ``<source>/<YYYY-MM-DD>/*.csv``
(CONTRACT.md section 1). Cleaning, deduplication and quarantine stay in the
pipeline, so an imported data set exercises them exactly as a real delivery would.
"""
