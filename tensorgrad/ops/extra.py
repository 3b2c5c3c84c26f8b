"""More primitives for tensorgrad.numpy."""
