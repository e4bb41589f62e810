"""The objective: pure loss functions (functional) and the named terms the engine sums (terms)."""
