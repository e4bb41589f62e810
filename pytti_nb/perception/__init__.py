"""What the perceptors see: perceptor loading, cutouts, and prompt targets."""
