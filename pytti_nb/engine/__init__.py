"""The render engine: the clock, the loss terms' driver, the optimisation loop and its state."""
