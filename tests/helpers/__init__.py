"""What several test modules share (graphs, configs, reference formulas, the sync recorder).

Test modules import from here, never from each other.
"""
