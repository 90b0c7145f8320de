"""Simulation side: models in motion (reference motions, rollouts, signals from the simulation)."""
