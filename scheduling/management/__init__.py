"""Management commands of the scheduling app."""
