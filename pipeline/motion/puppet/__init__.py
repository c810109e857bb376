"""The puppet motion stage's algorithms: rig fit, parts, layers, mesh, ARAP, rendering."""
