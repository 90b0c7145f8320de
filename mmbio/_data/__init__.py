"""Data shipped with the package: reference_data/ and validation/ are mapped here when installed."""
