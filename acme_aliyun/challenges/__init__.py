"""Challenge solvers: one small interface, many ways to prove control of a name."""
