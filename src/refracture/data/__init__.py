"""Loading, validation, derivation and simulation of cohort data."""
