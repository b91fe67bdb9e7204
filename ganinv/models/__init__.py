"""Generator architectures and checkpoint loaders."""
